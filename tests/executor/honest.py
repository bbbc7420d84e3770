"""An honest executor process for the false-positive matrix: serves the tiny model under this process's instruction set
(`ATEN_CPU_CAPABILITY`, read by torch at import) in every configuration asked, and prints one JSON line per receipt."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from ax0n_executor.executor import Executor

from ax0n.llm.engine import Engine
from tests.executor.conftest import NODE_KEY, make_request


def requests_for(prompts: list[str], first_nonce: int) -> list:
    """Greedy requests, every third sampled (temperature 0.8, top-p 0.9) with the counter-based RNG."""
    return [
        make_request(
            p, max_tokens=40, nonce=first_nonce + i, greedy=i % 3 != 1, temperature=0.8 * (i % 3 == 1), top_p=0.9
        )
        for i, p in enumerate(prompts)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--prompts", required=True, help="JSON list of prompts")
    parser.add_argument("--configs", required=True, help="JSON list of [threads, kv_cache, batched]")
    parser.add_argument("--nonce", type=int, default=0)
    args = parser.parse_args()
    engine = Engine(args.model_dir)
    executor = Executor({"tiny": engine}, NODE_KEY, prices={"tiny": 1000})
    reqs = requests_for(json.loads(args.prompts), args.nonce)
    for threads, kv, batched in json.loads(args.configs):
        torch.set_num_threads(threads)
        engine.kv_cache = kv
        outs = executor.execute_batch(reqs) if batched else [executor.execute(r) for r in reqs]
        for req, (receipt, output) in zip(reqs, outs, strict=True):
            line = {"config": [threads, kv, batched], "isa": receipt.reference.isa, "output": output}
            line |= {"request": req.SerializeToString().hex(), "receipt": receipt.SerializeToString().hex()}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
