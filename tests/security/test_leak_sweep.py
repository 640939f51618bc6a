"""The authorization leak sweep: every kind of principal x canary datasets of each visibility in
two orgs (with processes, dataset and column lineage, follows and events linking hidden and
visible ones) x every read path. Whole response bodies are searched for the canary tokens and
ids of whatever the caller may not see: nothing hidden may be returned, counted or named.

(What each role may *write* is the authorization matrix's job: test_authz_matrix.py.)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from datamesh.config import Settings
from tests.fixtures.live import SSEReader, live_server, sse
from tests.security.world import PRINCIPALS, World, build

VIS = ("public", "internal", "private")


@dataclass
class Canary:
    kind: str  # dataset | process | node | profile
    org: str  # A | B
    token: str
    id: str = ""
    visibility: str = ""
    owner: str = ""  # personal profiles: the principal that owns it
    ol_id: str = ""

    def seen_by(self, who: str) -> bool:
        if who in ("anon", "disabled"):
            return False
        org, role = ("A", "producer") if who == "key" else ("P", "viewer")
        if "." in who:
            org, role = who.split(".")
        if self.kind == "dataset":
            if self.visibility == "public":
                return True
            if self.visibility == "internal":
                return org == self.org
            return org == self.org and role in ("admin", "steward")
        if self.kind == "profile" and self.owner:
            return who == self.owner or (who == "key" and self.owner == "A.producer")
        return org == self.org


def _token(label: str) -> str:
    return f"cnry{label}{secrets.token_hex(5)}"


@dataclass
class Sweep:
    w: World
    canaries: list[Canary]

    def hidden_from(self, who: str) -> list[Canary]:
        return [c for c in self.canaries if not c.seen_by(who)]

    def leaks(self, who: str, body: str, *, audit: bool = False) -> list[str]:
        """Hidden canaries named in ``body``. The audit log is governance: platform admins read
        all of it, an org's admins and stewards all of their org's (by design)."""
        if audit and who == "platform":
            return []
        governed = who.split(".")[0] if audit and who.endswith((".admin", ".steward")) else None
        found = []
        for c in self.hidden_from(who):
            if c.org == governed:
                continue
            for needle in (c.token, c.id):
                at = body.find(needle) if needle else -1
                if at >= 0:
                    around = body[max(0, at - 60) : at + len(needle) + 20]
                    found.append(
                        f"{c.kind} {c.org}/{c.visibility or c.owner or '-'} in ...{around}..."
                    )
                    break
        return found


async def _make_canaries(w: World) -> list[Canary]:
    out: list[Canary] = []
    ds: dict[tuple[str, str], Canary] = {}
    for org in ("A", "B"):
        for vis in VIS:
            c = Canary("dataset", org, _token(f"{org}{vis[:3]}"), visibility=vis)
            made = await w.ok(
                "POST",
                "/api/datasets",
                f"{org}.admin",
                json={
                    "namespace": "postgres://canary:5432",
                    "name": f"sweep.{c.token}",
                    "display_name": f"{c.token} display",
                    "description": f"About {c.token}.",
                    "platform": "postgresql",
                    "visibility": vis,
                    "owners": [],
                    "tags": ["sweep"],
                    "domain": "sweep",
                    "fields": [{"name": f"{c.token}_col", "type": "int"}],
                },
            )
            c.id, c.ol_id = made["id"], f"dataset:postgres://canary:5432:sweep.{c.token}"
            await w.ok(
                "PUT",
                f"/api/datasets/{c.id}/sla",
                f"{org}.admin",
                json={"kind": "max_age", "hours": 1},
            )
            ds[(org, vis)] = c
            out.append(c)
        proc = Canary("process", org, _token(f"{org}proc"))
        made = await w.ok(
            "POST",
            "/api/lineage/processes",
            f"{org}.producer",
            json={"namespace": "airflow://canary", "name": f"dag.{proc.token}"},
        )
        proc.id = made["id"]
        out.append(proc)
        # private -> process -> public, internal -> public: hidden and visible, linked
        await w.ok(
            "POST",
            "/api/lineage/edges",
            f"{org}.admin",
            json={"source": ds[(org, "private")].id, "target": proc.id},
        )
        await w.ok(
            "POST",
            "/api/lineage/edges",
            f"{org}.admin",
            json={"source": proc.id, "target": ds[(org, "public")].id},
        )
        await w.ok(
            "POST",
            "/api/lineage/edges",
            f"{org}.admin",
            json={"source": ds[(org, "internal")].id, "target": ds[(org, "public")].id},
        )
        # column lineage from the private dataset's column into the public one's
        job = _token(f"{org}job")
        priv, pub = ds[(org, "private")], ds[(org, "public")]
        await w.ok(
            "POST",
            "/api/v1/lineage",
            f"{org}.admin",
            json={
                "eventType": "COMPLETE",
                "eventTime": "2026-11-20T06:00:00Z",
                "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": "airflow://canary", "name": job},
                "inputs": [{"namespace": "postgres://canary:5432", "name": f"sweep.{priv.token}"}],
                "outputs": [
                    {
                        "namespace": "postgres://canary:5432",
                        "name": f"sweep.{pub.token}",
                        "facets": {
                            "columnLineage": {
                                "_producer": "https://example.com/sweep",
                                "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/ColumnLineageDatasetFacet.json",
                                "fields": {
                                    f"{pub.token}_col": {
                                        "inputFields": [
                                            {
                                                "namespace": "postgres://canary:5432",
                                                "name": f"sweep.{priv.token}",
                                                "field": f"{priv.token}_col",
                                            }
                                        ]
                                    }
                                },
                            }
                        },
                    }
                ],
                "producer": "https://example.com/sweep",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            },
        )
        out.append(Canary("process", org, job))
        # a failed run of another job from the hidden dataset into the public one
        failing = _token(f"{org}fail")
        await w.ok(
            "POST",
            "/api/v1/lineage",
            f"{org}.admin",
            json={
                "eventType": "FAIL",
                "eventTime": "2026-11-20T07:00:00Z",
                "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": "airflow://canary", "name": failing},
                "inputs": [{"namespace": "postgres://canary:5432", "name": f"sweep.{priv.token}"}],
                "outputs": [{"namespace": "postgres://canary:5432", "name": f"sweep.{pub.token}"}],
                "producer": "https://example.com/sweep",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            },
        )
        out.append(Canary("process", org, failing))
        # follows and events on hidden datasets
        await w.ok("POST", "/api/follows", f"{org}.admin", json={"dataset_id": priv.id})
        await w.ok("POST", "/api/follows", f"{org}.viewer", json={"dataset_id": pub.id})
        await w.ok(
            "PATCH",
            f"/api/datasets/{priv.id}",
            f"{org}.steward",
            json={"description": f"Changed {priv.token}."},
        )
        node = Canary("node", org, _token(f"{org}node"))
        node.id = (
            await w.ok(
                "POST",
                "/api/nodes",
                f"{org}.admin",
                json={
                    "name": node.token,
                    "type": "http_api",
                    "config": {"url": "http://127.0.0.1:9/health"},
                },
            )
        )["id"]
        out.append(node)
        for scope, owner in (("org", f"{org}.admin"), ("user", f"{org}.producer")):
            prof = Canary(
                "profile", org, _token(f"{org}{scope}"), owner="" if scope == "org" else owner
            )
            prof.id = (
                await w.ok(
                    "POST",
                    "/api/platform-profiles",
                    owner,
                    json={
                        "name": prof.token,
                        "scope": scope,
                        "platform": "postgresql",
                        "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
                        "secrets": {"password": "env:PGPASSWORD"},
                    },
                )
            )["id"]
            out.append(prof)
    return out


@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, Any]]:
    async with live_server(settings, migrate_on_start=False) as (url, app):
        yield url, app


async def _reads(s: Sweep, who: str) -> list[tuple[str, httpx.Response]]:
    """Every read path, as ``who``; (label, response)."""
    w = s.w
    ds = {(c.org, c.visibility): c for c in s.canaries if c.kind == "dataset"}
    out: list[tuple[str, httpx.Response]] = []

    async def get(label: str, url: str, **kw: Any) -> None:
        out.append((label, await w.call("GET", url, who, **kw)))

    for c in ds.values():
        await get(f"dataset {c.org}/{c.visibility}", f"/api/datasets/{c.id}")
        await get(f"asset {c.org}/{c.visibility}", f"/api/lineage/assets/{c.id}")
        await get(f"columns {c.org}/{c.visibility}", f"/api/lineage/assets/{c.id}/columns")
        await get(
            f"columns both ways {c.org}/{c.visibility}",
            f"/api/lineage/assets/{c.id}/columns",
            params={"direction": "both"},
        )
        await get(
            f"column impact from {c.org}/{c.visibility}",
            "/api/lineage/columns/impact",
            params={"dataset": c.id, "field": f"{c.token}_col"},
        )
        await get(f"feed of {c.org}/{c.visibility}", "/api/feed", params={"dataset_id": c.id})
        out.append(
            (
                f"connect {c.org}/{c.visibility}",
                await w.call("POST", f"/api/datasets/{c.id}/connect", who, json={}),
            )
        )
        for path, param in (
            ("/api/lineage/graph", "node"),
            ("/api/lineage/impact", "node"),
            ("/api/v1/lineage", "nodeId"),
        ):
            await get(f"{path} from {c.org}/{c.visibility}", path, params={param: c.ol_id})
        await get(f"edges of {c.org}/{c.visibility}", "/api/lineage/edges", params={"node": c.id})
        await get(f"sla of {c.org}/{c.visibility}", f"/api/datasets/{c.id}/sla")
    ids = ",".join(c.id for c in s.canaries if c.id)
    await get("monitoring status", "/api/monitoring/status", params={"ids": ids})
    await get("monitoring overview", "/api/monitoring/overview")
    await get("monitoring coverage", "/api/monitoring/coverage")
    for params in (
        {},
        {"query": "cnry"},
        {"query": "sweep"},
        {"tag": "sweep"},
        {"domain": "sweep", "sort": "name"},
        {"visibility": "private"},
        {"query": "sweep", "status": ["active", "deprecated"]},
    ):
        await get(f"search {params}", "/api/datasets", params=params)
    for mode in ("recent", "for_you"):
        await get(f"feed {mode}", "/api/feed", params={"mode": mode, "limit": 100})
    for url in (
        "/api/follows",
        "/api/lineage/edges",
        "/api/lineage/processes",
        "/api/nodes",
        "/api/platform-profiles",
        "/api/audit",
        "/api/audit/export",
        "/api/auth/me",
        "/api/orgs",
    ):
        await get(url, url, params={"limit": 100} if url.endswith("edges") else {})
    for c in s.canaries:
        if c.kind in ("process", "node", "profile") and c.id:
            path = {
                "process": "/api/lineage/processes/",
                "node": "/api/nodes/",
                "profile": "/api/platform-profiles/",
            }[c.kind]
            await get(f"{c.kind} {c.org} {c.owner}", path + c.id)
            if c.kind == "process":
                await get(f"runs of process {c.org}", f"{path}{c.id}/runs")
    for c in s.canaries:
        if c.kind == "process":
            await get(
                f"graph from process {c.org}",
                "/api/lineage/graph",
                params={"node": f"job:airflow://canary:{'dag.' if c.id else ''}{c.token}"},
            )
    return out


def _search_totals(s: Sweep, who: str, resp: httpx.Response, params: str) -> list[str]:
    """Totals and facet counts equal what the caller may see among the canaries."""
    body = resp.json()
    visible = [c for c in s.canaries if c.kind == "dataset" and c.seen_by(who)]
    if "'visibility': 'private'" in params:
        visible = [c for c in visible if c.visibility == "private"]
    problems = []
    if "'query': 'cnry'" in params or "sweep" in params:
        if body["total"] != len(visible):
            problems.append(f"total {body['total']} != {len(visible)} visible")
        by_org = {f["value"]: f["count"] for f in body["facets"]["org"]}
        want = {s.w.acc(f"{o}.admin").org_id: sum(1 for c in visible if c.org == o) for o in "AB"}
        if by_org != {k: v for k, v in want.items() if v}:
            problems.append(f"org facet {by_org} != {want}")
    return problems


async def test_nothing_hidden_is_returned_counted_or_named(live: tuple[str, Any]) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        w = await build(app, c)
        failures: list[str] = []
        async with AsyncExitStack() as stack:
            streams: dict[str, SSEReader] = {}
            for who in PRINCIPALS:
                if who in ("anon", "disabled"):
                    r = await w.call("GET", "/api/feed/stream", who)
                    if r.status_code != 401:
                        failures.append(f"stream as {who}: {r.status_code}")
                    continue
                streams[who] = await stack.enter_async_context(
                    sse(c, "/api/feed/stream", headers=w.headers(who))
                )
            s = Sweep(w, await _make_canaries(w))
            # two hours later every canary's SLA is breached: the announcements go out too
            app.state.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
            assert len(await app.state.sla_evaluator.run_once()) == 6
            sentinel = await w.dataset("public", as_="B.admin")  # every stream sees this last
            for who, reader in streams.items():
                await reader.wait_for(lambda m: sentinel["id"] in m.data)
                for m in reader.messages:
                    for leak in s.leaks(who, m.data):
                        failures.append(f"stream event {m.event} as {who} names hidden {leak}")
        for who in PRINCIPALS:
            for label, resp in await _reads(s, who):
                if who in ("anon", "disabled") and resp.status_code != 401:
                    failures.append(f"{label} as {who}: {resp.status_code}")
                for leak in s.leaks(who, resp.text, audit=label.startswith("/api/audit")):
                    failures.append(f"{label} as {who} ({resp.status_code}) names hidden {leak}")
                if label.startswith("search") and resp.status_code == 200:
                    for p in _search_totals(s, who, resp, label):
                        failures.append(f"{label} as {who}: {p}")
        assert not failures, f"{len(failures)} leaks:\n" + "\n".join(sorted(set(failures)))
