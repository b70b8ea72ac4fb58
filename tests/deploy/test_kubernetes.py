"""The Kubernetes manifests: rendered (base and the example overlay) and validated against the
Kubernetes schemas, plus the properties an operator relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import UnsupportedKustomization, render

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
BASE, OVERLAY = ROOT / "base", ROOT / "overlays" / "example"
KUBERNETES_VERSION = "1.33"
# A CustomResourceDefinition's schema ships with its operator, not with kubernetes-validate;
# the ServiceMonitor is checked structurally instead (test_servicemonitor_scrapes_the_web_service).
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
WORKLOADS = {"vmcp-web", "vmcp-worker", "vmcp-beat", "vmcp-migrate"}


def by_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


@pytest.fixture(scope="module", params=["base", "overlay"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(BASE if request.param == "base" else OVERLAY)


def test_every_object_validates_against_the_kubernetes_schemas(docs):
    validated = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        # strict: an unknown or misspelt field is an error, not silently dropped.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        validated.append(doc["kind"])
    assert set(validated) >= {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    }
    assert len(validated) == len(docs) - 1  # all but the one ServiceMonitor


def test_the_validator_rejects_a_misspelt_field():
    deployment = by_name(render(BASE))[("Deployment", "vmcp-web")]
    pod_spec(deployment)["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_renderer_agrees_with_kubectl_kustomize_where_kubectl_exists():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (not in Debian's packages); the renderer stands in")
    for directory in (BASE, OVERLAY):
        out = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True
        ).stdout
        theirs = [doc for doc in yaml.safe_load_all(out) if doc]
        assert by_name(render(directory)) == by_name(theirs)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: prod-\n")
    with pytest.raises(UnsupportedKustomization, match="namePrefix"):
        render(tmp_path)


def test_web_has_probes_an_hpa_a_pdb_and_a_service_that_select_its_pods(docs):
    objects = by_name(docs)
    web = objects[("Deployment", "vmcp-web")]
    pod_labels = web["spec"]["template"]["metadata"]["labels"]
    container = pod_spec(web)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Host validation: the kubelet would send the pod IP, which ALLOWED_HOSTS does not list.
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["httpHeaders"] == [
            {"name": "Host", "value": "localhost"}
        ]
    assert "localhost" in objects[("ConfigMap", "vmcp-config")]["data"]["ALLOWED_HOSTS"].split(",")
    assert "replicas" not in web["spec"]  # the HPA owns it
    hpa = objects[("HorizontalPodAutoscaler", "vmcp-web")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "vmcp-web",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = objects[("PodDisruptionBudget", "vmcp-web")]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    for selector in (
        pdb["spec"]["selector"]["matchLabels"],
        objects[("Service", "vmcp-web")]["spec"]["selector"],
    ):
        assert selector.items() <= pod_labels.items()


def test_beat_is_one_replica_replaced_not_rolled(docs):
    beat = by_name(docs)[("Deployment", "vmcp-beat")]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert pod_spec(beat)["containers"][0]["args"][:4] == ["celery", "-A", "vmcp_platform", "beat"]


def test_migration_job_runs_migrate_schemas_once(docs):
    job = by_name(docs)[("Job", "vmcp-migrate")]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert pod_spec(job)["containers"][0]["args"] == [
        "python",
        "manage.py",
        "migrate_schemas",
        "--executor=standard",
    ]


def test_every_workload_is_non_root_read_only_bounded_and_reads_secrets_from_files(docs):
    objects = by_name(docs)
    workloads = [
        doc
        for doc in docs
        if doc["metadata"]["name"] in WORKLOADS and "template" in doc.get("spec", {})
    ]
    assert {doc["metadata"]["name"] for doc in workloads} == WORKLOADS
    config = objects[("ConfigMap", "vmcp-config")]["data"]
    secret = objects[("Secret", "vmcp-secrets")]
    assert config["DJANGO_SETTINGS_MODULE"] == "vmcp_platform.settings.production"
    for doc in workloads:
        spec = pod_spec(doc)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        mounts = {}
        for container in spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
            assert "env" not in container  # no secret value in the environment
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "vmcp-secrets"
        assert "emptyDir" in volumes["tmp"]  # the only writable path
        for name in ("SECRET_KEY", "VMCP_MASTER_KEYS", "DATABASE_URL", "REDIS_URL"):
            assert name in secret["stringData"] and name not in config
            assert config[f"{name}_FILE"] == f"{mounts['secrets']}/{name}"


def test_the_secret_is_marked_as_example_values(docs):
    secret = by_name(docs)[("Secret", "vmcp-secrets")]
    assert "example" in " ".join(secret["metadata"]["annotations"]).lower()
    assert all(
        "example" in value.lower() or value.startswith("1:")
        for value in secret["stringData"].values()
    )
    assert "EXAMPLE-ONLY" in secret["stringData"]["SECRET_KEY"]
    assert "example.internal" in secret["stringData"]["DATABASE_URL"]  # external PostgreSQL


def test_servicemonitor_scrapes_the_web_service(docs):
    objects = by_name(docs)
    monitor = objects[("ServiceMonitor", "vmcp-web")]
    service = objects[("Service", "vmcp-web")]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert set(endpoint) <= {
        "port",
        "path",
        "interval",
        "scrapeTimeout",
        "bearerTokenSecret",
        "scheme",
    }


def test_the_overlay_pins_the_image_and_namespaces_everything():
    docs = render(OVERLAY)
    images = {
        c["image"]
        for doc in docs
        if "template" in doc.get("spec", {})
        for c in pod_spec(doc)["containers"]
    }
    assert images == {"registry.example.com/vmcp:1.0.0"}
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {
        "vmcp"
    }
    objects = by_name(docs)
    assert objects[("HorizontalPodAutoscaler", "vmcp-web")]["spec"]["minReplicas"] == 3
    assert (
        objects[("ConfigMap", "vmcp-config")]["data"]["PUBLIC_BASE_URL"]
        == "https://mcp.example.org"
    )
    # The patch kept the keys it did not name.
    assert objects[("ConfigMap", "vmcp-config")]["data"]["SECRET_KEY_FILE"].startswith(
        "/run/secrets/"
    )
