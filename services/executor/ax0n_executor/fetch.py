"""Fetching a model directory packed as a tar archive, kept only when its commitment is the registered one.

The chart's init container runs it for `models[].weights.url` (`ax0n-executor fetch-model URL DIR --commitment
0x…`): the archive holds the model directory's files (or one top-level directory holding them); members that
would land outside the directory, links and device files are refused (tarfile's "data" filter). A directory
that already has the commitment is kept as it is (a restarted pod fetches nothing).
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ax0n.spec import commitment

CHUNK = 1 << 20


def fetch_model(
    url: str, out: Path, expected: bytes, progress: Callable[[int, int], object] = lambda n, t: None
) -> bool:
    """Make `out` the model directory at `url` with commitment `expected`; False when it already was.

    Raises commitment.CommitmentError (nothing is left at `out`), tarfile.TarError or OSError."""
    if out.is_dir():
        try:
            commitment.verify(out, expected)
            return False
        except commitment.CommitmentError:
            shutil.rmtree(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with urllib.request.urlopen(url, timeout=60) as response, tempfile.TemporaryFile(dir=out.parent) as archive:
            total = int(response.headers.get("Content-Length") or 0)
            while chunk := response.read(CHUNK):
                archive.write(chunk)
                progress(len(chunk), total)
            archive.seek(0)
            with tarfile.open(fileobj=archive, mode="r:*") as tar:
                tar.extractall(staging, filter="data")
        entries = list(staging.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        commitment.verify(root, expected)
        root.rename(out)
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
