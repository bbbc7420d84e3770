# SDKs: the TypeScript SDK (sdk/js, @ax0n/sdk) is installed from its lockfile and built with the pinned tsc;
# its node tests start a real router (python -m tests.sdk.serve) and run after pytest.
SETUP_EXTRA += sdk/js/dist/.built
# Each TEST_EXTRA entry ends in `|| exit 1;` so fragments compose on one recipe line.
TEST_EXTRA += (cd sdk/js && npm test) || exit 1;

.PHONY: sdk-js sdk-js-test

sdk/js/node_modules/.installed: sdk/js/package.json sdk/js/package-lock.json
	cd sdk/js && npm ci --no-audit --no-fund
	touch $@

sdk/js/dist/.built: sdk/js/node_modules/.installed sdk/js/tsconfig.json $(wildcard sdk/js/src/*.ts)
	cd sdk/js && npm run build
	touch $@

sdk-js: sdk/js/dist/.built  ## build the TypeScript SDK (tsc)

sdk-js-test: sdk/js/dist/.built  ## run the TypeScript SDK's node tests against a real router
	cd sdk/js && npm test
