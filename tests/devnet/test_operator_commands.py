"""The product README's node-operator commands, run exactly as printed against the running devnet:

    axon-node init --key $AX0N_PRIVATE_KEY
    axon-node stake --amount 1000
    axon-node start

Settings the README leaves out come from the environment (chain, deployment, models, Redis, profile)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from ax0n_tools.devnet.anvil import dev_account
from ax0n_tools.devnet.network import DevnetState
from ax0n_tools.devnet.ports import free_port
from eth_account import Account
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, model_key
from ax0n.mempool.entry import decode
from ax0n.mempool.streams import HEARTBEAT
from ax0n.runtime import stats
from ax0n.spec.params import TOKEN
from ax0n.v1 import types_pb2


def test_the_readme_commands_init_stake_and_start_a_node(devnet: DevnetState, tmp_path: Path) -> None:
    w3 = Web3(HTTPProvider(devnet.rpc_url))
    manifest = Manifest.load(devnet.deployment)
    operator = Account.create()
    funder = Signer.from_key(w3, dev_account(0).key)  # the devnet's deployer holds the supply
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder.address, "to": operator.address, "value": 10**18})
    )
    funder.transact(manifest.contract(w3, "Ax0nToken").functions.transfer(operator.address, 1_000 * TOKEN))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AX0N_PRIVATE_KEY": operator.key.to_0x_hex(),
        "AX0N_NODE_HOME": str(tmp_path / "node"),
        "AX0N_KEYSTORE_PASSWORD": "correct horse battery",
        "AX0N_RPC_URL": devnet.rpc_url,
        "AX0N_DEPLOYMENT": devnet.deployment,
        "AX0N_ZK_MODELS": f"{devnet.zk_model}=devnet",
        "AX0N_CLUSTER": "readme",
        "AX0N_REDIS_URL": devnet.redis_url,
        "AX0N_PROFILE": "devnet",
        "AX0N_GRPC_PORT": str(free_port()),
        "AX0N_METRICS_PORT": "0",
    }

    def shell(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=120)

    init = shell("axon-node init --key $AX0N_PRIVATE_KEY")
    assert init.returncode == 0, init.stderr
    assert operator.address in init.stdout
    assert "visible to other local users" in init.stderr and "--key-env" in init.stderr  # said once, on stderr
    assert init.stderr.count("warning") == 1

    stake = shell("axon-node stake --amount 1000")
    assert stake.returncode == 0, stake.stderr
    record = manifest.contract(w3, "NodeRegistry").functions.node(operator.address).call()
    assert record[0] == 1_000 * TOKEN and list(map(bytes, record[5])) == [model_key(devnet.zk_model)]
    assert record[8] == "readme"

    proc = subprocess.Popen(["bash", "-c", "axon-node start"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "ready grpc=" in line:
                break
        assert proc.poll() is None and any(f"serving {devnet.zk_model}" in x for x in lines), "".join(lines)
        signer = bytes.fromhex(operator.address[2:])
        with redis.Redis.from_url(devnet.redis_url) as r:
            for _ in range(100):
                beats = [decode(HEARTBEAT, "0-0", f, types_pb2.Heartbeat).message for _, f in r.xrange(HEARTBEAT)]
                if mine := [b for b in beats if stats.heartbeat_signer(b) == signer]:
                    break
                time.sleep(0.1)
        assert mine and bytes(mine[0].node_id) == keccak(hexstr=operator.address)  # the started node is live
    finally:
        proc.terminate()
        proc.wait(30)
