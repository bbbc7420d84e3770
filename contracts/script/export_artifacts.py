"""Copy the ABI and bytecode of every contract under src/ from forge's out/ into the core package
(ax0n/chain/artifacts/<Name>.json), so installed code never reads the checkout. Run by `make contracts`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[1]
DEST = CONTRACTS.parent / "ax0n" / "chain" / "artifacts"


def main() -> None:
    DEST.mkdir(parents=True, exist_ok=True)
    exported = set()
    for path in sorted((CONTRACTS / "out").glob("*.sol/*.json")):
        data = json.loads(path.read_text())
        target = data.get("metadata", {}).get("settings", {}).get("compilationTarget", {})
        if not any(source.startswith("src/") for source in target) or not data.get("bytecode", {}).get("object"):
            continue
        name = path.stem
        doc = {"abi": data["abi"], "bytecode": {"object": data["bytecode"]["object"]}}
        (DEST / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")))
        exported.add(name)
    for stale in DEST.glob("*.json"):
        if stale.stem not in exported:
            stale.unlink()
    print(f"exported {len(exported)} contract artifacts to {DEST.relative_to(CONTRACTS.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
