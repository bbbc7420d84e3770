"""Entry point: `ax0n-executor` serves; `ax0n-executor commit PATH` prints a model commitment;
`ax0n-executor fetch-model URL DIR --commitment 0x…` fetches a committed model directory;
`ax0n-executor build-tiny DIR` / `convert-smollm2 DIR` write the project's two models."""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

from tqdm import tqdm

from ax0n.spec import commitment

TOOLS = ("commit", "fetch-model", "build-tiny", "convert-smollm2")


def tools(argv: list[str]) -> int:
    """The model tools; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ax0n-executor")
    sub = parser.add_subparsers(dest="tool", required=True)
    c = sub.add_parser("commit", help="print the Merkle commitment (0x-hex) of a model directory")
    c.add_argument("path", type=Path)
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    f = sub.add_parser(
        "fetch-model", help="fetch a model directory packed as a tar archive; keep it only with the given commitment"
    )
    f.add_argument("url", help="http(s):// or file:// URL of a .tar, .tar.gz, .tar.xz or .tar.bz2 archive")
    f.add_argument("out", type=Path, help="the model directory to create (its parent must exist)")
    f.add_argument("--commitment", required=True, help="the registered commitment, 0x + 64 hex digits")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
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
        if args.tool == "fetch-model":
            return _fetch(args)
        from ax0n_executor import models  # torch is only needed here

        out = models.build_tiny(args.out) if args.tool == "build-tiny" else models.convert_smollm2(args.out)
        print(out)
        return 0
    except (commitment.CommitmentError, OSError, tarfile.TarError, ValueError) as exc:
        print(f"ax0n-executor {args.tool}: {exc}", file=sys.stderr)
        return 2


def _fetch(args: argparse.Namespace) -> int:
    from ax0n_executor.fetch import fetch_model

    try:
        expected = bytes.fromhex(args.commitment.removeprefix("0x"))
    except ValueError:
        expected = b""
    if len(expected) != 32:
        raise ValueError(f"bad --commitment {args.commitment!r}: expected 0x + 64 hex digits")
    with tqdm(unit="B", unit_scale=True, desc="fetching", disable=args.quiet) as bar:

        def progress(n: int, total: int) -> None:
            bar.total = total or None
            bar.update(n)

        fetched = fetch_model(args.url, args.out, expected, progress)
    print(f"{args.out}: {'fetched' if fetched else 'already present'}, commitment {args.commitment}")
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in TOOLS:
        sys.exit(tools(sys.argv[1:]))
    from ax0n.runtime import service
    from ax0n_executor.server import ExecutorSettings, build

    service.main("executor", build, ExecutorSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
