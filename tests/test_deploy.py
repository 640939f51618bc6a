"""What can be checked of the deployment files without Docker: structure and wiring."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_has_the_stack_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "neo4j", "openbao", "api"}
    for name in ("postgres", "neo4j", "openbao"):
        assert "healthcheck" in services[name]
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2
    assert api["build"]["dockerfile"] == "deploy/Dockerfile"
    env = api["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert env["DATAMESH_GRAPH_URL"].startswith("bolt://")
    assert all(
        api["depends_on"][s]["condition"] == "service_healthy"
        for s in ("postgres", "neo4j", "openbao")
    )
    assert set(compose["volumes"]) == {"pgdata", "neo4jdata"}


def test_kubernetes_manifests() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/datamesh.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert kinds["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert text.count("FROM ") >= 2
    assert "USER datamesh" in text
    assert "uv sync --frozen" in text
    assert "HEALTHCHECK" in text
