"""Entry point: `ax0n-router --help`."""

from ax0n.runtime import service
from ax0n_router.server import build
from ax0n_router.settings import RouterSettings


def main() -> None:
    service.main("router", build, RouterSettings)


if __name__ == "__main__":
    main()
