"""Kubernetes manifests validate against the Kubernetes OpenAPI schemas (no cluster runs here)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.30"


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(f"{path.name}#{i}", d) for i, d in enumerate(yaml.safe_load_all(path.read_text())) if d]
    return docs


@pytest.mark.parametrize(("name", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_manifest_is_valid(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_every_service_has_a_deployment_with_probes() -> None:
    deployments = {d["metadata"]["name"]: d for _, d in _documents() if d["kind"] == "Deployment"}
    assert set(deployments) == {f"greenwatch-{s}" for s in ("watch", "work", "merge", "trend", "api", "composite")}
    for d in deployments.values():
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert c["livenessProbe"] and c["readinessProbe"]
    assert deployments["greenwatch-watch"]["spec"]["replicas"] == 1  # one writer of the cursor


def test_a_broken_manifest_is_rejected() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)


def test_grafana_dashboard_queries_only_metrics_the_code_exports() -> None:
    import json
    import re

    from greenwatch.services import metrics

    exported = {m.name for m in metrics.REGISTRY.collect()}
    dash = json.loads((K8S.parent / "grafana" / "dashboards" / "greenwatch.json").read_text())
    used = {name for p in dash["panels"] for t in p["targets"] for name in re.findall(r"greenwatch_[a-z_]+", t["expr"])}
    base = {re.sub(r"_(bucket|total|count|sum)$", "", n) for n in used}
    assert base <= exported | {n.removesuffix("_total") for n in exported}, base - exported
    assert len(dash["panels"]) >= 6
