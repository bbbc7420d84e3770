"""Entry point: `ax0n-executor --help`."""

from ax0n import service
from ax0n_executor.server import build


def main() -> None:
    service.main("executor", build)


if __name__ == "__main__":
    main()
