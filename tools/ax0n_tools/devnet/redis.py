"""Start a private redis-server (free port, own data dir) and stop it on exit."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ax0n.mempool import acl
from ax0n_tools.devnet.ports import free_port, stop_process, wait_port


class RedisServer:
    """A redis-server child process. With `aof`, every write is fsynced before it is acknowledged. With `roles`,
    each role gets its own least-privilege user (ax0n.mempool.acl, random passwords, kept across restarts in the
    data dir's ACL file) and the default user a password: `url` is then the administrator's, `url_for(role)` a
    service's."""

    def __init__(
        self,
        *,
        aof: bool = False,
        port: int | None = None,
        data_dir: Path | None = None,
        roles: Iterable[str] = (),
    ) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server not found on PATH (Debian: apt-get install redis-server)")
        self.aof = aof
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="ax0n-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.passwords = {role: secrets.token_hex(16) for role in roles}
        if self.passwords:
            self.passwords["default"] = secrets.token_hex(16)

    @property
    def url(self) -> str:
        """The administrator's URL (the default user)."""
        return self._url("default")

    def url_for(self, role: str) -> str:
        """The URL `role`'s services connect with (the administrator's when the server has no users)."""
        return self._url(role if self.passwords else "default")

    def _url(self, user: str) -> str:
        if not self.passwords:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.port}/0"

    def _acl_file(self) -> list[str]:
        """The ACL file's lines: passwords stored as their SHA-256, as Redis accepts them."""

        def hashed(pw: str) -> str:
            return "#" + hashlib.sha256(pw.encode()).hexdigest()

        lines = [f"user default on {hashed(self.passwords['default'])} ~* &* +@all"]
        for role, pw in self.passwords.items():
            if role != "default":
                lines.append(" ".join(["user", role, hashed(pw), *acl.rules(role)]))
        return lines

    def start(self, timeout: float = 10.0) -> RedisServer:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else ["--appendonly", "no"]
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--dir", str(self.data_dir)]
        if self.passwords:
            users = self.data_dir / "users.acl"
            users.write_text("\n".join(self._acl_file()) + "\n")
            users.chmod(0o600)
            args += ["--aclfile", str(users)]
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
