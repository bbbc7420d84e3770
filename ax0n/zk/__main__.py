"""`python -m ax0n.zk artifacts [--verifiers DIR]`: build cached setup artifacts (every circuit, and the devnet
model's public-weight circuit) and export their Solidity verifiers."""

from __future__ import annotations

import argparse
from pathlib import Path

from ax0n.zk import artifacts, public
from ax0n.zk.mlp import devnet_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ax0n.zk")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("artifacts", help="build (or reuse) setup artifacts for every circuit")
    build.add_argument("--verifiers", type=Path, help="also write the generated Solidity verifiers here")
    args = parser.parse_args(argv)
    specs = [*artifacts.CIRCUITS.values(), public.spec(devnet_model())]  # with the devnet's public-weight model
    for spec in specs:
        art = artifacts.load(spec)
        print(f"{spec.name}: {art.path} (vk sha256 {art.vk_hash.hex()}, UNSAFE single-party setup)")
    if args.verifiers:
        for path in artifacts.export_verifiers(args.verifiers, specs):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
