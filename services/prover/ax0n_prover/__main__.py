"""Entry point: `ax0n-prover --help`."""

from ax0n.runtime import service
from ax0n_prover.server import build
from ax0n_prover.settings import ProverSettings


def main() -> None:
    service.main("prover", build, ProverSettings)


if __name__ == "__main__":
    main()
