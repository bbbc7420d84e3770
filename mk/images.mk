# Images: the five service images built with podman from docker/ (ax0n_tools.images, docs/deploy.md). podman, runc
# and mmdebstrap come from Debian's packages, installed when missing and running as root. `make test` builds them
# and runs the devnet from them after the default suite (tests/deploy/test_images.py, ~15 min cold).
.PHONY: images images-deps

images-deps:  ## install podman, runc and mmdebstrap (apt, when missing and root)
	@{ command -v podman && command -v runc && command -v mmdebstrap; } >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq \
	       && apt-get install -y -qq podman runc mmdebstrap >/dev/null; } \
	  || { echo "podman, runc and mmdebstrap are required (Debian/Ubuntu: sudo apt-get install podman runc mmdebstrap)"; exit 1; }

images: setup images-deps  ## build every service image with podman
	$(BIN)/ax0n images build

TEST_EXTRA += $(MAKE) --no-print-directory images-deps && $(BIN)/pytest -q -m slow tests/deploy/test_images.py || exit 1;
