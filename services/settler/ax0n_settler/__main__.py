"""Entry point: `ax0n-settler --help`."""

from ax0n import service
from ax0n_settler.server import build


def main() -> None:
    service.main("settler", build)


if __name__ == "__main__":
    main()
