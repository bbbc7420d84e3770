"""Start a private redis-server (free port, own data dir) and stop it on exit."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ax0n_tools.devnet.ports import free_port, stop_process, wait_port


class RedisServer:
    """A redis-server child process. With `aof`, every write is fsynced before it is acknowledged."""

    def __init__(self, *, aof: bool = False, port: int | None = None, data_dir: Path | None = None) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server not found on PATH (Debian: apt-get install redis-server)")
        self.aof = aof
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="ax0n-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--dir", str(self.data_dir)]
        self.proc = subprocess.Popen(
            [*args, *persistence, "--protected-mode", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_port("127.0.0.1", self.port, timeout):
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port} within {timeout}s")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data dir stays for a restart."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
