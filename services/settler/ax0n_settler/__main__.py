"""Entry point: `ax0n-settler --help`."""

from ax0n.runtime import service
from ax0n_settler.server import build
from ax0n_settler.settings import SettlerSettings


def main() -> None:
    service.main("settler", build, SettlerSettings)


if __name__ == "__main__":
    main()
