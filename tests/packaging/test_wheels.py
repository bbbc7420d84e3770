"""The distributions run outside the checkout: built wheels installed into a fresh virtual environment in a temp
dir (no editable installs) find their ABIs and protos as package data, every service answers --help, and the
contracts deploy from there. The SDK alone imports none of the verification or service stacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_tools.devnet.anvil import tool_path

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ["./", "./services/router", "./services/executor", "./services/prover", "./services/validator",
                 "./services/settler", "./tools"]  # fmt: skip
SERVICES = ["router", "executor", "prover", "validator", "reexecutor", "settler"]
HEAVY = ["blspy", "groth16py", "wasmtime", "web3", "redis", "torch", "numpy", "light_poseidon_python",
         "pydantic_settings", "opentelemetry.sdk", "pymerkle"]  # fmt: skip


def clean_env() -> dict[str, str]:
    """The environment without anything pointing back into the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "AX0N_CONTRACTS_OUT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_the_sdk_client_imports_no_verification_or_service_stack(tmp_path: Path) -> None:
    script = f"""
        import sys
        from ax0n.sdk import Ax0nClient, base_fee
        from ax0n.spec import request
        from ax0n.v1 import types_pb2
        req = request.sign(types_pb2.InferenceRequest(model_id="m", prompt="hi", max_tokens=8, chain_id=1, settlement=bytes(20)), "0x" + "11" * 32)
        request.verify(req)
        print([m for m in {HEAVY!r} if m in sys.modules])
    """
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("wheels")
    wheels = root / "wheels"
    stale = [REPO / d / "build" for d in DISTRIBUTIONS if not (REPO / d / "build").exists()]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         *DISTRIBUTIONS],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    for build_dir in stale:  # setuptools' in-tree build directories: not part of the checkout
        shutil.rmtree(build_dir, ignore_errors=True)
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pip = ["flock", "/tmp/ax0n-pip.lock", str(env / "bin" / "pip"), "install", "--quiet", "--progress-bar", "off"]
    names = sorted(str(w) for w in wheels.glob("*.whl"))
    subprocess.run([*pip, "--find-links", str(wheels), *names], check=True, env=clean_env(), cwd=root)
    yield env


def test_wheels_carry_package_data_and_no_checkout_paths(venv: Path) -> None:
    script = """
        import json, ax0n, ax0n.chain.contracts as c, ax0n.v1.types_pb2 as t, ax0n.zk.artifacts as z
        circuits = sorted(p.name for p in z.circuits_dir().glob("*.circom"))
        print(json.dumps({"core": ax0n.__file__, "abi": len(c.artifact("Settlement").abi), "proto": t.__file__,
                          "circuits_dir": str(z.circuits_dir()), "circuits": circuits}))
    """
    out = subprocess.run([str(venv / "bin" / "python"), "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, check=True, env=clean_env(), cwd=venv)  # fmt: skip
    found = json.loads(out.stdout)
    assert all(str(venv) in found[k] for k in ("core", "proto", "circuits_dir")) and found["abi"] > 10, found
    assert found["circuits"] == ["batch.circom", "common.circom", "mlp.circom", "mlp_public.circom"]  # what a setup compiles
    assert str(REPO) not in out.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_answers_help_from_the_wheels(venv: Path, service: str) -> None:
    out = subprocess.run([str(venv / "bin" / f"ax0n-{service}"), "--help"], capture_output=True, text=True,
                         env=clean_env(), cwd=venv, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--grpc-port" in out.stdout and "--redis-url" in out.stdout


def test_the_devnet_tools_deploy_the_contracts_from_the_wheels(venv: Path) -> None:
    script = """
        from ax0n_tools.devnet.anvil import Anvil
        from ax0n.chain.deploy import deploy
        from ax0n.spec.params import DEVNET
        with Anvil() as chain:
            manifest = deploy(chain.web3, chain.accounts[0].key, params=DEVNET)
            settlement = manifest.contract(chain.web3, "Settlement")
            print(sorted(manifest.addresses), settlement.functions.lastBatchId().call())
    """
    env = clean_env() | {"AX0N_ANVIL": str(tool_path("anvil"))}  # anvil is an external tool, like redis-server
    out = subprocess.run([str(venv / "bin" / "python"), "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, env=env, cwd=venv, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "'Settlement'" in out.stdout and out.stdout.strip().endswith("0")
    for tool in ("ax0n", "axon-node"):
        assert subprocess.run([str(venv / "bin" / tool), "--help"], capture_output=True, env=env).returncode == 0
