"""Entry point: `ax0n-router --help`."""

from ax0n import service
from ax0n_router.server import build


def main() -> None:
    service.main("router", build)


if __name__ == "__main__":
    main()
