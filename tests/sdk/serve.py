"""Serve a real router (gRPC + HTTP) with the mesh stand-in until stdin closes: the TypeScript SDK's test server.

    .venv/bin/python -m tests.sdk.serve    # prints one JSON line: {"http": ..., "grpc": ..., keys...}

Run from the repository root. Starts its own redis-server; everything stops when stdin reaches EOF.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from ax0n_tools.devnet.redis import RedisServer

from tests.sdk.mesh import CHAIN_ID, CLIENT_KEY, LLM_MODEL, POOR_KEY, ZK_MODEL, MeshStandin, start_router

API_KEY = "sk-ax0n-sdk-test"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ax0n-sdk-") as tmp, RedisServer() as redis:
        keys = Path(tmp) / "api-keys.json"
        keys.write_text(json.dumps({hashlib.sha256(API_KEY.encode()).hexdigest(): CLIENT_KEY}))
        router, http_port = start_router(redis.url, Path(tmp), "--api-keys-file", str(keys))
        standin = MeshStandin(redis.url).start()
        try:
            info = {
                "http": f"http://127.0.0.1:{http_port}",
                "grpc": router.target,
                "privateKey": CLIENT_KEY,
                "poorKey": POOR_KEY,
                "apiKey": API_KEY,
                "chainId": CHAIN_ID,
                "llmModel": LLM_MODEL,
                "zkModel": ZK_MODEL,
            }
            print(json.dumps(info), flush=True)
            sys.stdin.read()
        finally:
            standin.stop()
            router.terminate()


if __name__ == "__main__":
    main()
