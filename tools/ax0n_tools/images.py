"""Building the service images with podman (`ax0n images build`, what `make images` runs).

Where no public base image can be pulled, the images build on a local Debian bookworm base made once with
`mmdebstrap --variant=minbase` and `podman import` (its Python is 3.11, as the slim image's). pip inside a build
uses the host's own pip configuration: its CA bundle, its find-links directories (torch's CPU wheel) and its
file:// mirrors are mounted read-only at the same paths, and PyPI itself is reached over the host network.
podman runs with runc and a containers.conf without default ulimits (crun cannot set them on these machines).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("router", "executor", "prover", "validator", "settler")
VERSION = "0.1.0"
BASE = "localhost/ax0n-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,passwd"
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n"
PIP_CONFIG = re.compile(r"^(?::env:|global)\.([a-z-]+)='(.*)'$")
HOST_PATH = re.compile(r"/[^\s,@=:]+")
SHARED_ENV = ("AX0N_ARTIFACTS_DIR",)  # read from the environment by ax0n.zk.artifacts: passed on when set


class ImageError(RuntimeError):
    """podman, mmdebstrap or a build failed; the message holds the command's output."""


def image_name(service: str) -> str:
    return f"localhost/ax0n-{service}:{VERSION}"


def podman(*args: str) -> list[str]:
    """A podman command line on runc."""
    return ["podman", "--runtime", "runc", *args]


def environment(state_dir: Path) -> dict[str, str]:
    """This process's environment with CONTAINERS_CONF pointing at a containers.conf without default ulimits."""
    conf = state_dir / "containers.conf"
    state_dir.mkdir(parents=True, exist_ok=True)
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@dataclass
class PipAccess:
    """How a build reaches packages as the host's pip does: build arguments and read-only mounts."""

    build_args: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)


def pip_access(config_lines: list[str]) -> PipAccess:
    """`pip config list` lines → the PIP_* build arguments and the host paths a build must see."""
    access = PipAccess()
    for line in config_lines:
        match = PIP_CONFIG.match(line.strip())
        if not match:
            continue
        key, value = match.groups()
        if key == "cert":
            access.mounts.append(f"{value}:/run/host-ca.crt:ro")
            access.build_args["PIP_CERT"] = "/run/host-ca.crt"
        elif key in ("find-links", "extra-index-url", "constraint"):
            paths = [p.removeprefix("file://") for p in value.split()]
            for path in paths:
                if path.startswith("/") and Path(path).exists():
                    access.mounts.append(f"{_mount_root(Path(path))}:{_mount_root(Path(path))}:ro")
            access.build_args[f"PIP_{key.upper().replace('-', '_')}"] = value
    access.mounts = sorted(set(access.mounts))
    return access


def _mount_root(path: Path) -> Path:
    """The directory to mount for a pip path: the file's directory, or a mirror's root above its simple/ index."""
    path = path if path.is_dir() else path.parent
    return path.parent if path.name == "simple" else path


def host_pip_access() -> PipAccess:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    return pip_access(out.stdout.splitlines())


def run(cmd: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"{what} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout


def ensure_base(env: dict[str, str]) -> str:
    """The local Debian base image, made once (mmdebstrap ~1 min)."""
    if subprocess.run(podman("image", "exists", BASE), env=env, check=False).returncode == 0:
        return BASE
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "mmdebstrap is missing: `apt-get install podman runc mmdebstrap` (make images does it as root)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "base.tar"
        run(["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(tar)], env, "mmdebstrap")
        run(podman("import", str(tar), BASE), env, "podman import")
    return BASE


def build(service: str, env: dict[str, str], base: str, access: PipAccess) -> str:
    """Build one service's image from docker/<service>.Dockerfile; returns its name."""
    cmd = podman("build", "--network=host", "-f", str(ROOT / "docker" / f"{service}.Dockerfile"))
    cmd += ["-t", image_name(service), "--build-arg", f"BASE_IMAGE={base}"]
    for key, value in access.build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    if access.build_args.get("PIP_FIND_LINKS"):
        # torch's CPU wheel lies in find-links: resolve it there and on PyPI (the CPU index is out of reach)
        cmd += ["--build-arg", "TORCH_INDEX_URL=https://pypi.org/simple"]
    for mount in access.mounts:
        cmd += ["-v", mount]
    run([*cmd, str(ROOT)], env, f"building {image_name(service)}")
    return image_name(service)


def build_all(services: tuple[str, ...] = SERVICES, state_dir: Path | None = None, progress: bool = True) -> list[str]:
    """Build the images (the base first when missing); returns their names."""
    if shutil.which("podman") is None:
        raise ImageError("podman is missing: `apt-get install podman runc mmdebstrap` (make images does it as root)")
    env = environment(state_dir or Path.home() / ".cache" / "ax0n" / "podman")
    access = host_pip_access()
    names = []
    with tqdm(total=len(services) + 1, desc="images", unit="image", disable=not progress) as bar:
        bar.set_postfix_str("base")
        base = ensure_base(env)
        bar.update()
        for service in services:
            bar.set_postfix_str(service)
            names.append(build(service, env, base, access))
            bar.update()
    return names


def run_command(service: str, image: str, args: list[str], env: dict[str, str]) -> list[str]:
    """`podman run` of `ax0n-<service>` from `image` on the host network, as this user, with every host path its
    arguments and environment name mounted at the same path; environment values are passed by name only (podman
    copies them from its own environment), never on the command line."""
    names = [*env, *(n for n in SHARED_ENV if n in os.environ and n not in env)]
    values = [*args, *env.values(), *(os.environ[n] for n in SHARED_ENV if n in os.environ)]
    paths = sorted({p for v in values for p in HOST_PATH.findall(v) if Path(p).exists()})
    cmd = podman("run", "--rm", "--network=host", f"--user={os.getuid()}:{os.getgid()}")
    cmd += [f"--entrypoint=ax0n-{service}", "--env=HOME=/tmp"]
    for path in paths:
        cmd += ["-v", f"{path}:{path}"]
    for name in names:
        cmd += [f"--env={name}"]
    return [*cmd, image, *args]
