# Contracts: npm-pinned Foundry (forge/anvil/cast), solc-js behind contracts/bin/solc, OpenZeppelin 5.
FORGE := contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
SETUP_EXTRA += contracts/node_modules/.installed contracts/out/.built
# Each TEST_EXTRA entry ends in `|| exit 1;` so fragments compose on one recipe line.
TEST_EXTRA += (cd contracts && $(CURDIR)/$(FORGE) test --offline) || exit 1;

.PHONY: contracts contracts-test

contracts/node_modules/.installed: contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

contracts/out/.built: contracts/node_modules/.installed contracts/foundry.toml $(shell find contracts/src contracts/test -name '*.sol' 2>/dev/null)
	cd contracts && $(CURDIR)/$(FORGE) build --offline
	touch $@

contracts: contracts/out/.built  ## build the Solidity contracts (forge via solc-js, offline)

contracts-test: contracts/out/.built  ## run the forge tests
	cd contracts && $(CURDIR)/$(FORGE) test --offline
