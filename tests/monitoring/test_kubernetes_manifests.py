"""deploy/kubernetes renders into objects that the Kubernetes schemas accept and that fit together:
Service -> Deployment -> ConfigMap/Secret/PVC, ServiceMonitor -> Service, AlertmanagerConfig -> Service,
PrometheusRule == alertmanager/rules/alert-analyst.rules.yml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from receiver.config import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
CORE_KINDS = {"ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
# The oldest Kubernetes still in common use and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


def render() -> dict[str, dict[str, Any]]:
    """The objects `kubectl apply -k` would create (namespace and common labels applied), by kind."""
    objects: dict[str, dict[str, Any]] = {}
    labels = {k: v for entry in KUSTOMIZATION.get("labels", []) for k, v in entry["pairs"].items()}
    for name in KUSTOMIZATION["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            doc["metadata"]["namespace"] = KUSTOMIZATION["namespace"]
            doc["metadata"].setdefault("labels", {}).update(labels)
            assert doc["kind"] not in objects, f"two {doc['kind']} objects"
            objects[doc["kind"]] = doc
    return objects


OBJECTS = render()


def test_kustomization_lists_every_manifest() -> None:
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == files
    assert set(OBJECTS) == CORE_KINDS | {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kind", sorted(CORE_KINDS))
def test_core_objects_pass_the_kubernetes_schema(kind: str, version: str) -> None:
    kubernetes_validate.validate(OBJECTS[kind], version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(OBJECTS["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def container() -> dict[str, Any]:
    [main] = OBJECTS["Deployment"]["spec"]["template"]["spec"]["containers"]
    return main


def test_service_selects_the_pods_and_their_named_port() -> None:
    pod_labels = OBJECTS["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = OBJECTS["Service"]["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert OBJECTS["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [port] = service["ports"]
    assert port["targetPort"] in {p["name"] for p in container()["ports"]}


def test_probes_use_the_receivers_health_and_readiness_endpoints() -> None:
    main = container()
    assert main["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert main["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert OBJECTS["Deployment"]["spec"]["strategy"]["type"] == "Recreate"  # one SQLite writer


def test_volumes_refer_to_the_shipped_configmap_secret_and_claim() -> None:
    volumes = OBJECTS["Deployment"]["spec"]["template"]["spec"]["volumes"]
    names = {
        kind: OBJECTS[kind]["metadata"]["name"] for kind in ("ConfigMap", "Secret", "PersistentVolumeClaim")
    }
    assert {v["configMap"]["name"] for v in volumes if "configMap" in v} == {names["ConfigMap"]}
    assert {v["secret"]["secretName"] for v in volumes if "secret" in v} == {names["Secret"]}
    claims = {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
    assert claims == {names["PersistentVolumeClaim"]}


def mounted_path(volume_kind: str) -> str:
    volumes = OBJECTS["Deployment"]["spec"]["template"]["spec"]["volumes"]
    [name] = [v["name"] for v in volumes if volume_kind in v]
    [mount] = [m for m in container()["volumeMounts"] if m["name"] == name]
    return str(mount["mountPath"])


def test_the_config_is_valid_and_points_at_the_mounted_files() -> None:
    config = yaml.safe_load(OBJECTS["ConfigMap"]["data"]["alert-analyst.yml"])
    settings = Settings.model_validate(config)
    assert f"--config.file={mounted_path('configMap')}/alert-analyst.yml" in container()["args"]
    assert settings.storage.path.startswith(mounted_path("persistentVolumeClaim") + "/")
    token_file = Path(str(settings.webhook.bearer_token_file))
    assert str(token_file.parent) == mounted_path("secret")
    assert token_file.name in OBJECTS["Secret"]["stringData"]
    assert settings.web.listen_address.endswith(f":{container()['ports'][0]['containerPort']}")


def test_service_monitor_scrapes_the_service() -> None:
    spec = OBJECTS["ServiceMonitor"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= OBJECTS["Service"]["metadata"]["labels"].items()
    assert [e["port"] for e in spec["endpoints"]] == [OBJECTS["Service"]["spec"]["ports"][0]["name"]]
    assert spec["endpoints"][0]["path"] == "/metrics"


def test_alertmanager_config_posts_to_the_service_with_the_shared_token() -> None:
    spec = OBJECTS["AlertmanagerConfig"]["spec"]
    assert spec["route"]["receiver"] == spec["receivers"][0]["name"]
    [hook] = spec["receivers"][0]["webhookConfigs"]
    url = urlsplit(hook["url"])
    service = OBJECTS["Service"]
    assert url.hostname == f"{service['metadata']['name']}.{KUSTOMIZATION['namespace']}.svc"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.path == "/webhook/alertmanager"
    credentials = hook["httpConfig"]["authorization"]["credentials"]
    assert credentials["name"] == OBJECTS["Secret"]["metadata"]["name"]
    assert credentials["key"] in OBJECTS["Secret"]["stringData"]


def test_prometheus_rule_carries_the_shipped_health_rules() -> None:
    rules = yaml.safe_load((REPO / "alertmanager" / "rules" / "alert-analyst.rules.yml").read_text())
    assert OBJECTS["PrometheusRule"]["spec"] == rules
    # The ServiceMonitor's job label is the Service's name: the rules' job matcher must use it.
    assert f'job="{OBJECTS["Service"]["metadata"]["name"]}"' in rules["groups"][0]["rules"][0]["expr"]


def dockerfile_uid() -> int:
    """The uid `useradd --uid` gives the image's user, which the Dockerfile's USER runs as."""
    text = (REPO / "Dockerfile").read_text()
    [uid] = re.findall(r"useradd\b[^\n]*--uid (\d+)", text)
    assert re.search(r"^USER \S+", text, re.MULTILINE)
    return int(uid)


def test_pod_runs_as_the_images_non_root_user() -> None:
    pod = OBJECTS["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == dockerfile_uid() != 0
    assert pod["fsGroup"] == pod["runAsGroup"]  # the data volume is writable by the pod's group
    [gid] = re.findall(r"useradd\b[^\n]*--gid (\d+)", (REPO / "Dockerfile").read_text())
    assert pod["runAsGroup"] == int(gid)  # the image's own files and home belong to the same group
    main = container()["securityContext"]
    assert main["allowPrivilegeEscalation"] is False and main["readOnlyRootFilesystem"] is True
    assert main["capabilities"]["drop"] == ["ALL"]


def test_probes_reach_the_port_the_receiver_listens_on() -> None:
    main = container()
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    config = yaml.safe_load(OBJECTS["ConfigMap"]["data"]["alert-analyst.yml"])
    listening = int(Settings.model_validate(config).web.listen_address.rsplit(":", 1)[1])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        port = main[probe]["httpGet"]["port"]
        assert ports.get(port, port) == listening, probe
    assert main["startupProbe"]["httpGet"]["path"] == "/-/healthy"


def test_container_requests_resources_and_caps_memory() -> None:
    resources = container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
