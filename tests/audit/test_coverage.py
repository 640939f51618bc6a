"""Every write endpoint in the OpenAPI document leaves exactly one audit entry naming the right
actor, action and target. A new write endpoint without a scenario here fails the suite."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import PASSWORD, Account, signed_in
from tests.lineage.pipeline import pipeline_events

Scenario = Callable[["World"], Awaitable[tuple[httpx.Response, str, str, str]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(key: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[key] = fn
        return fn

    return register


class World:
    """Users and helpers; each scenario's setup runs before the audit mark is taken."""

    def __init__(
        self, app: FastAPI, c: httpx.AsyncClient, raw: asyncpg.Connection, pg: Any
    ) -> None:
        self.app, self.c, self.raw, self.pg = app, c, raw, pg
        self.mark = 0

    async def setup(self) -> None:
        self.root = await signed_in(
            self.app, self.c, "root@acme.test", role="admin", platform_admin=True
        )
        self.admin = await signed_in(self.app, self.c, "admin@acme.test", role="admin")
        self.prod = await signed_in(self.app, self.c, "prod@acme.test", role="producer")

    async def start(self) -> None:
        self.mark = await self.raw.fetchval("SELECT coalesce(max(seq), 0) FROM audit_log")

    async def call(self, method: str, path: str, who: Account | None, **kw: Any) -> httpx.Response:
        await self.start()
        headers = {**(who.headers if who else {}), **kw.pop("headers", {})}
        return await self.c.request(method, path, headers=headers, **kw)


# -- identity -----------------------------------------------------------------------------------
@scenario("POST /api/auth/login")
async def _login(w: World):
    r = await w.call(
        "POST", "/api/auth/login", None, json={"email": w.prod.email, "password": PASSWORD}
    )
    return r, "auth.login", w.prod.id, "user"


@scenario("POST /api/auth/refresh")
async def _refresh(w: World):
    r = await w.call(
        "POST", "/api/auth/refresh", None, json={"refresh_token": w.prod.refresh_token}
    )
    return r, "auth.refresh", w.prod.id, "user"


@scenario("POST /api/auth/logout")
async def _logout(w: World):
    r = await w.call("POST", "/api/auth/logout", w.prod)
    return r, "auth.logout", w.prod.id, "user"


@scenario("POST /api/auth/api-keys")
async def _key_create(w: World):
    r = await w.call("POST", "/api/auth/api-keys", w.prod, json={"name": "k"})
    return r, "api_key.create", w.prod.id, "api_key"


@scenario("DELETE /api/auth/api-keys/{key_id}")
async def _key_revoke(w: World):
    key = (await w.c.post("/api/auth/api-keys", json={"name": "k"}, headers=w.prod.headers)).json()
    r = await w.call("DELETE", f"/api/auth/api-keys/{key['id']}", w.prod)
    return r, "api_key.revoke", w.prod.id, "api_key"


@scenario("POST /api/auth/users")
async def _user_create(w: World):
    r = await w.call(
        "POST", "/api/auth/users", w.admin, json={"email": "new@acme.test", "role": "viewer"}
    )
    return r, "user.create", w.admin.id, "user"


@scenario("PATCH /api/auth/users/{user_id}")
async def _user_update(w: World):
    r = await w.call("PATCH", f"/api/auth/users/{w.prod.id}", w.admin, json={"role": "steward"})
    return r, "user.role_change", w.admin.id, "user"


@scenario("DELETE /api/auth/users/{user_id}")
async def _user_disable(w: World):
    r = await w.call("DELETE", f"/api/auth/users/{w.prod.id}", w.admin)
    return r, "user.disable", w.admin.id, "user"


@scenario("POST /api/orgs")
async def _org_create(w: World):
    r = await w.call("POST", "/api/orgs", w.root, json={"name": "Initech"})
    return r, "org.create", w.root.id, "org"


@scenario("PATCH /api/orgs/{org_id}")
async def _org_update(w: World):
    r = await w.call("PATCH", f"/api/orgs/{w.admin.org_id}", w.admin, json={"description": "x"})
    return r, "org.update", w.admin.id, "org"


@scenario("DELETE /api/orgs/{org_id}")
async def _org_delete(w: World):
    org = (await w.c.post("/api/orgs", json={"name": "Empty"}, headers=w.root.headers)).json()
    r = await w.call("DELETE", f"/api/orgs/{org['id']}", w.root)
    return r, "org.delete", w.root.id, "org"


# -- catalog and feed ---------------------------------------------------------------------------
@scenario("POST /api/datasets")
async def _publish(w: World):
    await w.start()
    r = await w.c.post(
        "/api/datasets",
        json={"namespace": "pg://x", "name": "a.b", "platform": "postgresql"},
        headers=w.prod.headers,
    )
    return r, "dataset.publish", w.prod.id, "dataset"


@scenario("POST /api/lineage/assets")
async def _asset(w: World):
    r = await w.call(
        "POST",
        "/api/lineage/assets",
        w.prod,
        json={"namespace": "pg://x", "name": "a.c", "platform": "postgresql"},
    )
    return r, "dataset.publish", w.prod.id, "dataset"


@scenario("PATCH /api/datasets/{dataset_id}")
async def _update(w: World):
    ds = await _ds(w.c, w.prod, "s.t")
    r = await w.call("PATCH", f"/api/datasets/{ds['id']}", w.prod, json={"description": "new"})
    return r, "dataset.update", w.prod.id, "dataset"


@scenario("DELETE /api/datasets/{dataset_id}")
async def _deprecate(w: World):
    ds = await _ds(w.c, w.prod, "s.t")
    r = await w.call("DELETE", f"/api/datasets/{ds['id']}", w.prod)
    return r, "dataset.deprecate", w.prod.id, "dataset"


@scenario("POST /api/datasets/{dataset_id}/refresh")
async def _refresh_schema(w: World):
    import pytest

    from tests.catalog.test_refresh import bind_to_table

    with pytest.MonkeyPatch.context() as mp:
        ds = await bind_to_table(w.c, w.admin, w.pg, mp, "DM_TEST_COVERAGE_PASSWORD")
        r = await w.call("POST", f"/api/datasets/{ds['id']}/refresh", w.admin)
    return r, "dataset.refresh", w.admin.id, "dataset"


@scenario("POST /api/follows")
async def _follow(w: World):
    ds = await _ds(w.c, w.prod, "s.t")
    r = await w.call("POST", "/api/follows", w.prod, json={"dataset_id": ds["id"]})
    return r, "dataset.follow", w.prod.id, "dataset"


@scenario("PUT /api/follows/{dataset_id}")
async def _follow_put(w: World):
    ds = await _ds(w.c, w.prod, "s.t")
    r = await w.call("PUT", f"/api/follows/{ds['id']}", w.prod)
    return r, "dataset.follow", w.prod.id, "dataset"


@scenario("DELETE /api/follows/{dataset_id}")
async def _follow_delete(w: World):
    ds = await _ds(w.c, w.prod, "s.t")
    await w.c.put(f"/api/follows/{ds['id']}", headers=w.prod.headers)
    r = await w.call("DELETE", f"/api/follows/{ds['id']}", w.prod)
    return r, "dataset.unfollow", w.prod.id, "dataset"


# -- connectors and nodes -----------------------------------------------------------------------
NODE = {"name": "api", "type": "http_api", "config": {"url": "http://127.0.0.1:9/health"}}


@scenario("POST /api/connectors/{type_id}/test")
async def _connector_test(w: World):
    r = await w.call(
        "POST",
        "/api/connectors/http_api/test",
        w.admin,
        json={"config": NODE["config"], "secrets": {}},
    )
    return r, "connector.test", w.admin.id, "connector"


@scenario("POST /api/nodes")
async def _node_create(w: World):
    r = await w.call("POST", "/api/nodes", w.admin, json=NODE)
    return r, "node.create", w.admin.id, "node"


@scenario("POST /api/nodes/test")
async def _node_test_unsaved(w: World):
    r = await w.call(
        "POST",
        "/api/nodes/test",
        w.admin,
        json={"type": "http_api", "config": NODE["config"], "secrets": {}},
    )
    return r, "connector.test", w.admin.id, "connector"


@scenario("PATCH /api/nodes/{node_id}")
async def _node_update(w: World):
    node = (await w.c.post("/api/nodes", json=NODE, headers=w.admin.headers)).json()
    r = await w.call("PATCH", f"/api/nodes/{node['id']}", w.admin, json={"tags": ["x"]})
    return r, "node.update", w.admin.id, "node"


@scenario("DELETE /api/nodes/{node_id}")
async def _node_delete(w: World):
    node = (await w.c.post("/api/nodes", json=NODE, headers=w.admin.headers)).json()
    r = await w.call("DELETE", f"/api/nodes/{node['id']}", w.admin)
    return r, "node.delete", w.admin.id, "node"


@scenario("POST /api/nodes/{node_id}/test")
async def _node_test(w: World):
    node = (await w.c.post("/api/nodes", json=NODE, headers=w.admin.headers)).json()
    r = await w.call("POST", f"/api/nodes/{node['id']}/test", w.admin)
    return r, "node.test", w.admin.id, "node"


# -- Connect ------------------------------------------------------------------------------------
PROFILE = {
    "name": "pg",
    "platform": "postgresql",
    "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
    "secrets": {"password": "env:PGPASSWORD"},
}


@scenario("POST /api/platform-profiles")
async def _profile_create(w: World):
    r = await w.call("POST", "/api/platform-profiles", w.prod, json=PROFILE)
    return r, "platform_profile.create", w.prod.id, "platform_profile"


@scenario("PATCH /api/platform-profiles/{profile_id}")
async def _profile_update(w: World):
    p = (await w.c.post("/api/platform-profiles", json=PROFILE, headers=w.prod.headers)).json()
    r = await w.call("PATCH", f"/api/platform-profiles/{p['id']}", w.prod, json={"name": "renamed"})
    return r, "platform_profile.update", w.prod.id, "platform_profile"


@scenario("DELETE /api/platform-profiles/{profile_id}")
async def _profile_delete(w: World):
    p = (await w.c.post("/api/platform-profiles", json=PROFILE, headers=w.prod.headers)).json()
    r = await w.call("DELETE", f"/api/platform-profiles/{p['id']}", w.prod)
    return r, "platform_profile.delete", w.prod.id, "platform_profile"


@scenario("POST /api/platform-profiles/{profile_id}/default")
async def _profile_default(w: World):
    p = (
        await w.c.post(
            "/api/platform-profiles", json={**PROFILE, "is_default": False}, headers=w.prod.headers
        )
    ).json()
    r = await w.call("POST", f"/api/platform-profiles/{p['id']}/default", w.prod)
    return r, "platform_profile.update", w.prod.id, "platform_profile"


@scenario("POST /api/datasets/{dataset_id}/connect")
async def _connect(w: World):
    ds = await _ds(w.c, w.prod, "public.orders")
    r = await w.call(
        "POST", f"/api/datasets/{ds['id']}/connect", w.prod, json={"platform": "postgresql"}
    )
    return r, "dataset.connect", w.prod.id, "dataset"


# -- lineage ------------------------------------------------------------------------------------
@scenario("POST /api/lineage/processes")
async def _proc_create(w: World):
    r = await w.call("POST", "/api/lineage/processes", w.prod, json={"namespace": "a", "name": "j"})
    return r, "lineage.process_create", w.prod.id, "process"


@scenario("PATCH /api/lineage/processes/{process_id}")
async def _proc_update(w: World):
    p = (
        await w.c.post(
            "/api/lineage/processes", json={"namespace": "a", "name": "j"}, headers=w.prod.headers
        )
    ).json()
    r = await w.call(
        "PATCH", f"/api/lineage/processes/{p['id']}", w.prod, json={"description": "d"}
    )
    return r, "lineage.process_update", w.prod.id, "process"


@scenario("DELETE /api/lineage/processes/{process_id}")
async def _proc_delete(w: World):
    p = (
        await w.c.post(
            "/api/lineage/processes", json={"namespace": "a", "name": "j"}, headers=w.prod.headers
        )
    ).json()
    r = await w.call("DELETE", f"/api/lineage/processes/{p['id']}", w.prod)
    return r, "lineage.process_delete", w.prod.id, "process"


@scenario("POST /api/lineage/edges")
async def _edge_create(w: World):
    a, b = await _ds(w.c, w.prod, "s.a"), await _ds(w.c, w.prod, "s.b")
    r = await w.call(
        "POST", "/api/lineage/edges", w.prod, json={"source": a["id"], "target": b["id"]}
    )
    return r, "lineage.edge_create", w.prod.id, "edge"


@scenario("DELETE /api/lineage/edges/{edge_id}")
async def _edge_delete(w: World):
    a, b = await _ds(w.c, w.prod, "s.a"), await _ds(w.c, w.prod, "s.b")
    e = (
        await w.c.post(
            "/api/lineage/edges",
            json={"source": a["id"], "target": b["id"]},
            headers=w.prod.headers,
        )
    ).json()
    r = await w.call("DELETE", f"/api/lineage/edges/{e['id']}", w.prod)
    return r, "lineage.edge_delete", w.prod.id, "edge"


def _events() -> list[dict]:
    from openlineage.client.serde import Serde

    return [Serde.to_dict(e) for e in pipeline_events()[:2]]


@scenario("POST /api/v1/lineage")
async def _ol_one(w: World):
    r = await w.call("POST", "/api/v1/lineage", w.prod, json=_events()[0])
    return r, "lineage.ingest", w.prod.id, "org"


@scenario("POST /api/v1/lineage/batch")
async def _ol_batch(w: World):
    r = await w.call("POST", "/api/v1/lineage/batch", w.prod, json=_events())
    return r, "lineage.ingest", w.prod.id, "org"


# Domains may keep their scenarios next to this file, in ``scenarios_<domain>.py`` modules that
# import ``scenario`` and ``World`` from here; they are loaded below, once the registry exists.
for _mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _mod.name.startswith("scenarios_"):
        importlib.import_module(f"tests.audit.{_mod.name}")


def _write_operations(app: FastAPI) -> set[str]:
    spec = app.openapi()
    return {
        f"{m.upper()} {p}"
        for p, ops in spec["paths"].items()
        for m in ops
        if m in ("post", "put", "patch", "delete")
    }


async def test_every_write_endpoint_has_a_scenario(app: FastAPI) -> None:
    assert _write_operations(app) == set(SCENARIOS), (
        "add a scenario (and an audit entry) for new endpoints"
    )


async def test_every_write_leaves_exactly_one_audit_entry(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection, clean_db: None, pg: Any
) -> None:
    failures = []
    for key in sorted(set(SCENARIOS) & _write_operations(app)):
        async with raw_conn.transaction():
            await raw_conn.execute("SET LOCAL session_replication_role = replica")
            tables = [
                r["tablename"]
                for r in await raw_conn.fetch(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            ]
            await raw_conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        client.cookies.clear()
        w = World(app, client, raw_conn, pg)
        await w.setup()
        resp, action, actor_id, target_kind = await SCENARIOS[key](w)
        if resp.status_code >= 400:
            failures.append(f"{key}: HTTP {resp.status_code} {resp.text[:200]}")
            continue
        rows = await raw_conn.fetch(
            "SELECT action, actor_id, target_kind FROM audit_log WHERE seq > $1", w.mark
        )
        got = [(r["action"], str(r["actor_id"]), r["target_kind"]) for r in rows]
        if got != [(action, actor_id, target_kind)]:
            failures.append(f"{key}: expected one {(action, actor_id, target_kind)}, got {got}")
    assert not failures, "\n".join(failures)
