"""Fixtures: the seeded tiny model (built once per session), engines and a node key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")

from ax0n_executor.executor import Executor  # noqa: E402
from ax0n_executor.models import build_tiny  # noqa: E402

from ax0n.llm.engine import Engine  # noqa: E402
from ax0n.spec import request as requests  # noqa: E402
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT  # noqa: E402
from ax0n.v1 import types_pb2  # noqa: E402

NODE_KEY = "0x" + "42" * 32
CLIENT_KEY = "0x" + "17" * 32
SMOLLM2_DIR = Path(__file__).resolve().parents[2] / ".cache" / "models" / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> Engine:
    return Engine(tiny_dir)


@pytest.fixture(scope="session")
def executor(tiny: Engine) -> Executor:
    return Executor({"tiny": tiny}, NODE_KEY, prices={"tiny": 1000})


@pytest.fixture(scope="session")
def smollm2() -> Engine:
    if not (SMOLLM2_DIR / "config.json").is_file():
        pytest.skip("SmolLM2 not converted: run `make executor-models`")
    return Engine(SMOLLM2_DIR)


def make_request(
    prompt: str = "",
    *,
    model_id: str = "tiny",
    max_tokens: int = 40,
    messages: tuple[tuple[str, str], ...] = (),
    greedy: bool = True,
    temperature: float = 0.0,
    top_p: float = 0.0,
    top_k: int = 0,
    stop: tuple[str, ...] = (),
    nonce: int = 1,
) -> types_pb2.InferenceRequest:
    """A client-signed request, as the router forwards it."""
    req = types_pb2.InferenceRequest(
        model_id=model_id,
        prompt=prompt,
        max_tokens=max_tokens,
        fee_cap="1000000000000000000",
        nonce=nonce,
        deadline=2_000_000_000,
        chain_id=31337,
        settlement=DEVNET_DEPLOYMENT.settlement,
        sampling=types_pb2.SamplingParams(
            greedy=greedy, temperature=temperature, top_p=top_p, top_k=top_k, stop=list(stop)
        ),
        messages=[types_pb2.ChatMessage(role=r, content=c) for r, c in messages],
    )
    return requests.sign(req, CLIENT_KEY)


@pytest.fixture
def request_factory() -> Callable[..., types_pb2.InferenceRequest]:
    return make_request
