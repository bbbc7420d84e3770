"""`ax0n-executor fetch-model`: a committed model directory over HTTP, kept only with the registered commitment."""

from __future__ import annotations

import functools
import http.server
import io
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_executor.fetch import fetch_model

from ax0n.llm.engine import Engine
from ax0n.spec import commitment


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Iterator[str]:
    """An HTTP server (free port) over a directory holding the tiny model as model.tar.gz and a hostile archive."""
    root = tmp_path_factory.mktemp("www")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(tiny_dir, arcname="tiny")
    with tarfile.open(root / "escape.tar", "w") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_fetches_verifies_and_keeps(url: str, tiny: Engine, tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    assert fetch_model(f"{url}/model.tar.gz", out, tiny.commitment)
    assert commitment.commit(out) == tiny.commitment
    assert Engine(out, expected_commitment=tiny.commitment).commitment == tiny.commitment
    assert not fetch_model(f"{url}/missing.tar.gz", out, tiny.commitment)  # already there: nothing fetched


def test_wrong_commitment_leaves_nothing(url: str, tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    cli = subprocess.run(
        [sys.executable, "-m", "ax0n_executor", "fetch-model", f"{url}/model.tar.gz", str(out),
         "--commitment", "0x" + "ab" * 32, "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2
    assert "ax0n-executor fetch-model: model directory" in cli.stderr and "is registered" in cli.stderr
    assert list(tmp_path.iterdir()) == []


def test_archive_escaping_its_directory_is_refused(url: str, tmp_path: Path) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    with pytest.raises(tarfile.TarError):
        fetch_model(f"{url}/escape.tar", work / "m", b"\0" * 32)
    assert not (tmp_path / "escaped.txt").exists() and list(work.iterdir()) == []


def test_bad_commitment_argument_is_named() -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "ax0n_executor", "fetch-model", "file:///x.tar", "/tmp/x", "--commitment", "0x12"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 2 and "bad --commitment '0x12': expected 0x + 64 hex digits" in cli.stderr
