"""The Helm chart: lint, render (default, GPU, minimal values), Kubernetes schemas, and the wiring to ax0n's code."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python
import kubernetes_validate
import pytest
from eth_account import Account
from eth_utils import keccak, to_bytes
from redis.asyncio.cluster import RedisCluster

from ax0n.chain.deploy import Manifest as DeploymentManifest
from ax0n.mempool import acl, connect, streams
from ax0n.runtime import stats, telemetry
from ax0n.runtime.config import DEFAULT_METRICS_PORT, DEFAULT_PORTS, DEFAULT_ROUTER_HTTP_PORT, ServiceSettings

from .conftest import CHART, CPU_MODEL, NAMESPACE, RELEASE, VALUE_SETS, Manifest, Rendered
from .test_runtime import pod_env

SERVICES = list(DEFAULT_PORTS)
# Lowest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBE_VERSIONS = ["1.29", "1.33"]
# Custom resources kubernetes-validate has no schema for; their shape is checked by the tests below.
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
                    ("monitoring.coreos.com/v1", "ServiceMonitor")}  # fmt: skip
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
KEDA = {"executor": {"autoscaling": {"mode": "keda"}}, "prover": {"autoscaling": {"mode": "keda"}}}
HEALTH_PORT = 9091  # values.yaml probes.healthPort


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge value layers (later wins), as `helm -f a -f b` does."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def container(workload: Manifest) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]["containers"][0]


def env(workload: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(workload)["env"]}


def workloads(rendered: Rendered) -> list[Manifest]:
    return [o for o in rendered.objects if o["kind"] in WORKLOAD_KINDS]


def ax0n_workloads(rendered: Rendered) -> list[Manifest]:
    """The five ax0n services' workloads (not Redis or the collector)."""
    return [w for w in workloads(rendered) if w["metadata"]["labels"]["app.kubernetes.io/component"] in SERVICES]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---- lint and Kubernetes schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_is_clean(name: str) -> None:
    report = helm_python.lint(CHART, VALUE_SETS[name], strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_object_validates_against_kubernetes_schemas(render, name: str, kube: str) -> None:
    rendered = render(merged(VALUE_SETS[name], KEDA) if name == "default" else VALUE_SETS[name])
    builtin = [o for o in rendered.objects if (o["apiVersion"], o["kind"]) not in CUSTOM_RESOURCES]
    assert len(builtin) >= 12  # the minimal values render 14
    for obj in builtin:
        try:
            kubernetes_validate.validate(obj, kube, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {kube}: {err.message}")


def test_kubernetes_validate_rejects_a_broken_object(render) -> None:
    """The schema check above can fail: a misspelt field is caught in strict mode."""
    deployment = copy.deepcopy(render({}).component("Deployment", "router"))
    container(deployment)["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


# ---- ports and probes match ax0n/config.py ---------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_ports_match_service_config(render, name: str) -> None:
    rendered = render(VALUE_SETS[name])
    for service, port in DEFAULT_PORTS.items():
        kind = "StatefulSet" if service == "validator" else "Deployment"
        workload = rendered.component(kind, service)
        c = container(workload)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["grpc"] == port
        assert ports["metrics"] == DEFAULT_METRICS_PORT
        assert env(workload)["AX0N_GRPC_PORT"] == str(port)
        assert env(workload)["AX0N_METRICS_PORT"] == str(DEFAULT_METRICS_PORT)
        # the kubelet's gRPC probes speak no TLS: they check the plaintext health-only port
        assert ports["health"] == HEALTH_PORT != port
        assert env(workload)["AX0N_HEALTH_PORT"] == str(HEALTH_PORT)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == HEALTH_PORT, f"{service} {probe} is not a gRPC probe on its health port"
        svc_ports = {p["name"]: p["port"] for p in rendered.component("Service", service)["spec"]["ports"]}
        assert svc_ports["grpc"] == port
        assert svc_ports["metrics"] == DEFAULT_METRICS_PORT
    router = rendered.component("Deployment", "router")
    assert {p["name"]: p["containerPort"] for p in container(router)["ports"]}["http"] == DEFAULT_ROUTER_HTTP_PORT
    assert env(router)["AX0N_HTTP_PORT"] == str(DEFAULT_ROUTER_HTTP_PORT)
    assert {p["name"]: p["port"] for p in rendered.component("Service", "router")["spec"]["ports"]}[
        "http"
    ] == DEFAULT_ROUTER_HTTP_PORT


def test_services_select_their_pods_and_targets_exist(render) -> None:
    rendered = render(merged(VALUE_SETS["gpu"], {"executor": {"autoscaling": {"mode": "hpa"}}}))
    pods = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads(rendered)}
    for svc in rendered.of("Service"):
        selected = [n for n, labels in pods.items() if matches(svc["spec"]["selector"], labels)]
        assert len(selected) == 1, f"Service {svc['metadata']['name']} selects {selected}"
        named = {
            p["name"]
            for p in container(next(w for w in workloads(rendered) if w["metadata"]["name"] == selected[0]))["ports"]
        }
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= named
    for pdb in rendered.of("PodDisruptionBudget"):
        assert sum(matches(pdb["spec"]["selector"]["matchLabels"], labels) for labels in pods.values()) == 1
    for target in [
        o["spec"]["scaleTargetRef"] for o in rendered.of("HorizontalPodAutoscaler") + rendered.of("ScaledObject")
    ]:
        assert target["name"] in pods


# ---- autoscaling: KEDA on the mempool's streams, HPA fallback --------------------------------------------------


def keda_triggers(rendered: Rendered, component: str) -> list[dict[str, Any]]:
    scaled = rendered.component("ScaledObject", component)
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": rendered.component("Deployment", component)["metadata"]["name"],
    }
    assert 0 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    return scaled["spec"]["triggers"]


@pytest.mark.parametrize("name", ["default", "gpu"])
def test_keda_scales_executors_and_provers_on_the_mempool_streams(render, name: str) -> None:
    values = merged(VALUE_SETS[name], KEDA)
    rendered = render(values)
    (model,) = values["models"]
    cluster = model.get("cluster", f"default-{model['id']}")
    expected = {
        "executor": (streams.requests_stream(cluster), streams.EXECUTOR_GROUP),
        "prover": (streams.EXECUTED, streams.PROVER_GROUP),  # one shard: the stream itself
    }
    redis_url = urlsplit(env(rendered.component("Deployment", "executor"))["AX0N_REDIS_URL"])
    for component, (stream, group) in expected.items():
        triggers = keda_triggers(rendered, component)
        assert {t["type"] for t in triggers} == {"redis-streams"}
        assert {m for t in triggers for m in t["metadata"] if m in ("lagCount", "pendingEntriesCount")} == {
            "lagCount",
            "pendingEntriesCount",
        }
        # KEDA reads the backlog as the stats user (ax0n/mempool/acl.py), never with the administrator's password
        auth = rendered.component("TriggerAuthentication", f"{component}-redis")
        stats_user = rendered.component("Secret", "redis-stats")
        assert auth["spec"]["secretTargetRef"] == [
            {"parameter": "username", "name": stats_user["metadata"]["name"], "key": "username"},
            {"parameter": "password", "name": stats_user["metadata"]["name"], "key": "password"},
        ]
        assert base64.b64decode(stats_user["data"]["username"]) == b"stats"
        for trigger in triggers:
            meta = trigger["metadata"]
            assert meta["stream"] == stream
            assert meta["consumerGroup"] == group
            assert meta["address"] == f"{redis_url.hostname}:{redis_url.port}"
            assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata values must be strings"
            assert int(meta.get("lagCount", meta.get("pendingEntriesCount"))) > 0
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert not rendered.of("HorizontalPodAutoscaler") or all(
            h["spec"]["scaleTargetRef"]["name"] != rendered.component("Deployment", component)["metadata"]["name"]
            for h in rendered.of("HorizontalPodAutoscaler")
        )
        assert "replicas" not in rendered.component("Deployment", component)["spec"], "KEDA owns the replica count"


def test_hpa_fallback_when_the_cluster_has_no_keda(render) -> None:
    """mode auto checks .Capabilities for keda.sh/v1alpha1; offline rendering has no KEDA, so HPAs come out."""
    rendered = render(VALUE_SETS["default"])
    assert rendered.of("ScaledObject") == []
    for component in ("executor", "prover"):
        hpa = rendered.component("HorizontalPodAutoscaler", component)
        assert hpa["spec"]["scaleTargetRef"]["name"] == rendered.component("Deployment", component)["metadata"]["name"]
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in rendered.component("Deployment", component)["spec"]
    assert "HPA on CPU" in rendered.notes


def test_autoscaling_none_keeps_fixed_replicas(render) -> None:
    rendered = render(VALUE_SETS["minimal"])
    assert rendered.of("ScaledObject") == rendered.of("HorizontalPodAutoscaler") == []
    assert rendered.component("Deployment", "executor")["spec"]["replicas"] == 1


# ---- GPU node pools ---------------------------------------------------------------------------------------------


def test_gpu_executors_request_gpus_on_gpu_nodes(render) -> None:
    values = VALUE_SETS["gpu"]
    executor = render(values).component("Deployment", "executor")
    pod = executor["spec"]["template"]["spec"]
    c = container(executor)
    (model,) = values["models"]
    count = model["gpu"]["count"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == count
    assert c["resources"]["requests"]["nvidia.com/gpu"] == count
    assert c["resources"]["requests"]["cpu"] == values["executor"]["resources"]["requests"]["cpu"]
    assert c["image"] == "ghcr.io/example-org/ax0n-executor-cuda:0.1.0"
    assert pod["nodeSelector"] == {
        **values["executor"]["nodeSelector"],
        "nvidia.com/gpu.product": model["gpu"]["product"],
    }
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert values["executor"]["tolerations"][0] in pod["tolerations"]
    e = env(executor)
    # one Serve replica per GPU, each with one GPU, in the model's registered dtype
    assert (e["AX0N_SERVE"], e["AX0N_SERVE_NUM_GPUS"], e["AX0N_SERVE_MAX_REPLICAS"]) == ("true", "1", str(count))
    assert e["AX0N_DTYPE"] == "bfloat16" and e["AX0N_CLUSTER"] == model["cluster"]
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": values["executor"]["shmSize"]}


def test_cpu_executors_request_no_gpu(render) -> None:
    executor = render(VALUE_SETS["default"]).component("Deployment", "executor")
    resources = container(executor)["resources"]
    assert "nvidia.com/gpu" not in {**resources.get("limits", {}), **resources.get("requests", {})}
    assert "tolerations" not in executor["spec"]["template"]["spec"]
    assert container(executor)["image"] == "ax0n-executor:0.1.0"
    assert env(executor)["AX0N_CLUSTER"] == "default-tiny"
    assert env(executor)["AX0N_SERVE_NUM_GPUS"] == "0"


# ---- secrets ----------------------------------------------------------------------------------------------------

SENTINELS = {
    "bls": "b1s-secret-" + "7" * 40,
    "bls2": "b1s-secret-" + "8" * 40,
    "redis": "redisPassw0rd-sentinel",
}


def test_secrets_are_only_in_secrets(render) -> None:
    rendered = render(
        {
            "validator": {
                "replicas": 2,
                "keys": {"inline": {"validator-0.key": SENTINELS["bls"], "validator-1.key": SENTINELS["bls2"]}},
            },
            "redis": {"auth": {"password": SENTINELS["redis"]}},
        }
    )
    for obj in rendered.objects:
        text = json.dumps(obj)
        if obj["kind"] == "Secret":
            continue
        for name, secret in SENTINELS.items():
            assert secret not in text, f"{name} secret rendered into {obj['kind']}/{obj['metadata']['name']}"
    keys = rendered.component("Secret", "validator-keys")
    assert keys["stringData"] == {"validator-0.key": SENTINELS["bls"], "validator-1.key": SENTINELS["bls2"]}
    validator = rendered.component("StatefulSet", "validator")
    pod = validator["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["all-keys"]["secret"] == {"secretName": keys["metadata"]["name"], "defaultMode": 0o440}
    assert volumes["bls-keys"]["emptyDir"]["medium"] == "Memory"
    # Only the init container sees every key; the validator sees the directory its own key was copied into.
    (init,) = pod["initContainers"]
    assert {m["name"] for m in init["volumeMounts"]} == {"all-keys", "bls-keys"}
    assert [m["name"] for m in container(validator)["volumeMounts"] if "keys" in m["name"]] == ["bls-keys"]
    mount = next(m for m in container(validator)["volumeMounts"] if m["name"] == "bls-keys")
    assert mount["readOnly"] is True
    assert env(validator)["AX0N_KEYS_DIR"] == mount["mountPath"]
    # Every service connects as its own Redis user, from its own Secret, and only as $(VAR) references in its URL.
    for workload in ax0n_workloads(rendered):
        e = env(workload)
        own = f"{RELEASE}-ax0n-redis-{workload['metadata']['labels']['app.kubernetes.io/component']}"
        assert e["AX0N_REDIS_USERNAME"] == {"secretKeyRef": {"name": own, "key": "username"}}
        assert e["AX0N_REDIS_PASSWORD"] == {"secretKeyRef": {"name": own, "key": "password"}}
        assert e["AX0N_REDIS_URL"] == (
            f"redis://$(AX0N_REDIS_USERNAME):$(AX0N_REDIS_PASSWORD)@{RELEASE}-ax0n-redis.{NAMESPACE}.svc:6379/0"
        )


def test_existing_secrets_are_referenced_not_created(render) -> None:
    rendered = render(VALUE_SETS["gpu"])
    generated = [f"{RELEASE}-ax0n-redis", *(f"{RELEASE}-ax0n-redis-{role}" for role in sorted(acl.ROLES))]
    # one certificate per gRPC server: each service, the executor's one pool, the validators' re-executor
    servers = [rendered.component("Service", s)["metadata"]["name"] for s in [*SERVICES, "reexecutor"]]
    generated += [f"{RELEASE}-ax0n-grpc-ca", *(f"{name}-tls" for name in servers)]
    assert sorted(s["metadata"]["name"] for s in rendered.of("Secret")) == sorted(generated)
    validator = rendered.component("StatefulSet", "validator")
    assert validator["spec"]["replicas"] == 3
    volume = next(v for v in validator["spec"]["template"]["spec"]["volumes"] if v["name"] == "all-keys")
    assert volume["secret"]["secretName"] == "ax0n-validator-keys"
    settler = rendered.component("Deployment", "settler")
    volume = next(v for v in settler["spec"]["template"]["spec"]["volumes"] if v["name"] == "signer")
    assert volume["secret"]["secretName"] == "ax0n-settler-signer"
    assert env(settler)["AX0N_SETTLER_KEY_FILE"] == "/etc/ax0n/signer/key"


def test_external_redis(render) -> None:
    values = VALUE_SETS["minimal"]
    rendered = render(values)
    assert not [o for o in rendered.objects if o["metadata"]["name"].startswith(f"{RELEASE}-ax0n-redis")]
    ext = values["externalRedis"]
    assert len(ax0n_workloads(rendered)) == len(SERVICES)
    for workload in ax0n_workloads(rendered):
        e = env(workload)
        assert e["AX0N_REDIS_PASSWORD"]["secretKeyRef"] == {"name": ext["existingSecret"], "key": "password"}
        url = urlsplit(e["AX0N_REDIS_URL"])
        assert (url.scheme, url.hostname, url.port, url.path) == (
            "rediss",
            ext["host"],
            ext["port"],
            f"/{ext['database']}",
        )


def test_an_operators_redis_cluster_with_sharded_streams(render) -> None:
    """externalRedis.cluster: every service gets a cluster URL (ax0n.mempool.connect opens a cluster client), the
    shard count reaches every pod, and KEDA scales provers on each exec shard with its cluster scaler."""
    cluster = {"externalRedis": {"cluster": True, "database": 0}, "mempool": {"shards": 3}}
    values = merged(VALUE_SETS["minimal"], KEDA, cluster)
    rendered = render(values)
    ext = values["externalRedis"]
    config = rendered.get("ConfigMap", f"{RELEASE}-ax0n-env")["data"]
    assert config["AX0N_MEMPOOL_SHARDS"] == "3"
    for workload in ax0n_workloads(rendered):
        url = env(workload)["AX0N_REDIS_URL"]
        assert urlsplit(url).scheme == "rediss-cluster" and urlsplit(url).hostname == ext["host"]
        assert isinstance(connect(url.replace("$(AX0N_REDIS_PASSWORD)", "pw")), RedisCluster)
    expected = {
        "executor": [streams.requests_stream("default-tiny")],  # the one model's pool
        "prover": streams.shard_streams(streams.EXECUTED, 3),
    }
    for component, names in expected.items():
        triggers = keda_triggers(rendered, component)
        assert {t["type"] for t in triggers} == {"redis-cluster-streams"}
        assert sorted(t["metadata"]["stream"] for t in triggers) == sorted(names * 2)  # lag and pending, each
        for trigger in triggers:
            assert trigger["metadata"]["addresses"] == f"{ext['host']}:{ext['port']}"
            assert "databaseIndex" not in trigger["metadata"]
        assert len({t["name"] for t in triggers}) == len(triggers)


def test_the_charts_shard_tags_are_the_mempools() -> None:
    text = (CHART / "templates" / "_shards.tpl").read_text()
    table = json.loads(re.search(r'define "ax0n.shardTags" -}}\n(.*)\n', text).group(1))
    assert table == {str(n): [streams.shard_tag(i, n) for i in range(n)] for n in range(2, 17)}


# ---- validator, settler, redis, collector -----------------------------------------------------------------------


def test_settler_runs_two_replicas_and_no_pod_gets_an_api_token(render) -> None:
    rendered = render({})
    assert not [o for o in rendered.objects if o["kind"] in {"Role", "RoleBinding", "ClusterRole"}]
    settler = rendered.component("Deployment", "settler")
    assert settler["spec"]["replicas"] == 2
    assert env(settler)["AX0N_LEASE_S"] == "30"
    assert rendered.get("ServiceAccount", f"{RELEASE}-ax0n")["automountServiceAccountToken"] is False
    for workload in ax0n_workloads(rendered):
        assert workload["spec"]["template"]["spec"]["serviceAccountName"] == f"{RELEASE}-ax0n"


def test_redis_runs_with_aof_on_a_volume(render) -> None:
    rendered = render({})
    conf = rendered.component("ConfigMap", "redis-config")["data"]["redis.conf"].splitlines()
    assert "appendonly yes" in conf and "appendfsync everysec" in conf and "dir /data" in conf
    redis = rendered.component("StatefulSet", "redis")
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert container(redis)["volumeMounts"][0] == {"name": claim["metadata"]["name"], "mountPath": "/data"}
    assert container(redis)["args"] == ["/etc/redis/redis.conf"]  # the users, the administrator's too: the ACL file
    assert "aclfile /run/redis-acl/users.acl" in conf


def test_traces_go_to_the_collector(render) -> None:
    rendered = render(VALUE_SETS["gpu"])
    endpoint = urlsplit(rendered.get("ConfigMap", f"{RELEASE}-ax0n-env")["data"]["AX0N_OTLP_ENDPOINT"])
    collector = rendered.component("Service", "otel-collector")
    assert endpoint.hostname == f"{collector['metadata']['name']}.{NAMESPACE}.svc"
    assert endpoint.port in {p["port"] for p in collector["spec"]["ports"] if p["name"] == "otlp-grpc"}
    config = rendered.component("ConfigMap", "otel-collector")["data"]["config.yaml"]
    assert 'endpoint: "tempo.monitoring.svc:4317"' in config
    assert "exporters: [otlp]" in config
    assert "exporters: [debug]" in render({}).component("ConfigMap", "otel-collector")["data"]["config.yaml"]
    minimal = render(VALUE_SETS["minimal"])
    assert minimal.get("ConfigMap", f"{RELEASE}-ax0n-env")["data"]["AX0N_OTLP_ENDPOINT"] == ""
    assert not [o for o in minimal.objects if "otel" in o["metadata"]["name"]]


# ---- network policies, monitoring, helm test, NOTES -------------------------------------------------------------


def test_network_policies_cover_every_pod(render) -> None:
    rendered = render({})
    policies = rendered.of("NetworkPolicy")
    for workload in [*workloads(rendered), rendered.component("Deployment", "otel-collector")]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(matches(p["spec"]["podSelector"]["matchLabels"], labels) for p in policies), workload["metadata"][
            "name"
        ]
    release_only = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}}
    redis = rendered.component("NetworkPolicy", "redis")["spec"]["ingress"][0]
    assert redis["from"] == [
        release_only,
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}},
    ]
    for service in ("executor", "prover", "validator", "settler"):
        grpc_rule = rendered.component("NetworkPolicy", service)["spec"]["ingress"][0]
        assert grpc_rule == {"ports": [{"port": DEFAULT_PORTS[service], "protocol": "TCP"}], "from": [release_only]}
    assert render(VALUE_SETS["minimal"]).of("NetworkPolicy") == []


def test_service_monitor_scrapes_every_service(render) -> None:
    rendered = render(VALUE_SETS["gpu"])
    monitor = rendered.get("ServiceMonitor", f"{RELEASE}-ax0n")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    expressions = monitor["spec"]["selector"]["matchExpressions"]
    scraped = [
        s
        for s in rendered.of("Service")
        if all(s["metadata"]["labels"].get(e["key"]) in e["values"] for e in expressions)
        and "metrics" in {p["name"] for p in s["spec"]["ports"]}
    ]
    assert sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in scraped) == sorted(SERVICES)
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert render({}).of("ServiceMonitor") == []


def test_grafana_dashboard_queries_real_metrics(render) -> None:
    dashboard = render({}).get("ConfigMap", f"{RELEASE}-ax0n-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["ax0n.json"])
    exported = {
        m.describe()[0].name
        for m in (telemetry.MEMPOOL_HANDLED, telemetry.MEMPOOL_FAILED, telemetry.MEMPOOL_DEAD, telemetry.MEMPOOL_LATENCY,
                  telemetry.MEMPOOL_DEPTH, telemetry.RPC_LATENCY)
    }  # fmt: skip
    used = {
        name
        for panel in board["panels"]
        for t in panel["targets"]
        for name in re.findall(r"\b(ax0n_[a-z_]+)", t["expr"])
    }
    assert used
    for name in used:
        assert re.sub(r"_(total|bucket|sum|count)$", "", name) in exported, f"dashboard queries unknown metric {name}"


def test_helm_test_checks_grpc_health_of_every_service(render) -> None:
    for name, values in VALUE_SETS.items():
        rendered = render(values)
        pod = rendered.get("Pod", f"{RELEASE}-ax0n-test-grpc-health")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        spec = pod["spec"]["containers"][0]
        assert spec["command"] == ["ax0n-healthcheck"]
        services = [rendered.component("Service", s)["metadata"]["name"] for s in DEFAULT_PORTS]
        expected = [f"{svc}.{NAMESPACE}.svc:{p}" for svc, p in zip(services, DEFAULT_PORTS.values(), strict=True)]
        if rendered.of("Service") and any(
            s["metadata"]["name"].endswith("-reexecutor") for s in rendered.of("Service")
        ):
            expected.append(f"{RELEASE}-ax0n-reexecutor.{NAMESPACE}.svc:50056")
        assert spec["args"] == expected, name
    reexec = render(
        merged(VALUE_SETS["default"], {"validator": {"reexecutor": {"callerKeys": {"existingSecret": "c"}}}})
    )
    args = reexec.get("Pod", f"{RELEASE}-ax0n-test-grpc-health")["spec"]["containers"][0]["args"]
    assert args[-1] == f"{RELEASE}-ax0n-reexecutor.{NAMESPACE}.svc:50056"


def test_notes_tell_how_to_reach_the_router(render) -> None:
    notes = render({}).notes
    assert f"port-forward svc/{RELEASE}-ax0n-router {DEFAULT_PORTS['router']} {DEFAULT_ROUTER_HTTP_PORT}" in notes
    lb = render(VALUE_SETS["gpu"]).notes
    stream = streams.requests_stream("gpu-a100")
    assert "loadBalancer.ingress" in lb and f"scale with KEDA on stream {stream}, group executors" in lb


def test_containers_run_as_non_root_with_read_only_root(render) -> None:
    for workload in workloads(render(VALUE_SETS["gpu"])):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        sc = container(workload)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False


# ---- values.schema.json -----------------------------------------------------------------------------------------

BAD_VALUES = {
    "port not a number": {"router": {"port": "50051"}},
    "port out of range": {"executor": {"port": 70000}},
    "negative GPUs": {"models": [{**CPU_MODEL, "gpu": {"count": -1}}]},
    "model without weights": {"models": [{k: v for k, v in CPU_MODEL.items() if k != "weights"}]},
    "weights from both a volume and a URL": {
        "models": [{**CPU_MODEL, "weights": {"url": "https://m.example/t.tar", "pvc": {"claimName": "m"}}}]
    },
    "commitment too short": {"models": [{**CPU_MODEL, "commitment": "0x1234"}]},
    "unknown dtype": {"models": [{**CPU_MODEL, "dtype": "int4"}]},
    "unknown autoscaling mode": {"executor": {"autoscaling": {"mode": "magic"}}},
    "unknown top-level key": {"exectuor": {"replicas": 2}},
    "unknown service key": {"router": {"replica": 2}},
    "unknown profile": {"profile": "testnet"},
    "external redis without host": {"redis": {"enabled": False}},
    "badly named validator key": {"validator": {"keys": {"inline": {"bls.key": "00"}}}},
    "zero validators": {"validator": {"replicas": 0}},
    "service type": {"router": {"service": {"type": "Ingress"}}},
    "redis password needing URL escapes": {"redis": {"auth": {"password": "p@ss/word"}}},
    "executor cluster with a colon": {"executor": {"cluster": "a:b"}},
    "settlement address not an address": {"settler": {"settlementAddress": "0x1234"}},
    "chain id zero": {"chainId": 0},
    "node id too short": {"executor": {"nodeId": "0x" + "ab" * 31}},
    "node id not hex": {"executor": {"nodeId": "0x" + "zz" * 32}},
    "deployment ConfigMap not a DNS name": {"deployment": {"configMap": "Ax0n_Deployment"}},
    "deployment key with a slash": {"deployment": {"configMap": "ax0n-deployment", "key": "a/deployment.json"}},
    "router registry file (not a chart value)": {"router": {"registry": {"configMap": "ax0n-registry"}}},
    "redis cluster with a database": {
        "redis": {"enabled": False},
        "externalRedis": {"host": "r", "cluster": True, "database": 1},
    },
    "no shards": {"mempool": {"shards": 0}},
    "more shards than tabled": {"mempool": {"shards": 17}},
    "TLS Secret for an unknown service": {"grpcTLS": {"existingSecrets": {"redis": "my-tls"}}},
    "TLS Secret name not a DNS name": {"grpcTLS": {"existingSecrets": {"router": "My_TLS"}}},
    "Redis user for an unknown role": {"externalRedis": {"userSecrets": {"admin": "ax0n-redis-admin"}}},
    "health port out of range": {"probes": {"healthPort": 70000}},
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_schema_rejects_wrong_values(chart, case: str) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        chart.render(BAD_VALUES[case], name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_schema_accepts_the_shipped_values(chart, name: str) -> None:
    chart.validate_schema(chart.merge_values(VALUE_SETS[name]))


def test_extra_env_volumes_and_redis_peers_reach_the_pods(render) -> None:
    extra = {
        "extraEnv": [{"name": "HF_HOME", "value": "/var/lib/ax0n/cache"}],
        "extraVolumes": [{"name": "cache", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "cache", "mountPath": "/var/lib/ax0n/cache"}],
    }
    peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "ax0n-l4"}}}
    rendered = render(merged(VALUE_SETS["gpu"], {"executor": extra, "networkPolicy": {"redisFrom": [peer]}}))
    executor = rendered.component("Deployment", "executor")
    assert env(executor)["HF_HOME"] == "/var/lib/ax0n/cache"
    assert extra["extraVolumes"][0] in executor["spec"]["template"]["spec"]["volumes"]
    assert extra["extraVolumeMounts"][0] in container(executor)["volumeMounts"]
    assert peer in rendered.component("NetworkPolicy", "redis")["spec"]["ingress"][0]["from"]


def test_scale_to_zero_only_with_keda(render) -> None:
    """KEDA can activate from zero replicas on stream lag; an HPA cannot go below one."""
    zero = {**VALUE_SETS["default"], "executor": {"autoscaling": {"minReplicas": 0}}}
    assert (
        render(merged(zero, {"executor": {"autoscaling": {"mode": "hpa"}}})).component(
            "HorizontalPodAutoscaler", "executor"
        )["spec"]["minReplicas"]
        == 1
    )
    assert render(merged(zero, KEDA)).component("ScaledObject", "executor")["spec"]["minReplicaCount"] == 0


def test_service_specific_settings_are_wired(render) -> None:
    """Values reach the settings the services declare (router, prover, validator, settler)."""
    address = "0x" + "ab" * 20
    rendered = render(
        {
            "chainId": 11155111,
            "router": {"apiKeys": {"existingSecret": "ax0n-api-keys"}},
            "prover": {"proveConcurrency": 4, "artifacts": {"existingClaim": "ax0n-zk-artifacts"}},
            "settler": {"settlementAddress": address},
        }
    )
    assert rendered.get("ConfigMap", f"{RELEASE}-ax0n-env")["data"]["AX0N_CHAIN_ID"] == "11155111"
    router = rendered.component("Deployment", "router")
    mounts = {m["name"]: m["mountPath"] for m in container(router)["volumeMounts"]}
    volumes = {v["name"]: v for v in router["spec"]["template"]["spec"]["volumes"]}
    assert env(router)["AX0N_API_KEYS_FILE"] == f"{mounts['api-keys']}/api-keys.json"
    assert volumes["api-keys"]["secret"]["secretName"] == "ax0n-api-keys"
    prover = rendered.component("Deployment", "prover")
    assert env(prover)["AX0N_PROVE_CONCURRENCY"] == "4"
    artifacts = next(v for v in prover["spec"]["template"]["spec"]["volumes"] if v["name"] == "artifacts")
    assert artifacts["persistentVolumeClaim"] == {"claimName": "ax0n-zk-artifacts", "readOnly": True}
    # validators check zk-tier proofs against the same ceremony keys, mounted read-only where artifacts look
    validator = rendered.component("StatefulSet", "validator")
    shared = next(v for v in validator["spec"]["template"]["spec"]["volumes"] if v["name"] == "artifacts")
    assert shared["persistentVolumeClaim"] == {"claimName": "ax0n-zk-artifacts", "readOnly": True}
    mount = next(m for m in container(validator)["volumeMounts"] if m["name"] == "artifacts")
    assert mount["readOnly"] and env(validator)["AX0N_ARTIFACTS_DIR"] == mount["mountPath"]
    assert "AX0N_ZK_TIER" not in env(validator)
    artifacts_mount = next(m for m in container(prover)["volumeMounts"] if m["name"] == "artifacts")
    assert env(prover)["AX0N_ARTIFACTS_DIR"] == artifacts_mount["mountPath"]
    validator = env(rendered.component("StatefulSet", "validator"))
    assert not {"AX0N_EXECUTOR_TARGET", "AX0N_REEXECUTOR_TARGET"} & set(validator)  # never the judged executors
    assert validator["AX0N_AGGREGATE"] == "true"
    settler = env(rendered.component("Deployment", "settler"))
    assert settler["AX0N_SETTLEMENT_ADDRESS"] == address
    three = render({"validator": {"replicas": 3}})
    sts = three.component("StatefulSet", "validator")
    pods = [f"{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}.{NAMESPACE}.svc" for i in range(3)]
    port = DEFAULT_PORTS["validator"]
    assert env(three.component("Deployment", "settler"))["AX0N_VALIDATOR_TARGETS"] == ",".join(
        f"{pod}:{port}" for pod in pods
    )  # every validator pod signs batches for the keys it holds
    defaults = render({})
    volumes = defaults.component("Deployment", "prover")["spec"]["template"]["spec"]["volumes"]
    assert "emptyDir" in next(v for v in volumes if v["name"] == "artifacts")


def test_without_shared_artifacts_validators_abstain_on_the_zk_tier(render, monkeypatch) -> None:
    """No artifacts claim: a validator's own setup would not match the provers' keys, so it does not check zk
    proofs (and never builds a setup); NOTES say zk-tier requests will not be certified."""
    rendered = render({})
    validator = rendered.component("StatefulSet", "validator")
    assert "AX0N_ARTIFACTS_DIR" not in env(validator)
    assert "artifacts" not in {v["name"] for v in validator["spec"]["template"]["spec"]["volumes"]}
    settings = settings_from(settings_class("validator"), env(validator), monkeypatch)
    assert settings.zk_tier is False
    assert "validators abstain" in rendered.notes and "zk-tier requests are never certified" in rendered.notes


# ---- the registry from the chain, heartbeats: env names are the services' settings fields --------------------------

# Each service's settings class (module, class); importing the executor's loads torch (~7 s), so it happens on use.
SETTINGS = {
    "router": ("ax0n_router.settings", "RouterSettings"),
    "executor": ("ax0n_executor.server", "ExecutorSettings"),
    "prover": ("ax0n_prover.settings", "ProverSettings"),
    "validator": ("ax0n_validator.server", "ValidatorSettings"),
    "settler": ("ax0n_settler.settings", "SettlerSettings"),
}
# AX0N_* variables a service gets but that are no field of its settings, each for a stated reason.
NOT_SETTINGS = {
    "AX0N_REDIS_USERNAME",  # expanded into AX0N_REDIS_URL by the kubelet
    "AX0N_REDIS_PASSWORD",  # likewise
    "AX0N_LOG_LEVEL",  # read by ax0n.runtime.service itself
}
UNREAD = {
    # AX0N_ARTIFACTS_DIR is read by ax0n.zk.artifacts from the environment; AX0N_CHAIN_ID comes with the shared
    # ConfigMap, which reaches every container.
    "prover": {"AX0N_ARTIFACTS_DIR", "AX0N_CHAIN_ID"},
    "validator": {"AX0N_ARTIFACTS_DIR"},
    "settler": {"AX0N_CHAIN_ID"},
}
RPC_URL = "https://eth.example/v2/secret-api-key"  # what the user's envFromSecret Secret holds
OPERATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # ci/gpu-values.yaml's nodeId is keccak256 of it
SIGNING_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # a key other than the operator's


def settings_class(service: str) -> type[ServiceSettings]:
    module, name = SETTINGS[service]
    return getattr(importlib.import_module(module), name)


def settings_from(cls: type[ServiceSettings], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings as it parses them from exactly `environ` (no AX0N_* variable of this process)."""
    for name in [n for n in os.environ if n.startswith("AX0N_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return cls()


def full_values() -> dict[str, Any]:
    """The GPU values plus every optional setting that renders an AX0N_* variable."""
    return merged(
        VALUE_SETS["gpu"],
        {
            "router": {"apiKeys": {"existingSecret": "ax0n-api-keys"}},
            "prover": {"artifacts": {"existingClaim": "ax0n-zk-artifacts"}},
        },
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_rendered_variable_is_a_settings_field(render, service: str) -> None:
    """Every AX0N_* name a container gets (env and the shared ConfigMap) names a field of the service's settings."""
    rendered = render(full_values())
    workload = rendered.component("StatefulSet" if service == "validator" else "Deployment", service)
    names = {e["name"] for e in container(workload)["env"]}
    for source in container(workload)["envFrom"]:
        if "configMapRef" in source:
            names |= set(rendered.get("ConfigMap", source["configMapRef"]["name"])["data"])
    fields = {f"AX0N_{field.upper()}" for field in settings_class(service).model_fields}
    unread = {n for n in names if n.startswith("AX0N_")} - fields
    assert unread == NOT_SETTINGS | UNREAD.get(service, set())


def test_router_and_validators_read_the_registry_from_the_chain(render, tmp_path: Path, monkeypatch) -> None:
    """deployment.configMap is mounted read-only where AX0N_DEPLOYMENT points; AX0N_RPC_URL comes from the Secret."""
    values = merged(VALUE_SETS["gpu"], {"deployment": {"key": "mainnet.json"}})
    rendered = render(values)
    manifest = DeploymentManifest(
        chain_id=values["chainId"], block=7, deployer=OPERATOR, treasury=OPERATOR, verifier="Batch16Verifier",
        addresses={"NodeRegistry": "0x" + "11" * 20},
    )  # fmt: skip
    for kind, service in (("Deployment", "router"), ("StatefulSet", "validator")):
        workload = rendered.component(kind, service)
        c = container(workload)
        (mount,) = [m for m in c["volumeMounts"] if m["name"] == "deployment"]
        assert mount["readOnly"] is True
        (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "deployment"]
        assert volume["configMap"] == {
            "name": "ax0n-deployment",
            "items": [{"key": "mainnet.json", "path": "mainnet.json"}],
        }
        assert {"secretRef": {"name": values["envFromSecret"]}} in c["envFrom"]
        environ = {**pod_env(rendered, workload, f"{workload['metadata']['name']}-0"), "AX0N_RPC_URL": RPC_URL}
        settings = settings_from(settings_class(service), environ, monkeypatch)
        assert (settings.rpc_url, settings.chain_id) == (RPC_URL, values["chainId"])
        assert settings.deployment == f"{mount['mountPath']}/{volume['configMap']['items'][0]['path']}"
        # Chain mode: neither file source is set (the router's registry file, the validators' snapshot files).
        assert getattr(settings, "registry_file", "") == getattr(settings, "snapshots_dir", "") == ""
        # The file the kubelet projects (mount path / item path) is the one the service loads.
        projected = tmp_path / service / volume["configMap"]["items"][0]["path"]
        projected.parent.mkdir()
        manifest.save(projected)
        assert DeploymentManifest.load(settings.deployment.replace(mount["mountPath"], str(projected.parent))) == (
            manifest
        )
    for configmap in rendered.of("ConfigMap"):
        assert not [k for k in configmap["data"] if "RPC_URL" in k], "the RPC URL belongs in the Secret only"
    assert "deployment.configMap is empty" not in rendered.notes
    assert f'read AX0N_RPC_URL from Secret "{values["envFromSecret"]}"' in rendered.notes


def test_without_a_deployment_nothing_is_mounted_and_notes_say_what_is_missing(render) -> None:
    rendered = render({})
    for kind, service in (("Deployment", "router"), ("StatefulSet", "validator")):
        workload = rendered.component(kind, service)
        assert "AX0N_DEPLOYMENT" not in env(workload)
        assert "deployment" not in {v["name"] for v in workload["spec"]["template"]["spec"]["volumes"]}
    assert "deployment.configMap is empty: the router and the validators cannot read the registry" in rendered.notes
    assert "envFromSecret is empty: no container gets AX0N_RPC_URL" in rendered.notes
    assert "executor.nodeId is empty" in rendered.notes
    assert "deployment.configMap is empty: the validators cannot" in render({"router": {"enabled": False}}).notes


def test_executor_heartbeats_name_the_operator_routing_id(render, monkeypatch) -> None:
    """executor.nodeId reaches the executor's settings as the routing id its signed heartbeats name."""
    values = VALUE_SETS["gpu"]
    operator_id = keccak(to_bytes(hexstr=OPERATOR))
    assert values["executor"]["nodeId"] == "0x" + operator_id.hex()
    cls = settings_class("executor")
    for node_id in (values["executor"]["nodeId"], operator_id.hex()):  # 0x is optional
        rendered = render(merged(values, {"executor": {"nodeId": node_id}}))
        executor = rendered.component("Deployment", "executor")
        environ = {**pod_env(rendered, executor, "mesh-ax0n-executor-0"), "AX0N_NODE_KEY": SIGNING_KEY}
        settings = settings_from(cls, environ, monkeypatch)
        assert settings.routing_node_id() == operator_id
        assert settings.chain_id == values["chainId"]  # the heartbeat's EIP-712 domain, from the shared ConfigMap
        assert settings.stats_params() == stats.PROFILES[values.get("profile", "mainnet")]  # the profile's interval
    # Without nodeId the executor falls back to its node key's address: another id when that key is not the operator's.
    rendered = render(VALUE_SETS["default"])
    executor = rendered.component("Deployment", "executor")
    assert "AX0N_NODE_ID" not in env(executor)
    environ = {**pod_env(rendered, executor, "mesh-ax0n-executor-0"), "AX0N_NODE_KEY": SIGNING_KEY}
    fallback = settings_from(cls, environ, monkeypatch).routing_node_id()
    assert fallback == keccak(to_bytes(hexstr=Account.from_key(SIGNING_KEY).address)) != operator_id


def test_validators_serve_signed_calls_only_from_the_allowed_settler(render) -> None:
    """validator.allowedCallers reaches AX0N_ALLOWED_CALLERS; left empty, NOTES say no batch will settle."""
    settler = "0x" + "5e" * 20
    rendered = render({"validator": {"allowedCallers": [settler, "0x" + "5f" * 20]}})
    allowed = env(rendered.component("StatefulSet", "validator"))["AX0N_ALLOWED_CALLERS"]
    assert allowed == f"{settler},0x{'5f' * 20}"
    assert "validator.allowedCallers is empty" not in rendered.notes
    assert "validator.allowedCallers is empty" in render({}).notes
    assert env(render({}).component("StatefulSet", "validator"))["AX0N_ALLOWED_CALLERS"] == ""


# ---- Redis users from the one rule source, gRPC TLS --------------------------------------------------------------


def test_chart_redis_users_are_ax0n_acl_rules(render) -> None:
    """files/redis-acl.yaml is what ax0n_tools.chart_acl writes from ax0n/mempool/acl.py (regenerate it with
    `python -m ax0n_tools.chart_acl` when this fails); the rendered ConfigMap carries those rules, a Secret each."""
    from ax0n_tools import chart_acl

    assert chart_acl.CHART_FILE.read_text() == chart_acl.chart_file()
    rendered = render({})
    rules = rendered.component("ConfigMap", "redis-acl")["data"]
    assert rules == {role: " ".join(acl.rules(role)) for role in acl.ROLES}
    passwords = set()
    for role in acl.ROLES:
        data = rendered.component("Secret", f"redis-{role}")["data"]
        assert base64.b64decode(data["username"]).decode() == role
        passwords.add(data["password"])
    assert len(passwords) == len(acl.ROLES)  # no two roles share a password
    (init,) = rendered.component("StatefulSet", "redis")["spec"]["template"]["spec"]["initContainers"]
    assert {e["name"] for e in init["env"]} == {"REDIS_PASSWORD", *(f"PASSWORD_{r.upper()}" for r in acl.ROLES)}


def test_every_service_serves_grpc_over_tls_with_its_own_certificate(render) -> None:
    from cryptography import x509

    reexecutor = {"callerKeys": {"existingSecret": "callers"}}
    rendered = render({**VALUE_SETS["default"], "validator": {"replicas": 3, "reexecutor": reexecutor}})
    ca = x509.load_pem_x509_certificate(base64.b64decode(rendered.component("Secret", "grpc-ca")["data"]["tls.crt"]))
    for service in [*SERVICES, "reexecutor"]:
        workload = rendered.component("StatefulSet" if service == "validator" else "Deployment", service)
        name = rendered.component("Service", service)["metadata"]["name"]
        (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "grpc-tls"]
        assert volume["secret"]["secretName"] == f"{name}-tls"  # its own key, no other's
        data = rendered.get("Secret", volume["secret"]["secretName"])["data"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        cert.verify_directly_issued_by(ca)
        assert base64.b64decode(data["ca.crt"]) == base64.b64decode(
            rendered.component("Secret", "grpc-ca")["data"]["tls.crt"]
        )
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
        assert f"{name}.{NAMESPACE}.svc" in names
        e = env(workload)
        assert (e["AX0N_TLS_CERT_FILE"], e["AX0N_TLS_KEY_FILE"], e["AX0N_TLS_CA_FILE"]) == (
            "/etc/ax0n/tls/tls.crt", "/etc/ax0n/tls/tls.key", "/etc/ax0n/tls/ca.crt"
        )  # fmt: skip
    # the settler dials each validator pod by its headless name: the validator's certificate covers them
    validator = x509.load_pem_x509_certificate(
        base64.b64decode(rendered.component("Secret", "validator-tls")["data"]["tls.crt"])
    )
    wildcard = f"*.{RELEASE}-ax0n-validator-headless.{NAMESPACE}.svc"
    assert wildcard in validator.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    for target in env(rendered.component("Deployment", "settler"))["AX0N_VALIDATOR_TARGETS"].split(","):
        assert target.split(":")[0].split(".", 1)[1] == wildcard[2:]
    # the helm test checks every service over TLS against the CA
    (pod,) = rendered.of("Pod")
    assert {"name": "AX0N_TLS_CA_FILE", "value": "/etc/ax0n/tls/ca.crt"} in pod["spec"]["containers"][0]["env"]
    # existing Secrets (e.g. cert-manager's) replace the generated ones; TLS off renders none
    servers = [s for s in SERVICES if s != "executor"] + ["executor-tiny"]  # the executor: each model's pool
    mine = render({**VALUE_SETS["default"], "grpcTLS": {"existingSecrets": {s: f"cm-{s}" for s in servers}}})
    assert not [s for s in mine.of("Secret") if s["metadata"]["name"].endswith(("-tls", "-grpc-ca"))]
    router = mine.component("Deployment", "router")
    assert {v["name"]: v for v in router["spec"]["template"]["spec"]["volumes"]}["grpc-tls"]["secret"][
        "secretName"
    ] == "cm-router"
    plain = render({"grpcTLS": {"enabled": False}})
    assert "AX0N_TLS_CERT_FILE" not in env(plain.component("Deployment", "router"))


def test_external_redis_users_from_their_secrets(render) -> None:
    """With an external Redis, each role connects as the user in its Secret; roles without one share the password,
    and NOTES say which."""
    users = {role: f"ax0n-redis-{role}" for role in acl.ROLES}
    rendered = render(merged(VALUE_SETS["minimal"], {"externalRedis": {"userSecrets": users}}, KEDA))
    for workload in ax0n_workloads(rendered):
        own = users[workload["metadata"]["labels"]["app.kubernetes.io/component"]]
        e = env(workload)
        assert e["AX0N_REDIS_USERNAME"] == {"secretKeyRef": {"name": own, "key": "username"}}
        assert urlsplit(e["AX0N_REDIS_URL"]).username == "$(AX0N_REDIS_USERNAME)"
    auth = rendered.component("TriggerAuthentication", "executor-redis")
    assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {users["stats"]}
    assert "externalRedis.userSecrets names no Redis user" not in rendered.notes
    assert (
        "names no Redis user for: router, executor, prover, validator, settler, stats"
        in render(VALUE_SETS["minimal"]).notes
    )
