"""Detection curve of the LLM tier: how small a change to the served model the fingerprint re-check still catches.

For each model (the seeded tiny model; SmolLM2-135M-Instruct too unless `--quick`), an attacker serves a changed
copy and signs receipts that claim the registered model and fp32 reference; the real verifier
(`ax0n.llm.verify.verify`, fp32 profile) re-executes each on the registered copy. Cells:

- one tensor perturbed, W + s·rms(W)·N(0, 1), for s in 1e-2 … 1e-5 and each tensor kind: embedding, attention
  (q/k/v/o of a random layer), MLP (gate/up/down of a random layer), norms (a random RMSNorm scale), LM head (both
  models tie it to the embedding, so this is that one tensor, drawn afresh); each receipt draws its own tensor;
- the LM head untied and perturbed alone (not a tensor of the committed checkpoint: it changes the logits only,
  which the hidden-state fingerprint cannot see; listed, never counted in the last line);
- whole-model weight quantization: int8 (symmetric, per output row) and bf16 rounding of every weight; bf16 compute;
- honest receipts (nothing changed), the baseline: their rate is the false-positive rate.

Prints the detection rate of each cell; the last line is the smallest perturbation size detected in ≥ 99 % of
receipts for every tensor kind of every model run, beside the honest baseline's false positives.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from ax0n_executor.executor import Executor
from ax0n_executor.models import build_tiny

from ax0n.llm.engine import Engine
from ax0n.llm.inputs import decoding, prompt_ids
from ax0n.llm.verify import verify
from ax0n.spec import request as requests
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.v1 import types_pb2

SMOLLM2 = Path(__file__).resolve().parents[1] / ".cache" / "models" / "smollm2-135m-instruct"
SIZES = (1e-2, 1e-3, 1e-4, 1e-5)
KINDS = ("embedding", "attention", "MLP", "norms", "LM head")
NODE_KEY, CLIENT_KEY = "0x" + "42" * 32, "0x" + "17" * 32
PROMPTS = [
    "The quick brown fox",
    "Verifiable inference on a mesh of nodes.",
    "def fib(n):\n    return",
    "Once upon a time, in a land far away, there lived a dragon who loved arithmetic.",
    "SELECT * FROM receipts WHERE",
    "Name three primary colors.",
    "Write a haiku about trust.",
    "1, 2, 3, 4, 5,",
    "What is the capital of France?",
    "Tokens are equal across processes; hidden states move by 1e-5.",
    "Σ (x_i − μ)² / n",
    "Explain why the sky is blue.",
]


def request(prompt: str, nonce: int, max_tokens: int, chat: bool) -> types_pb2.InferenceRequest:
    """A client-signed greedy request (one chat message when `chat`)."""
    req = types_pb2.InferenceRequest(
        model_id="m",
        prompt="" if chat else prompt,
        messages=[types_pb2.ChatMessage(role="user", content=prompt)] if chat else [],
        max_tokens=max_tokens,
        fee_cap="1000000000000000000",
        nonce=nonce,
        deadline=2_000_000_000,
        chain_id=DEVNET_DEPLOYMENT.chain_id,
        settlement=DEVNET_DEPLOYMENT.settlement,
        sampling=types_pb2.SamplingParams(greedy=True),
    )
    return requests.sign(req, CLIENT_KEY)


def tensors(engine: Engine, kind: str) -> list[str]:
    """The parameter names of one tensor kind (Llama layout)."""
    names = [n for n, _ in engine.model.named_parameters()]
    match kind:
        case "embedding" | "LM head":  # tied in both shipped models: one tensor
            return ["model.embed_tokens.weight"]
        case "attention":
            return [n for n in names if ".self_attn." in n]
        case "MLP":
            return [n for n in names if ".mlp." in n]
        case "norms":
            return [n for n in names if n.endswith("norm.weight")]
    raise ValueError(kind)


@contextmanager
def perturbed(engine: Engine, name: str, rel: float, seed: int) -> Iterator[None]:
    """`engine` with tensor `name` changed by rel·rms·N(0, 1), restored afterwards."""
    param = dict(engine.model.named_parameters())[name]
    saved = param.detach().clone()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        param.add_(torch.randn(param.shape, generator=gen) * rel * saved.pow(2).mean().sqrt())
    try:
        yield
    finally:
        with torch.no_grad():
            param.copy_(saved)


@contextmanager
def untied_head(engine: Engine, rel: float, seed: int) -> Iterator[None]:
    """`engine` with its own LM head (a perturbed copy of the tied embedding), tied again afterwards."""
    tied = engine.model.lm_head.weight
    own = torch.nn.Parameter(tied.detach().clone())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        own.add_(torch.randn(own.shape, generator=gen) * rel * own.pow(2).mean().sqrt())
    engine.model.lm_head.weight = own
    try:
        yield
    finally:
        engine.model.lm_head.weight = tied


def quantized(model_dir: Path, how: str) -> Engine:
    """An fp32 engine whose weights are rounded: int8 per output row (2-D weights) or bf16 (all)."""
    engine = Engine(model_dir)
    with torch.no_grad():
        for p in engine.model.parameters():
            if how == "bf16":
                p.copy_(p.to(torch.bfloat16).float())
            elif p.dim() == 2:
                scale = p.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
                p.copy_((p / scale).round().clamp(-127, 127) * scale)
    return engine


def detected(attacker: Engine, registered: Engine, req: types_pb2.InferenceRequest) -> bool:
    """Whether the verifier rejects a receipt `attacker` produced while claiming `registered` and its fp32 reference."""
    gen = attacker.generate(prompt_ids(registered, req), decoding(req), bytes(req.request_id))
    liar = copy.copy(attacker)
    liar.commitment, liar.dtype = registered.commitment, registered.dtype
    gen.text = registered.decode(gen.token_ids)
    receipt = Executor({"m": liar}, NODE_KEY).receipt(req, liar, gen, batch_size=1)
    return not verify(registered, req, receipt, gen.text).valid


def rate(attack: Callable[[int], bool], n: int) -> tuple[int, int]:
    """(receipts detected, receipts) over `n` receipts."""
    return sum(attack(i) for i in range(n)), n


def sweep(model_dir: Path, n: int, max_tokens: int, chat: bool) -> dict[str, tuple[int, int]]:
    """Detection counts of every cell for one model, `n` receipts each."""
    registered, attacker = Engine(model_dir), Engine(model_dir)
    reqs = [request(PROMPTS[i % len(PROMPTS)], i, max_tokens, chat) for i in range(n)]
    rng = random.Random(0)
    out: dict[str, tuple[int, int]] = {}

    def tensor_attack(kind: str, rel: float) -> Callable[[int], bool]:
        def one(i: int) -> bool:
            with perturbed(attacker, rng.choice(tensors(attacker, kind)), rel, seed=i):
                return detected(attacker, registered, reqs[i])

        return one

    def head_attack(rel: float) -> Callable[[int], bool]:
        def one(i: int) -> bool:
            with untied_head(attacker, rel, seed=i):
                return detected(attacker, registered, reqs[i])

        return one

    out["honest (false positives)"] = rate(lambda i: detected(registered, registered, reqs[i]), n)
    for kind in KINDS:
        for rel in SIZES:
            out[f"{kind} {rel:g}"] = rate(tensor_attack(kind, rel), n)
    for rel in SIZES:
        out[f"LM head untied {rel:g}"] = rate(head_attack(rel), n)
    for how in ("int8", "bf16"):
        q = quantized(model_dir, how)
        out[f"{how} weights"] = rate(lambda i, q=q: detected(q, registered, reqs[i]), n)
    bf16 = Engine(model_dir, dtype="bfloat16")
    out["bf16 compute"] = rate(lambda i: detected(bf16, registered, reqs[i]), n)
    return out


def table(name: str, counts: dict[str, tuple[int, int]]) -> None:
    """One model's detection rates: tensor kinds × sizes, then the whole-model cells."""
    pct = {k: 100.0 * d / t for k, (d, t) in counts.items()}
    n = next(iter(counts.values()))[1]
    print(f"\n{name}: detection rate, {n} receipts per cell")
    print(f"{'tensor kind':<26}" + "".join(f"{s:>10g}" for s in SIZES))
    for kind in (*KINDS, "LM head untied"):
        print(f"{kind:<26}" + "".join(f"{pct[f'{kind} {s:g}']:>9.0f}%" for s in SIZES))
    for label in ("int8 weights", "bf16 weights", "bf16 compute", "honest (false positives)"):
        print(f"{label:<26}{pct[label]:>9.0f}%")


def smallest(all_counts: dict[str, dict[str, tuple[int, int]]]) -> float | None:
    """The smallest size whose every tensor kind (LM head untied aside) is detected in ≥ 99 % on every model, such
    that every larger size is too."""
    best = None
    for rel in SIZES:
        if all(c[f"{k} {rel:g}"][0] >= 0.99 * c[f"{k} {rel:g}"][1] for c in all_counts.values() for k in KINDS):
            best = rel
        else:
            break
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny model only, 16 receipts per cell")
    parser.add_argument("--receipts", type=int, help="tiny model: receipts per cell (default 16 quick, else 100)")
    parser.add_argument("--smollm2-receipts", type=int, default=20, help="SmolLM2: receipts per cell (default 20)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    all_counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = [("tiny", build_tiny(Path(tmp) / "tiny"), args.receipts or (16 if args.quick else 100), 32, False)]
        if not args.quick:
            if not (SMOLLM2 / "config.json").is_file():
                raise SystemExit("SmolLM2 not converted: run `make executor-models` (or pass --quick)")
            models.append(("SmolLM2-135M-Instruct", SMOLLM2, args.smollm2_receipts, 32, True))
        for name, model_dir, n, max_tokens, chat in models:
            all_counts[name] = sweep(model_dir, n, max_tokens, chat)
            table(name, all_counts[name])
    print(f"\n({time.perf_counter() - started:.0f} s; each receipt {models[0][3]} greedy tokens, verified in fp32)")
    best = smallest(all_counts)
    shown = f"{best:g} relative to the tensor's rms" if best is not None else f"none of {SIZES}"
    honest = [c["honest (false positives)"] for c in all_counts.values()]
    baseline = f"honest baseline flagged {sum(d for d, _ in honest)} of {sum(t for _, t in honest)}"
    print(
        f"smallest single-tensor perturbation detected in >= 99% of receipts ({', '.join(all_counts)}): {shown}; {baseline}"
    )


if __name__ == "__main__":
    main()
