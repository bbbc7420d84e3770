"""The chart's `models` list: one executor pool per served model, and the validators' own re-executor pool."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ax0n_validator.reexecutor import ReexecutorSettings
from helm_python.errors import HelmRenderError

from ax0n.llm.engine import parse_models

from .conftest import CPU_MODEL, RELEASE, Rendered
from .test_chart import container, env, matches, merged, settings_class, settings_from
from .test_runtime import pod_env

GPU_MODEL = {
    "id": "SmolLM2.135m",
    "commitment": "0x" + "22" * 32,
    "pricePer1kTokens": "2500",
    "weights": {"pvc": {"claimName": "ax0n-models", "subPath": "smollm2"}},
    "gpu": {"count": 2, "product": "NVIDIA-H100-80GB-HBM3"},
    "nodeSelector": {"pool": "h100"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"}],
    "autoscaling": {"minReplicas": 2, "maxReplicas": 4},
}
CALLERS = ["0x" + "a1" * 20, "0x" + "b2" * 20]
REEXEC = {
    "validator": {"replicas": 2, "reexecutor": {"callerKeys": {"existingSecret": "callers"}, "allowedCallers": CALLERS}}
}
TWO = {"models": [CPU_MODEL, GPU_MODEL], "executor": {"autoscaling": {"mode": "hpa"}}}


def pool(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    return rendered.get(kind, f"{RELEASE}-ax0n-executor-{name}")


def test_one_pool_per_model_with_its_gpus_selectors_and_weights(render, monkeypatch) -> None:
    rendered = render(TWO)
    assert sorted(rendered.pools()) == ["smollm2-135m", "tiny"]
    gpu, cpu = pool(rendered, "Deployment", "smollm2-135m"), pool(rendered, "Deployment", "tiny")
    spec, c = gpu["spec"]["template"]["spec"], container(gpu)
    assert c["resources"]["requests"]["nvidia.com/gpu"] == c["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert c["image"].endswith("ax0n-executor-cuda:0.1.0")
    assert spec["nodeSelector"] == {"pool": "h100", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert GPU_MODEL["tolerations"][0] in spec["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "nvidia.com/gpu" not in container(cpu)["resources"].get("requests", {})
    assert "tolerations" not in cpu["spec"]["template"]["spec"]
    # each pool consumes its own cluster's stream and scales within its own bounds
    assert env(gpu)["AX0N_CLUSTER"] == "default-smollm2-135m" and env(cpu)["AX0N_CLUSTER"] == "default-tiny"
    hpa = pool(rendered, "HorizontalPodAutoscaler", "smollm2-135m")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert pool(rendered, "HorizontalPodAutoscaler", "tiny")["spec"]["maxReplicas"] == 8
    for name, workload in (("smollm2-135m", gpu), ("tiny", cpu)):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert matches(pool(rendered, "Service", name)["spec"]["selector"], labels)
        assert matches(pool(rendered, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"], labels)
        other = cpu if workload is gpu else gpu
        assert not matches(
            pool(rendered, "Service", name)["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"]
        )
    # the executor parses exactly one committed model, at the path its weights are mounted
    cls = settings_class("executor")
    for model, workload in ((GPU_MODEL, gpu), (CPU_MODEL, cpu)):
        settings = settings_from(cls, pod_env(rendered, workload, "p-0"), monkeypatch)
        ((model_id, (directory, root)),) = parse_models(settings.models).items()
        assert (model_id, "0x" + root.hex(), settings.prices) == (
            model["id"],
            model["commitment"],
            f"{model['id']}={model['pricePer1kTokens']}",
        )
        assert settings.serve and directory.startswith("/var/lib/ax0n/models/")
        mount = next(m for m in container(workload)["volumeMounts"] if m["name"] == "weights")
        assert mount["readOnly"] and directory.startswith(mount["mountPath"])
    volume = next(v for v in gpu["spec"]["template"]["spec"]["volumes"] if v["name"] == "weights")
    assert volume["persistentVolumeClaim"] == {"claimName": "ax0n-models", "readOnly": True}
    assert next(m for m in container(gpu)["volumeMounts"] if m["name"] == "weights")["subPath"] == "smollm2"
    assert "initContainers" not in gpu["spec"]["template"]["spec"]
    # weights from a URL: an init container fetches them and keeps them only with the registered commitment
    (fetch,) = cpu["spec"]["template"]["spec"]["initContainers"]
    directory = parse_models(env(cpu)["AX0N_MODELS"])["tiny"][0]
    assert fetch["args"] == [
        "fetch-model",
        CPU_MODEL["weights"]["url"],
        directory,
        "--commitment",
        CPU_MODEL["commitment"],
    ]
    assert 'Executors of SmolLM2.135m (cluster "default-smollm2-135m") scale with an HPA' in rendered.notes


def test_two_models_on_one_cluster_are_refused(chart) -> None:
    values = {"models": [{**CPU_MODEL, "cluster": "c1"}, {**GPU_MODEL, "cluster": "c1"}]}
    with pytest.raises(HelmRenderError, match=re.escape('models "tiny" and "SmolLM2.135m" both consume cluster "c1"')):
        chart.render(values, name=RELEASE, namespace="ax0n")


def test_no_models_no_executor_pool(render) -> None:
    rendered = render({})
    assert rendered.pools() == []
    assert not [
        d for d in rendered.of("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "executor"
    ]
    assert "`models` is empty: no executor pool is rendered" in rendered.notes


def test_validators_reexecute_on_their_own_pool_never_an_executor(render, monkeypatch) -> None:
    rendered = render(merged(TWO, REEXEC))
    validator = rendered.component("StatefulSet", "validator")
    target = env(validator)["AX0N_REEXECUTOR_TARGET"]
    host, port = target.rsplit(":", 1)
    service = rendered.get("Service", host)
    reexecutor = rendered.component("Deployment", "reexecutor")
    assert int(port) == next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    selected = [
        w
        for w in rendered.of("Deployment") + rendered.of("StatefulSet")
        if matches(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
    ]
    assert selected == [reexecutor]  # never an executor pool
    assert env(validator)["AX0N_CALLER_KEY_FILE"] == "/var/run/ax0n/caller/caller.key"
    select = validator["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert 'caller-${POD_INDEX}.key" /var/run/ax0n/caller/caller.key' in select
    settings = settings_from(ReexecutorSettings, pod_env(rendered, reexecutor, "r-0"), monkeypatch)
    assert sorted(parse_models(settings.models)) == ["SmolLM2.135m", "tiny"]
    assert settings.allowed_callers == ",".join(CALLERS)
    fields = {f"AX0N_{f.upper()}" for f in ReexecutorSettings.model_fields}
    assert {e["name"] for e in container(reexecutor)["env"]} - fields == {"AX0N_REDIS_PASSWORD", "AX0N_REDIS_USERNAME"}
    assert "re-executor pool" not in rendered.notes
    # without the validators' caller keys there is no pool: validators abstain, and the notes say what to set
    plain = render(TWO)
    assert "AX0N_REEXECUTOR_TARGET" not in env(plain.component("StatefulSet", "validator"))
    assert not [d for d in plain.of("Deployment") if d["metadata"]["name"].endswith("-reexecutor")]
    assert "no validator re-executor pool" in plain.notes


def test_reexecutor_pool_needs_one_dtype(chart) -> None:
    values = merged(REEXEC, {"models": [CPU_MODEL, {**GPU_MODEL, "dtype": "bfloat16"}]})
    with pytest.raises(HelmRenderError, match="loads every model in one dtype, but models use bfloat16, float32"):
        chart.render(values, name=RELEASE, namespace="ax0n")
