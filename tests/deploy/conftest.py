"""Chart fixtures: the ax0n chart rendered offline with the real Helm v4 library (helm-python-sdk)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "ax0n"
RELEASE = "mesh"
NAMESPACE = "ax0n"

Manifest = dict[str, Any]


def values_file(name: str) -> dict[str, Any]:
    """Values from the chart's ci/ directory: gpu, minimal."""
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())


# One CPU pool, its weights fetched from a URL: the chart's defaults plus the one required list.
CPU_MODEL = {
    "id": "tiny",
    "commitment": "0x" + "11" * 32,
    "pricePer1kTokens": "1000",
    "weights": {"url": "https://models.example.org/tiny.tar.gz"},
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {"models": [CPU_MODEL]},
    "gpu": values_file("gpu"),
    "minimal": values_file("minimal"),
}


class Rendered:
    """The objects of one rendered release, with lookups by kind and name."""

    def __init__(self, files: dict[str, str]) -> None:
        self.notes = next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")
        self.objects: list[Manifest] = [
            doc
            for path, text in sorted(files.items())
            if path.endswith((".yaml", ".yml"))
            for doc in yaml.safe_load_all(text)
            if doc
        ]

    def of(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        matches = [o for o in self.of(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
        return matches[0]

    def pools(self) -> list[str]:
        """The executor pools (one per served model), by their ax0n.io/pool label."""
        return [
            d["metadata"]["labels"]["ax0n.io/pool"]
            for d in self.of("Deployment")
            if "ax0n.io/pool" in d["metadata"]["labels"]
        ]

    def component(self, kind: str, component: str) -> Manifest:
        """`{release}-ax0n-{component}`; "executor…" names the one executor pool's object when there is one pool."""
        name = f"{RELEASE}-ax0n-{component}"
        pools = self.pools()
        if (
            component.startswith("executor")
            and len(pools) == 1
            and not any(o["metadata"]["name"] == name for o in self.of(kind))
        ):
            name = f"{RELEASE}-ax0n-executor-{pools[0]}{component.removeprefix('executor')}"
        return self.get(kind, name)


@pytest.fixture(scope="session")
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


@pytest.fixture(scope="session")
def render(chart: helm_python.Chart) -> Callable[[dict[str, Any]], Rendered]:
    def _render(values: dict[str, Any]) -> Rendered:
        return Rendered(chart.render(values, name=RELEASE, namespace=NAMESPACE))

    return _render
