"""`python -m ax0n.zk artifacts [--verifiers DIR]`: build cached setup artifacts (every circuit, and the devnet
model's public-weight circuit) and export their Solidity verifiers."""

from __future__ import annotations

import argparse
from pathlib import Path

from ax0n.zk import artifacts, ceremony, public
from ax0n.zk.mlp import devnet_model


def _spec(name: str) -> artifacts.CircuitSpec:
    """A circuit by name: `mlp`, `batch16`, or `mlp-public` (the devnet model's public-weight circuit)."""
    specs = {**artifacts.CIRCUITS, "mlp-public": public.spec(devnet_model())}
    if name not in specs:
        raise SystemExit(f"unknown circuit {name!r}; one of {', '.join(specs)}")
    return specs[name]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ax0n.zk")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("artifacts", help="build (or reuse) setup artifacts for every circuit")
    build.add_argument("--verifiers", type=Path, help="also write the generated Solidity verifiers here")
    cer = sub.add_parser("ceremony", help="multi-party Groth16 phase-2 ceremony (snarkjs; make ceremony-deps)")
    steps = cer.add_subparsers(dest="step", required=True)
    run = steps.add_parser("run", help="run a ceremony here (the contributors share this machine), verify, import")
    run.add_argument("--circuit", default="mlp-public", help="mlp, batch16 or mlp-public")
    run.add_argument("--contributors", default="alice,bob,carol", help="comma-separated contributor names")
    run.add_argument("--no-import", action="store_true", help="verify only; keep the current artifacts")
    run.add_argument("--verifiers", type=Path, help="also write the Solidity verifier here after importing")
    con = steps.add_parser("contribute", help="add one contribution to a phase-2 key (a remote contributor)")
    con.add_argument("zkey_in", type=Path)
    con.add_argument("zkey_out", type=Path)
    con.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    if args.command == "ceremony":
        if args.step == "contribute":
            print(f"contribution hash: {ceremony.contribute(args.zkey_in, args.zkey_out, args.name)}")
            return
        spec = _spec(args.circuit)
        t = ceremony.run(spec, [c for c in args.contributors.split(",") if c])
        print(
            f"{spec.name}: phase 1 2^{t.power} {t.phase1_s:.1f} s (cached by power), phase 2 with "
            f"{len(t.contributions)} contributors {t.phase2_s:.1f} s; transcript verified: {t.zkey}"
        )
        for name, digest in t.contributions:
            print(f"  {name}: {digest}")
        if not args.no_import:
            art = ceremony.import_artifacts(spec, t)
            print(f"imported as {art.path} (vk sha256 {art.vk_hash.hex()})")
            if args.verifiers:
                artifacts.export_verifiers(args.verifiers, [spec])
        return
    specs = [*artifacts.CIRCUITS.values(), public.spec(devnet_model())]  # with the devnet's public-weight model
    for spec in specs:
        art = artifacts.load(spec)
        print(f"{spec.name}: {art.path} (vk sha256 {art.vk_hash.hex()}, UNSAFE single-party setup)")
    if args.verifiers:
        for path in artifacts.export_verifiers(args.verifiers, specs):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
