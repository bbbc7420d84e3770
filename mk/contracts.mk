# Contracts: npm-pinned Foundry (forge/anvil/cast), solc-js behind contracts/bin/solc, OpenZeppelin 5.
# Settlement verifies ProofCore's batch circuit through the generated contracts/src/verifiers/Batch16Verifier.sol
# (`artifacts`, mk/proofcore.mk), and the forge fixtures are proofs under that same per-machine setup, so both are
# made before forge builds. Both are git-ignored.
FORGE := contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
SETUP_EXTRA += contracts/node_modules/.installed contracts-fixtures contracts/out/.built
# Each TEST_EXTRA entry ends in `|| exit 1;` so fragments compose on one recipe line.
TEST_EXTRA += (cd contracts && $(CURDIR)/$(FORGE) test --offline) || exit 1;

.PHONY: contracts contracts-test contracts-fixtures

contracts/node_modules/.installed: contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Proves the fixture batches (~20 s) only when the batch16 verifying key or the script changed.
contracts-fixtures: artifacts  ## forge fixtures: real batch proofs under this machine's setup
	AX0N_ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(BIN)/python contracts/script/batch_fixtures.py

# The ABIs and bytecode of src/ are copied into the core package (ax0n/chain/artifacts): installed code reads those.
contracts/out/.built: contracts/node_modules/.installed contracts/foundry.toml $(shell find contracts/src contracts/test -name '*.sol' 2>/dev/null) | contracts-fixtures
	cd contracts && $(CURDIR)/$(FORGE) build --offline
	$(BIN)/python contracts/script/export_artifacts.py
	touch $@

contracts: contracts/out/.built  ## build the Solidity contracts (forge via solc-js, offline)

contracts-test: contracts/out/.built  ## run the forge tests
	cd contracts && $(CURDIR)/$(FORGE) test --offline
