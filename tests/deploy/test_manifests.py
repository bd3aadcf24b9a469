"""deploy/k8s: each overlay renders with `kubectl kustomize` and validates offline against the Kubernetes schemas,
and the rendered objects keep the promises docs/operations.md makes (one signer, one beat, probes, secrets by
reference, limits on every container)."""

import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.urls import resolve

from tests.workers import ROOT

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"  # the kubectl here; the schemas of the cluster version the manifests target
OVERLAYS = ["demo", "production"]
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}  # Prometheus Operator CRDs: checked below, not by the schemas


def rendered(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.fail("kubectl is needed to render deploy/k8s (it ships with the CI image)")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request):
    return rendered(request.param)


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(obj):
    spec = obj["spec"]["template"]["spec"] if obj["kind"] in {"Deployment", "Job"} else {}
    return spec.get("containers", [])


def test_every_object_validates_against_the_kubernetes_schemas(objects):
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_container_runs_unprivileged_with_requests_and_limits(objects):
    for obj in [*by_kind(objects, "Deployment").values(), *by_kind(objects, "Job").values()]:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        for container in pod["containers"]:
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), obj["metadata"]["name"]
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), obj["metadata"]["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_one_worker_deployment_per_queue_and_a_single_signer(objects):
    served = {}
    for name, deployment in by_kind(objects, "Deployment").items():
        for container in containers(deployment):
            args = container.get("args", [])
            if args[:4] == ["celery", "-A", "govtrack", "worker"]:
                queues = args[args.index("-Q") + 1].split(",")
                for queue in queues:
                    served.setdefault(queue, []).append((name, deployment, args))
    assert sorted(served) == sorted(settings.TASK_QUEUES)
    assert all(len(deployments) == 1 for deployments in served.values()), served
    (name, signer, args) = served["chain"][0]
    assert signer["spec"]["replicas"] == 1 and signer["spec"]["strategy"]["type"] == "Recreate"
    assert args[args.index("--concurrency") + 1] == "1"
    # Only the signer's pod has the key.
    for other, deployment in by_kind(objects, "Deployment").items():
        volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
        has_key = any(v.get("secret", {}).get("secretName") == "govtrack-signer" for v in volumes)
        assert has_key == (other == name), other


def test_one_beat_never_two(objects):
    beat = by_kind(objects, "Deployment")["govtrack-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"


def test_web_probes_reach_the_health_views_and_scale_with_a_budget(objects):
    web = by_kind(objects, "Deployment")["govtrack-web"]
    (container,) = containers(web)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert resolve("/healthz").url_name == "healthz" and resolve("/readyz").url_name == "readyz"
    assert (
        by_kind(objects, "HorizontalPodAutoscaler")["govtrack-web"]["spec"]["scaleTargetRef"]["name"] == "govtrack-web"
    )
    assert "govtrack-web" in by_kind(objects, "PodDisruptionBudget")


def test_web_and_workers_go_through_pgbouncer_in_transaction_mode(objects):
    config = by_kind(objects, "ConfigMap")
    assert config["govtrack-config"]["data"]["DB_PGBOUNCER_TRANSACTION_MODE"] == "1"
    ini = config["govtrack-pgbouncer"]["data"]["pgbouncer.ini"]
    assert "pool_mode = transaction" in ini.splitlines()
    migrate = by_kind(objects, "Job")["govtrack-migrate"]
    (container,) = containers(migrate)
    database = next(e for e in container["env"] if e["name"] == "DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"]["key"] == "DATABASE_DIRECT_URL"  # migrations bypass PgBouncer


def test_the_servicemonitor_scrapes_the_web_service_with_the_metrics_token(objects):
    monitor = by_kind(objects, "ServiceMonitor")["govtrack"]
    service = by_kind(objects, "Service")["govtrack-web"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and resolve("/metrics").url_name == "metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "govtrack-secrets", "key": "METRICS_TOKEN"}


def test_production_references_secrets_it_does_not_carry():
    objects = rendered("production")
    assert by_kind(objects, "Secret") == {}
    referenced = set()
    for obj in [*by_kind(objects, "Deployment").values(), *by_kind(objects, "Job").values()]:
        pod = obj["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for env in container.get("env", []):
                if "secretKeyRef" in env.get("valueFrom", {}):
                    referenced.add(env["valueFrom"]["secretKeyRef"]["name"])
        referenced |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    assert referenced == {"govtrack-secrets", "govtrack-signer", "govtrack-pgbouncer"}
    assert {o["metadata"].get("namespace") for o in objects} == {"govtrack"}
