"""The TypeScript SDK (sdk/js/dist) infers and streams against the devnet's router over its OpenAI-compatible HTTP API.

The assertions live in sdk/js/test/devnet.e2e.js (node:test); this test hands it the devnet's coordinates.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import DevnetState

from ax0n.zk import mlp

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "js"


def test_typescript_sdk_infers_and_streams_on_the_devnet(devnet: DevnetState) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    assert (SDK / "dist" / "index.js").exists(), "sdk/js is not built: run `make setup`"
    features = json.loads(demo.ZK_FEATURES)
    env = {
        **os.environ,
        "AX0N_DEVNET_HTTP": f"http://127.0.0.1:{devnet.http_port}",
        "AX0N_DEVNET_KEY": Path(devnet.client_key_file).read_text().strip(),
        "AX0N_DEVNET_CHAIN_ID": str(devnet.chain_id),
        "AX0N_DEVNET_SETTLEMENT": devnet.settlement,
        "AX0N_DEVNET_LLM_MODEL": devnet.llm_model,
        "AX0N_DEVNET_ZK_MODEL": devnet.zk_model,
        "AX0N_DEVNET_ZK_FEATURES": demo.ZK_FEATURES,
        "AX0N_DEVNET_ZK_OUTPUT": mlp.devnet_model().forward(features).to_json(),
    }
    proc = subprocess.run(
        [node, "--test", "test/devnet.e2e.js"], cwd=SDK, env=env, capture_output=True, text=True, timeout=180
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "# pass 3" in report and "# skipped 0" in report, report
