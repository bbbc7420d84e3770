# ProofCore: Groth16 setup artifacts (cached by circuit hash in .cache/artifacts) and generated verifiers.
# A cold build takes ~20 s and ~1 GB for both circuits (a warm one under a second), so `make setup` runs it.
ARTIFACTS_DIR ?= $(CURDIR)/.cache/artifacts
# every target (tests, the demo, the services they start) uses this machine's one setup cache
export AX0N_ARTIFACTS_DIR := $(ARTIFACTS_DIR)
VERIFIERS_DIR := contracts/src/verifiers

.PHONY: artifacts
artifacts: $(VENV)/.installed  ## build Groth16 setup artifacts (UNSAFE single-party devnet setup) and Solidity verifiers
	AX0N_ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(BIN)/python -m ax0n.zk artifacts --verifiers $(VERIFIERS_DIR) > /dev/null

SETUP_EXTRA += artifacts
