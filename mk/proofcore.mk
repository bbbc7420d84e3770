# ProofCore: Groth16 setup artifacts (cached by circuit hash in .cache/artifacts) and generated verifiers.
# A cold build takes ~20 s and ~1 GB for both circuits (a warm one under a second), so `make setup` runs it.
ARTIFACTS_DIR ?= $(CURDIR)/.cache/artifacts
# every target (tests, the demo, the services they start) uses this machine's one setup cache
export AX0N_ARTIFACTS_DIR := $(ARTIFACTS_DIR)
VERIFIERS_DIR := contracts/src/verifiers

# The devnet's public-weight MLP takes its keys from a three-party phase-2 ceremony (one machine: docs/proofs.md),
# run once per circuit change (~2 min cold, phase 1 cached by power); the other circuits keep a single-party setup.
CEREMONY_STAMP := $(ARTIFACTS_DIR)/.ceremony-mlp-public
$(CEREMONY_STAMP): tools/ceremony/node_modules/.installed $(VENV)/.installed $(wildcard ax0n/zk/circuits/*.circom) $(wildcard ax0n/zk/*.py)
	AX0N_ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(BIN)/python -m ax0n.zk ceremony run --circuit mlp-public > /dev/null
	touch $@

.PHONY: artifacts
artifacts: $(VENV)/.installed $(CEREMONY_STAMP)  ## build Groth16 setup artifacts (single-party devnet setup where no ceremony ran) and Solidity verifiers
	AX0N_ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(BIN)/python -m ax0n.zk artifacts --verifiers $(VERIFIERS_DIR) > /dev/null

SETUP_EXTRA += artifacts

# The phase-2 ceremony tools (snarkjs, circom 2 as WebAssembly), pinned in tools/ceremony/package.json.
tools/ceremony/node_modules/.installed: tools/ceremony/package.json tools/ceremony/package-lock.json
	cd tools/ceremony && npm ci --no-audit --no-fund && touch node_modules/.installed

.PHONY: ceremony-deps ceremony
ceremony-deps: tools/ceremony/node_modules/.installed  ## install snarkjs and circom2 for the Groth16 ceremony
SETUP_EXTRA += ceremony-deps
ceremony: ceremony-deps $(VENV)/.installed  ## run the devnet's public-weight MLP ceremony again (three parties, one machine), imported
	$(BIN)/python -m ax0n.zk ceremony run --circuit mlp-public --verifiers $(VERIFIERS_DIR)
	touch $(CEREMONY_STAMP)
