"""Deterministic execution of one committed model: generation (batched or not, KV cache or not) and prefill.

The hidden state kept for generated token i is the final-norm output at the position that produced it
(the last prompt position for i = 0); `prefill(prompt, tokens)` recomputes exactly those rows in one pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from ax0n.llm.errors import ContextOverflow, InvalidRequest, check_utf8
from ax0n.llm.sampling import Decoding, select
from ax0n.spec import commitment
from ax0n.v1 import types_pb2

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
OnText = Callable[[int, str, list[int]], object]  # (row, text delta, new token ids)


@dataclass(slots=True)
class Generation:
    """One finished generation."""

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    finish_reason: str  # "stop" (end-of-sequence token or stop string) or "length" (max_tokens or context)
    hidden: np.ndarray  # (len(token_ids), hidden_size) float32
    first_token_s: float
    total_s: float


@dataclass(slots=True)
class _Row:
    prompt: list[int]
    decoding: Decoding
    request_id: bytes
    tokens: list[int]
    hidden: list[np.ndarray]
    text: str = ""
    emitted: int = 0
    unsent: list[int] = field(default_factory=list)  # token ids not yet streamed
    finish: str = ""


class Engine:
    """A loaded model, its tokenizer and the reference configuration it runs under."""

    def __init__(
        self,
        model_dir: Path | str,
        *,
        expected_commitment: bytes | None = None,
        dtype: str = "float32",
        threads: int = 1,
        kv_cache: bool = True,
        device: str = "cpu",
        compile: bool = False,
    ) -> None:
        self.model_dir = Path(model_dir)
        if expected_commitment is None:
            self.commitment = commitment.commit(self.model_dir)
        else:
            self.commitment = commitment.verify(self.model_dir, expected_commitment)
        if dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}; one of {sorted(DTYPES)}")
        self.dtype, self.threads, self.kv_cache, self.device = dtype, threads, kv_cache, device
        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_dir, dtype=DTYPES[dtype], local_files_only=True
        ).eval()
        self.model.to(device)
        # torch.compile (TorchInductor) of the decoder stack: generation and prefill both run through it
        self.decoder = torch.compile(self.model.model, dynamic=True) if compile else self.model.model
        self.context = int(self.model.config.max_position_embeddings)
        self.eos_ids = self._eos_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)

    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for src in (self.model.config.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            ids.update([src] if isinstance(src, int) else (src or []))
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return frozenset(ids)

    def reference(self, batch_size: int = 1) -> types_pb2.ReferenceConfig:
        """The configuration hidden states depend on, recorded in each receipt."""
        return types_pb2.ReferenceConfig(
            torch_version=torch.__version__,
            device=self.device,
            isa=torch.backends.cpu.get_cpu_capability() if self.device == "cpu" else torch.cuda.get_device_name(),
            dtype=self.dtype,
            threads=torch.get_num_threads(),
            batch_size=batch_size,
            kv_cache=self.kv_cache,
        )

    def encode(self, prompt: str = "", messages: Sequence[tuple[str, str]] = ()) -> list[int]:
        """Token ids of a plain prompt, or of chat `messages` (role, content) through the chat template."""
        if messages:
            for role, content in messages:
                check_utf8(role, "message role")
                check_utf8(content, "message content")
            if not any(content for _, content in messages):
                raise InvalidRequest("prompt is empty: every chat message has empty content")
            if not self.tokenizer.chat_template:
                raise InvalidRequest("this model has no chat template: send a plain prompt")
            chat = [{"role": r, "content": c} for r, c in messages]
            ids = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        else:
            check_utf8(prompt, "prompt")
            if not prompt:
                raise InvalidRequest("prompt is empty")
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) >= self.context:
            raise ContextOverflow(
                f"prompt is {len(ids)} tokens; the model's context is {self.context} (at least one must be generated)"
            )
        return list(ids)

    def check(self, prompt_ids: Sequence[int], d: Decoding) -> None:
        """Raise a precise error for decoding parameters that cannot be served."""
        if d.max_tokens <= 0:
            raise InvalidRequest(f"max_tokens must be at least 1, got {d.max_tokens}")
        if not prompt_ids:
            raise InvalidRequest("prompt is empty")
        if len(prompt_ids) >= self.context:
            raise ContextOverflow(f"prompt is {len(prompt_ids)} tokens; the model's context is {self.context}")
        if not d.greedy and not (d.temperature > 0 and 0 < d.top_p <= 1 and d.top_k >= 0):
            raise InvalidRequest("sampling needs temperature > 0, 0 < top_p ≤ 1 and top_k ≥ 0")
        for s in d.stop:
            check_utf8(s, "stop string")

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def generate(
        self, prompt_ids: list[int], d: Decoding, request_id: bytes, on_text: OnText | None = None
    ) -> Generation:
        return self.generate_batch([prompt_ids], [d], [request_id], on_text)[0]

    @torch.inference_mode()
    def generate_batch(
        self,
        prompts: Sequence[list[int]],
        decodings: Sequence[Decoding],
        request_ids: Sequence[bytes],
        on_text: OnText | None = None,
    ) -> list[Generation]:
        """Generate for several prompts at once (left-padded); each row is decided by its own decoding."""
        for p, d in zip(prompts, decodings, strict=True):
            self.check(p, d)
        start = time.perf_counter()
        rows = [_Row(list(p), d, bytes(r), [], []) for p, d, r in zip(prompts, decodings, request_ids, strict=True)]
        width = max(len(r.prompt) for r in rows)
        ids = torch.tensor([[self.pad_id] * (width - len(r.prompt)) + r.prompt for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows], device=self.device)
        cache = DynamicCache() if self.kv_cache else None
        step_input = ids
        first_token_s = 0.0
        for step in range(max(min(r.decoding.max_tokens, self.context - len(r.prompt)) for r in rows)):
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            out = self.decoder(
                input_ids=step_input,
                attention_mask=mask,
                position_ids=positions[:, -step_input.shape[1] :],
                past_key_values=cache,
                use_cache=self.kv_cache,
            )
            last = out.last_hidden_state[:, -1]
            logits = self.model.lm_head(last).float()
            next_ids = []
            for i, row in enumerate(rows):
                if row.finish:
                    next_ids.append(self.pad_id)
                    continue
                token = select(logits[i], row.decoding, row.request_id, step)
                row.tokens.append(token)
                row.hidden.append(last[i].float().cpu().numpy())
                self._advance(i, row, on_text)
                next_ids.append(token)
            if step == 0:
                first_token_s = time.perf_counter() - start
            if all(r.finish for r in rows):
                break
            new = torch.tensor([next_ids], device=self.device).T
            mask = torch.cat([mask, torch.ones_like(new)], dim=1)
            step_input = new if self.kv_cache else torch.cat([ids, new], dim=1)
            if not self.kv_cache:
                ids = step_input
        total = time.perf_counter() - start
        return [
            Generation(
                r.prompt,
                r.tokens,
                r.text,
                r.finish or "length",
                np.stack(r.hidden).astype(np.float32),
                first_token_s,
                total,
            )
            for r in rows
        ]

    def _advance(self, i: int, row: _Row, on_text: OnText | None) -> None:
        """Update a row's text after a new token, apply stop conditions, stream what is final."""
        token = row.tokens[-1]
        row.unsent.append(token)
        if not (row.decoding.stop or on_text) and not self._ends(row, token):
            return  # nothing needs the text yet: decode once at the end
        text = self.decode(row.tokens)
        stop_at = -1
        for s in row.decoding.stop:
            j = text.find(s, max(0, len(row.text) - len(s)))
            if s and j >= 0 and (stop_at < 0 or j < stop_at):
                stop_at = j
        if stop_at >= 0:
            text, row.finish = text[:stop_at], "stop"
        elif self._ends(row, token):
            row.finish = "stop" if token in self.eos_ids else "length"
        row.text = text
        # Hold back a trailing partial UTF-8 sequence (decoded as U+FFFD) and what may begin a stop string.
        hold = max((len(s) for s in row.decoding.stop), default=1) - 1
        final = len(text) if row.finish else max(row.emitted, len(text.rstrip("\ufffd")) - hold)
        if on_text is not None and (final > row.emitted or row.finish):
            on_text(i, text[row.emitted : final], row.unsent)
            row.emitted, row.unsent = final, []

    def _ends(self, row: _Row, token: int) -> bool:
        """End of sequence, max_tokens or the end of the context."""
        full = len(row.tokens) >= row.decoding.max_tokens or len(row.prompt) + len(row.tokens) >= self.context
        return token in self.eos_ids or full

    @torch.inference_mode()
    def prefill(self, prompt_ids: Sequence[int], token_ids: Sequence[int]) -> tuple[np.ndarray, torch.Tensor]:
        """Hidden states (float32, one row per generated token) and logits of one pass over prompt + tokens."""
        if not token_ids:
            raise InvalidRequest("no output tokens to re-execute")
        if len(prompt_ids) + len(token_ids) - 1 > self.context:
            raise ContextOverflow("prompt and output exceed the model's context")
        seq = list(prompt_ids) + list(token_ids[:-1])
        out = self.decoder(input_ids=torch.tensor([seq], device=self.device), use_cache=False)
        hidden = out.last_hidden_state[0, len(prompt_ids) - 1 :]
        logits = self.model.lm_head(hidden).float()
        return hidden.float().cpu().numpy(), logits.cpu()


def parse_models(spec: str) -> dict[str, tuple[str, bytes]]:
    """`id=dir@0xroot,...` → {id: (dir, root)}; raises ValueError naming the bad entry."""
    out: dict[str, tuple[str, bytes]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        model_id, sep, rest = item.partition("=")
        path, at, root = rest.rpartition("@")
        try:
            root_bytes = bytes.fromhex(root.removeprefix("0x"))
        except ValueError:
            root_bytes = b""
        if not (sep and at and model_id and path and len(root_bytes) == 32):
            raise ValueError(f"bad model entry {item!r}: expected MODEL_ID=DIR@0x<32-byte commitment>")
        out[model_id] = (path, root_bytes)
    return out


def load_engines(spec: str, dtype: str = "float32", threads: int = 1, compile: bool = False) -> dict[str, Engine]:
    """An engine for every `parse_models(spec)` entry, each refused unless its directory has the commitment."""
    return {
        model_id: Engine(path, expected_commitment=root, dtype=dtype, threads=threads, compile=compile)
        for model_id, (path, root) in parse_models(spec).items()
    }
