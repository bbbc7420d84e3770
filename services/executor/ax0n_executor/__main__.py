"""Entry point: `ax0n-executor` serves; `ax0n-executor commit PATH` prints a model commitment;
`ax0n-executor build-tiny DIR` / `convert-smollm2 DIR` write the project's two models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ax0n.spec import commitment

TOOLS = ("commit", "build-tiny", "convert-smollm2")


def tools(argv: list[str]) -> int:
    """The model tools; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ax0n-executor")
    sub = parser.add_subparsers(dest="tool", required=True)
    c = sub.add_parser("commit", help="print the Merkle commitment (0x-hex) of a model directory")
    c.add_argument("path", type=Path)
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("build-tiny", help="write the seeded ~10M-parameter test model").add_argument("out", type=Path)
    sub.add_parser("convert-smollm2", help="dequantize SmolLM2-135M-Instruct into a directory").add_argument(
        "out", type=Path
    )
    args = parser.parse_args(argv)
    try:
        if args.tool == "commit":
            total = commitment.committed_bytes(args.path)
            with tqdm(total=total, unit="B", unit_scale=True, desc="hashing", disable=args.quiet) as bar:
                root = commitment.commit(args.path, bar.update)
            print("0x" + root.hex())
            return 0
        from ax0n_executor import models  # torch is only needed here

        out = models.build_tiny(args.out) if args.tool == "build-tiny" else models.convert_smollm2(args.out)
        print(out)
        return 0
    except (commitment.CommitmentError, FileNotFoundError, ValueError) as exc:
        print(f"ax0n-executor {args.tool}: {exc}", file=sys.stderr)
        return 2


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in TOOLS:
        sys.exit(tools(sys.argv[1:]))
    from ax0n.runtime import service
    from ax0n_executor.server import ExecutorSettings, build

    service.main("executor", build, ExecutorSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
