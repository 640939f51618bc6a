"""An organization of its own for the feed, lineage and nodes browser tests.

Everything is created through the public API: an org ("Initech …"), an admin, a producer and a
viewer in it, the demo pipeline's OpenLineage events sent with a producer API key, a few
published datasets (so the feed is long enough to scroll), a follow and an owner (so impact has
people to notify) and one private dataset (a restricted placeholder for the viewer).

Its datasets are internal to that org, so the Acme catalog tests never see them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from datamesh.demo import pipeline_events

PASSWORD = "initech-pass-123"
ROOT_REF = "dataset:snowflake://acme.eu-west-1:ANALYTICS.CORE.ORDERS"


@dataclass
class Person:
    email: str
    name: str
    role: str
    id: str = ""


@dataclass
class Workspace:
    base_url: str
    org_id: str
    org_name: str
    admin: Person
    producer: Person
    viewer: Person
    producer_key: str
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self, who: Person | None = None) -> contextlib.AbstractContextManager[httpx.Client]:
        """An API client signed in as someone (bearer token)."""
        person = who or self.admin
        return _login(self.base_url, person.email, PASSWORD)

    def publish(self, body: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, timeout=30) as c:
            r = c.post(
                "/api/datasets",
                json=body,
                headers={"Authorization": f"Bearer {self.producer_key}"},
            )
            r.raise_for_status()
            return dict(r.json())

    def graph(self, ref: str, direction: str, depth: int) -> dict[str, Any]:
        with self.client() as c:
            r = c.get(
                "/api/lineage/graph", params={"node": ref, "direction": direction, "depth": depth}
            )
            r.raise_for_status()
            return dict(r.json())


@contextlib.contextmanager
def _login(base_url: str, email: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        c.cookies.clear()
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c


def build(base_url: str, platform_admin_email: str, platform_admin_password: str) -> Workspace:
    suffix = uuid.uuid4().hex[:6]
    org_name = f"Initech {suffix}"
    admin = Person(f"bill.{suffix}@initech.test", "Bill Lumbergh", "admin")
    producer = Person(f"peter.{suffix}@initech.test", "Peter Gibbons", "producer")
    viewer = Person(f"milton.{suffix}@initech.test", "Milton Waddams", "viewer")

    with _login(base_url, platform_admin_email, platform_admin_password) as root:
        org = root.post(
            "/api/orgs",
            json={
                "name": org_name,
                "description": "Browser tests of the feed, lineage and nodes.",
                "settings": {"default_visibility": "internal"},
            },
        )
        org.raise_for_status()
        org_id = org.json()["id"]
        for person in (admin, producer, viewer):
            r = root.post(
                "/api/auth/users",
                json={
                    "email": person.email,
                    "name": person.name,
                    "password": PASSWORD,
                    "role": person.role,
                    "org_id": org_id,
                },
            )
            r.raise_for_status()
            person.id = r.json()["id"]

    with _login(base_url, producer.email, PASSWORD) as c:
        r = c.post("/api/auth/api-keys", json={"name": "airflow-openlineage", "role": "producer"})
        r.raise_for_status()
        key = str(r.json()["key"])

    ws = Workspace(base_url, org_id, org_name, admin, producer, viewer, key)

    # The pipeline: Airflow extracts, a Spark job, dbt models (with column lineage).
    with httpx.Client(base_url=base_url, timeout=60) as c:
        r = c.post(
            "/api/v1/lineage/batch",
            json=pipeline_events(),
            headers={"Authorization": f"Bearer {key}"},
        )
        r.raise_for_status()

    # Enough activity to scroll the feed.
    for i in range(14):
        ws.publish(
            {
                "namespace": "postgresql://erp-db.initech.internal:5432",
                "name": f"erp.public.tps_reports_{i:02d}",
                "display_name": f"TPS reports {i:02d}",
                "platform": "postgresql",
                "domain": "operations",
                "tags": ["tps"],
                "visibility": "internal",
                "description": "Cover sheets included.",
            }
        )

    with ws.client(admin) as c:
        for ref in (
            "dataset:snowflake://acme.eu-west-1:ANALYTICS.CORE.ORDERS",
            "dataset:snowflake://acme.eu-west-1:ANALYTICS.MART.DAILY_REVENUE",
            "dataset:snowflake://acme.eu-west-1:ANALYTICS.MART.SALES_TARGETS",
        ):
            g = c.get("/api/lineage/graph", params={"node": ref, "depth": 0})
            g.raise_for_status()
            root = next(n for n in g.json()["nodes"] if n["depth"] == 0)
            ws.datasets[root["name"]] = root
        daily = ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]["id"]
        targets = ws.datasets["ANALYTICS.MART.SALES_TARGETS"]["id"]
        c.post("/api/follows", json={"dataset_id": daily}).raise_for_status()
        # Sales targets: owned by the admin, and private (the viewer sees a placeholder).
        ds = c.get(f"/api/datasets/{targets}")
        ds.raise_for_status()
        r = c.patch(
            f"/api/datasets/{targets}",
            json={"owners": [admin.id], "visibility": "private"},
            headers={"If-Match": ds.headers["etag"]},
        )
        r.raise_for_status()
    return ws
