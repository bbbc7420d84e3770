"""The devnet supervisor: a detached process that owns the devnet until SIGTERM (`ax0n devnet down`)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from ax0n_tools.devnet.network import Devnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("state", type=Path, help="where to write the devnet state (JSON) once it is up")
    state_path = parser.parse_args().state
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Devnet(progress=False) as net:
        assert net.state is not None
        net.state.supervisor_pid = os.getpid()
        net.state.save(state_path)
        print(f"devnet up: {state_path}", flush=True)
        stop.wait()
        print("devnet: stopping", flush=True)
    state_path.unlink(missing_ok=True)
    print("devnet: stopped", flush=True)


if __name__ == "__main__":
    main()
