"""`axon-node` against a real anvil with the protocol deployed: init, stake (register, then add), status, start."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from ax0n_tools.devnet.anvil import Anvil
from ax0n_tools.devnet.ports import free_port
from ax0n_tools.node import keystore
from ax0n_tools.node.cli import main
from ax0n_tools.node.registry import Registry
from eth_account import Account
from eth_utils import keccak
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.mempool.entry import decode
from ax0n.mempool.streams import HEARTBEAT
from ax0n.runtime import stats
from ax0n.spec import commitment
from ax0n.spec.params import DEVNET, TOKEN
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, mlp

PASSWORD = "correct horse battery"
OPERATOR_KEY = "0x" + "5c" * 32
PRICE = 10**15


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ax0n_executor.models import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def chain(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Anvil, Path]]:
    with Anvil() as anvil:
        zk = mlp.devnet_model()
        models = (
            ModelSpec(model_key("mlp-devnet"), zk.commitment_bytes(), "zk", zk.parameter_count(),
                      artifacts.load(artifacts.MLP).vk_hash, PRICE),
            ModelSpec(model_key("tiny"), commitment.commit(tiny_model), "llm", 10_000_000, b"\0" * 32, PRICE),
        )  # fmt: skip
        manifest = deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET, models=models, reward_pool=10_000 * TOKEN)
        deployer = Signer.from_key(anvil.web3, anvil.accounts[0].key)
        operator = Account.from_key(OPERATOR_KEY).address
        anvil.web3.eth.send_transaction({"from": deployer.address, "to": operator, "value": 10**18})
        deployer.transact(manifest.contract(anvil.web3, "Ax0nToken").functions.transfer(operator, 2_000 * TOKEN))
        path = tmp_path_factory.mktemp("deployment") / "deployment.json"
        manifest.save(path)
        yield anvil, path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(keystore, "SCRYPT_N", 2**12)  # the same format; only the cost differs
    monkeypatch.setenv(keystore.PASSWORD_ENV, PASSWORD)
    return tmp_path / "node"


def run(*argv: str) -> None:
    main(list(argv))


def test_operator_flow(chain: tuple[Anvil, Path], home: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    anvil, deployment = chain
    monkeypatch.setattr(sys, "stdin", io.StringIO(OPERATOR_KEY + "\n"))  # the key arrives on stdin, never in argv
    run("init", "--key", "-", "--home", str(home), "--rpc-url", anvil.rpc_url, "--deployment", str(deployment))
    address = Account.from_key(OPERATOR_KEY).address
    assert address in capsys.readouterr().out
    assert OPERATOR_KEY[2:] not in (home / keystore.KEYSTORE_FILE).read_text().lower()

    with pytest.raises(SystemExit, match="at least min_node_stake = 1,000 ax0n"):
        run("stake", "--home", str(home), "--amount", "10", "--models", "tiny")
    with pytest.raises(SystemExit, match="pass --models"):
        run("stake", "--home", str(home), "--amount", "1000")
    with pytest.raises(SystemExit, match="'nope' is not registered"):
        run("stake", "--home", str(home), "--amount", "1000", "--models", "nope")
    with pytest.raises(SystemExit, match="less than the 5,000 ax0n"):
        run("stake", "--home", str(home), "--amount", "5000", "--models", "tiny")
    with pytest.raises(SystemExit, match="--cluster 'c:1' must be 1 to 64 characters"):
        run("stake", "--home", str(home), "--amount", "1000", "--models", "tiny", "--cluster", "c:1")
    run("stake", "--home", str(home), "--amount", "1000", "--models", "tiny,mlp-devnet", "--cluster", "c1")
    run("stake", "--home", str(home), "--amount", "250.5")
    reg = Registry(anvil.rpc_url, Manifest.load(deployment))
    record = reg.node(address)
    assert record["registered"] and record["stake"] == 1_250_500_000_000_000_000_000
    assert record["cluster"] == "c1" and record["registeredAt"] > 0
    assert record["signingKey"] == address and {bytes(m) for m in record["modelIds"]} == {
        model_key("tiny"),
        model_key("mlp-devnet"),
    }
    capsys.readouterr()
    monkeypatch.delenv(keystore.PASSWORD_ENV)  # status needs no password
    run("status", "--home", str(home))
    out = capsys.readouterr().out
    assert "stake       1,250.5 ax0n" in out and "models      tiny, mlp-devnet" in out and "active" in out
    assert "cluster     c1" in out
    anvil.web3.provider.make_request("evm_increaseTime", [365 * 24 * 3600])  # a year of emission
    anvil.web3.provider.make_request("evm_mine", [])
    monkeypatch.setenv(keystore.PASSWORD_ENV, PASSWORD)
    token = reg.token.functions.balanceOf
    before = token(address).call()
    run("claim", "--home", str(home))
    year = record["stake"] * 210 // 10_000
    assert year <= token(address).call() - before <= year * 1_001 // 1_000  # 2.1 % (plus the seconds since)


def test_start_serves_the_registered_models(chain: tuple[Anvil, Path], home: Path, tiny_model: Path,
                                            redis_url: str) -> None:  # fmt: skip
    anvil, deployment = chain
    keystore.create(home, PASSWORD, OPERATOR_KEY, force=True)
    binary = str(Path(sys.executable).parent / "axon-node")
    common = ["--home", str(home), "--rpc-url", anvil.rpc_url, "--deployment", str(deployment)]
    env = {**os.environ, keystore.PASSWORD_ENV: PASSWORD}
    refused = subprocess.run([binary, "start", *common, "--models", "other=/tmp"], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert refused.returncode != 0 and "did not register model 'other'" in refused.stderr
    wrong_tier = subprocess.run([binary, "start", *common, "--models", "mlp-devnet=/tmp"], env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "zk-tier: pass it with --zk-models" in wrong_tier.stderr
    served = ["--models", f"tiny={tiny_model}", "--zk-models", "mlp-devnet=devnet"]
    other_cluster = subprocess.run([binary, "start", *common, *served, "--cluster", "c2"], env=env,
                                   capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "registered in cluster 'c1', not 'c2'" in other_cluster.stderr
    port = free_port()
    args = [binary, "start", *common, *served, "--redis-url", redis_url, "--profile", "devnet",
            "--grpc-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "ready grpc=" in line:
                break
        assert any("serving tiny, mlp-devnet in cluster c1" in x for x in lines), "".join(lines)
        assert proc.poll() is None, "".join(lines)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="ax0n.v1.Executor"), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert OPERATOR_KEY[2:] not in " ".join(proc.args)  # the key never reaches the command line
        # heartbeats name the routing node id (keccak256 of the operator) and are signed for this deployment's chain
        operator = Account.from_key(OPERATOR_KEY).address
        signer = bytes.fromhex(operator[2:])
        mine: list[types_pb2.Heartbeat] = []
        with redis.Redis.from_url(redis_url) as r:  # the session's Redis: other tests' heartbeats may be there
            for _ in range(50):
                beats = [decode(HEARTBEAT, "0-0", f, types_pb2.Heartbeat).message for _, f in r.xrange(HEARTBEAT)]
                if mine := [b for b in beats if stats.heartbeat_signer(b) == signer]:
                    break
                time.sleep(0.1)
        assert mine, "no heartbeat signed by the node key"
        assert {(bytes(b.node_id), b.chain_id) for b in mine} == {(keccak(hexstr=operator), anvil.chain_id)}
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_key_on_the_command_line_works_but_is_warned_about_once(
    chain: tuple[Anvil, Path], home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run("init", "--key", OPERATOR_KEY, "--home", str(home))
    out, err = capsys.readouterr()
    assert Account.from_key(OPERATOR_KEY).address in out
    assert err.count("visible to other local users") == 1 and "--key -" in err and "--key-env" in err
    monkeypatch.setenv("AX0N_PRIVATE_KEY", OPERATOR_KEY)
    run("init", "--key-env", "--home", str(home / "env"))  # the safer forms say nothing
    run("init", "--home", str(home / "fresh"))
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit, match="not both"):
        run("init", "--key", OPERATOR_KEY, "--key-env", "--home", str(home / "both"))
