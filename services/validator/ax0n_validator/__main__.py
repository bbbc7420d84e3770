"""Entry point: `ax0n-validator --help`."""

from ax0n.runtime import service
from ax0n_validator.server import ValidatorSettings, build


def main() -> None:
    service.main("validator", build, ValidatorSettings)


if __name__ == "__main__":
    main()
