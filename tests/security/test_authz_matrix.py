"""The authorization matrix: every operation of the live route table x every kind of principal
(anonymous, a disabled user, an API key, a platform administrator, each role of the owning org
A and of another org B) against org A's resources, each case asserting the status a rule below
gives. An operation without a rule fails the suite, so new endpoints must be classified.

Rule grammar: ``who=status`` tokens, later tokens override earlier ones. ``who`` is a comma list
of ``all`` (everyone), ``members`` (every signed-in principal), ``A``/``B`` (every role of the
org), ``A.admin``..., ``admins`` (A.admin, B.admin), ``P`` (platform admin), ``K`` (org A
producer API key), ``anon``, ``dis`` (disabled user). Anonymous and disabled default to 401.

Writes that should succeed run on a fresh target made for the case; refused writes run on the
shared resources and must leave every table exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.security.world import PRINCIPALS, ROLES, World, build, unique

# -- the rules ----------------------------------------------------------------------------------
MEMBERS_OK = "members=200"
VIS = ("public", "internal", "private")

# Reading a dataset of org A (owners: nobody), by visibility.
READ_DS = {
    "public": "members=200",
    "internal": "members=200 B,P=404",
    "private": "members=404 A.admin,A.steward=200",
}


def _edit_ds(ok: int) -> dict[str, str]:
    """Editing a dataset: the owning org's admins, stewards and producers; hidden -> 404."""
    return {
        "public": f"members=403 A.admin,A.steward,A.producer,K={ok}",
        "internal": f"members=404 A=403 A.admin,A.steward,A.producer,K={ok}",
        "private": f"members=404 A.admin,A.steward={ok}",
    }


GOVERN_DS = {  # deprecation: the owning org's admins and stewards
    "public": "members=403 A.admin,A.steward=200",
    "internal": "members=404 A,K=403 A.admin,A.steward=200",
    "private": "members=404 A.admin,A.steward=200",
}
PUBLISH = "members=403 A.admin,A.producer,B.admin,B.producer=201 K=201"
ORG_MEMBERS = "members=404 A,K=200"  # a resource only its org sees
ORG_ADMINS = "members=404 A,K=403 A.admin=200"  # its org's admins change it, others of A: 403
LINEAGE_WRITERS = "members=403 A.admin,A.steward,A.producer,B.admin,B.steward,B.producer,K={ok}"

ALERT_ADMINS = "members=404 A.admin,A.steward={ok}"
DASH_MAKERS = "members=403 A.admin,A.steward,A.producer,B.admin,B.steward,B.producer,K={ok}"
READ_DASH = {
    "public": "members=200",
    "internal": "members=200 B,P=404",
    "private": "members=404 A.admin,A.steward,A.producer=200",
}


def _edit_dash(ok: int) -> dict[str, str]:
    return {
        "public": f"members=403 A.admin,A.steward,A.producer={ok}",
        "internal": f"members=404 A,K=403 A.admin,A.steward,A.producer={ok}",
        "private": f"members=404 A.admin,A.steward,A.producer={ok}",
    }


RULES: dict[str, dict[str, str]] = {
    # system
    "GET /api/health": {"": "all=200"},
    "GET /api/ready": {"": "all=200"},
    # sign-in: open to everyone; the credentials are in the body
    "POST /api/auth/login": {"": "all=200"},
    "POST /api/auth/refresh": {"": "all=200"},
    "POST /api/auth/logout": {"": "all=200 dis=401"},
    "GET /api/auth/me": {"": MEMBERS_OK},
    "GET /api/auth/providers": {"": "all=200"},
    "GET /api/auth/oidc/{provider}/login": {"": "all=404"},
    "GET /api/auth/oidc/{provider}/callback": {"": "all=404"},
    # API keys: people create them (at most their role); the creator or an org admin revokes
    "GET /api/auth/api-keys": {"": MEMBERS_OK},
    "POST /api/auth/api-keys": {"": "members=201 K=403"},
    "DELETE /api/auth/api-keys/{key_id}": {"": "members=404 A.admin,A.producer,K=204"},
    # users: admins of the org, platform admins anywhere; a hidden user is 404
    "GET /api/auth/users": {"": "members=403 admins,P=200"},
    "POST /api/auth/users": {"": "members=403 A.admin,P=201"},
    "GET /api/auth/users/{user_id}": {"": "members=404 A.admin,P=200"},
    "PATCH /api/auth/users/{user_id}": {"": "members=404 A.admin,P=200"},
    "DELETE /api/auth/users/{user_id}": {"": "members=404 A.admin,P=200"},
    # organizations: platform admins manage them; members read their own
    "POST /api/orgs": {"": "members=403 P=201"},
    "GET /api/orgs": {"": MEMBERS_OK},
    "GET /api/orgs/{org_id}": {"": "members=404 A,K,P=200"},
    "PATCH /api/orgs/{org_id}": {"": "members=404 A,K=403 A.admin,P=200"},
    "DELETE /api/orgs/{org_id}": {"": "members=404 A,K=403 P=204"},
    # catalog
    "POST /api/datasets": {"": PUBLISH},
    "GET /api/datasets": {"": MEMBERS_OK},
    "GET /api/datasets/{dataset_id}": READ_DS,
    "PATCH /api/datasets/{dataset_id}": _edit_ds(200),
    "DELETE /api/datasets/{dataset_id}": GOVERN_DS,
    # authorized callers get 409: the dataset is bound to no node (the check comes after)
    "POST /api/datasets/{dataset_id}/refresh": _edit_ds(409),
    # connector types and nodes: org admins configure; members read and test saved nodes
    "GET /api/connectors": {"": MEMBERS_OK},
    "GET /api/connectors/{type_id}": {"": MEMBERS_OK},
    "POST /api/connectors/{type_id}/test": {"": "members=403 admins,P=200"},
    "GET /api/nodes": {"": MEMBERS_OK},
    "POST /api/nodes": {"": "members=403 admins,P=201"},
    "POST /api/nodes/test": {"": "members=403 admins,P=200"},
    "GET /api/nodes/{node_id}": {"": ORG_MEMBERS},
    "PATCH /api/nodes/{node_id}": {"": ORG_ADMINS},
    "DELETE /api/nodes/{node_id}": {"": ORG_ADMINS.replace("200", "204")},
    "POST /api/nodes/{node_id}/test": {"": ORG_MEMBERS},
    "GET /api/nodes/{node_id}/checks": {"": ORG_MEMBERS},
    # crawls: its org's admins and stewards ask (the matrix's node is an HTTP API: 409, it
    # cannot crawl); members read them
    "POST /api/nodes/{node_id}/crawl": {"": "members=404 A,K=403 A.admin,A.steward=409"},
    "GET /api/nodes/{node_id}/crawls": {"": ORG_MEMBERS},
    "GET /api/nodes/{node_id}/crawls/{crawl_id}": {"": "members=404"},
    "GET /api/datasets/{dataset_id}/schema/versions": READ_DS,
    "POST /api/dbt/import": {"": LINEAGE_WRITERS.format(ok=200)},
    # Connect: personal profiles for everyone, org-wide ones by org admins
    "GET /api/platform-profiles": {"": MEMBERS_OK},
    "POST /api/platform-profiles": {
        "user": "members=201",
        "org": "members=403 admins,P=201",
    },
    "GET /api/platform-profiles/{profile_id}": {"": ORG_MEMBERS},
    "PATCH /api/platform-profiles/{profile_id}": {"": ORG_ADMINS},
    "DELETE /api/platform-profiles/{profile_id}": {"": ORG_ADMINS.replace("200", "204")},
    "POST /api/platform-profiles/{profile_id}/default": {"": ORG_ADMINS},
    "POST /api/datasets/{dataset_id}/connect": READ_DS,
    "GET /api/datasets/{dataset_id}/connect": READ_DS,  # showing the code: nothing recorded
    # feed
    "GET /api/feed": {"": MEMBERS_OK},
    "GET /api/feed/stream": {"": MEMBERS_OK},
    "GET /api/follows": {"": MEMBERS_OK},
    "POST /api/follows": {  # people only: an API key follows nothing
        vis: spec + " K=403" for vis, spec in READ_DS.items()
    },
    "PUT /api/follows/{dataset_id}": {vis: spec + " K=403" for vis, spec in READ_DS.items()},
    "DELETE /api/follows/{dataset_id}": {vis: spec + " K=403" for vis, spec in READ_DS.items()},
    # lineage
    "POST /api/lineage/assets": {"": PUBLISH},
    "GET /api/lineage/assets/{asset_id}": READ_DS,
    "GET /api/lineage/assets/{asset_id}/columns": READ_DS,
    "GET /api/lineage/columns/impact": READ_DS,
    "GET /api/lineage/assets/{asset_id}/quality": READ_DS,
    "POST /api/lineage/processes": {"": LINEAGE_WRITERS.format(ok=201)},
    "GET /api/lineage/processes": {"": MEMBERS_OK},
    "GET /api/lineage/processes/{process_id}": {"": ORG_MEMBERS},
    "PATCH /api/lineage/processes/{process_id}": {
        "": "members=404 A,B.viewer,P=403 A.admin,A.steward,A.producer,K=200"
    },
    "DELETE /api/lineage/processes/{process_id}": {
        "": "members=404 A,B.viewer,P=403 A.admin,A.steward,A.producer,K=204"
    },
    # an edge from a dataset of each visibility into a process of org A
    "POST /api/lineage/edges": {
        "public": "members=404 A.viewer,B.viewer,P=403 A.admin,A.steward,A.producer,K=201",
        "internal": "members=404 A.viewer,B.viewer,P=403 A.admin,A.steward,A.producer,K=201",
        "private": "members=404 A.viewer,B.viewer,P=403 A.admin,A.steward=201",
    },
    "GET /api/lineage/edges": {"": MEMBERS_OK},
    "DELETE /api/lineage/edges/{edge_id}": {
        "": "members=404 A.viewer,B.viewer,P=403 A.admin,A.steward,A.producer,K=204"
    },
    "GET /api/lineage/graph": READ_DS,
    "GET /api/lineage/impact": READ_DS,
    "GET /api/lineage/impact/export": READ_DS,
    "POST /api/v1/lineage": {"": LINEAGE_WRITERS.format(ok=200)},
    "POST /api/v1/lineage/batch": {"": LINEAGE_WRITERS.format(ok=200)},
    "GET /api/v1/lineage": READ_DS,
    "GET /api/lineage/processes/{process_id}/runs": {"": ORG_MEMBERS},
    # pipeline health: a dataset's SLA is read like the dataset and set by whoever may edit it
    "PUT /api/datasets/{dataset_id}/sla": _edit_ds(200),
    "GET /api/datasets/{dataset_id}/sla": READ_DS,
    "DELETE /api/datasets/{dataset_id}/sla": _edit_ds(204),
    "GET /api/monitoring/status": {"": MEMBERS_OK},
    "GET /api/monitoring/overview": {"": MEMBERS_OK},
    "GET /api/monitoring/coverage": {"": MEMBERS_OK},
    # dashboards (created by org A's producer): read like datasets, edited by the creator and
    # the org's admins and stewards, created and duplicated by producers, stewards and admins
    "POST /api/dashboards": {"": DASH_MAKERS.format(ok=201)},
    "GET /api/dashboards": {"": MEMBERS_OK},
    "GET /api/dashboards/{dashboard_id}": READ_DASH,
    "PATCH /api/dashboards/{dashboard_id}": _edit_dash(200),
    "DELETE /api/dashboards/{dashboard_id}": _edit_dash(204),
    "POST /api/dashboards/{dashboard_id}/duplicate": {
        "public": DASH_MAKERS.format(ok=201),
        "internal": "members=404 A=403 A.admin,A.steward,A.producer,K=201",
        "private": "members=404 A.admin,A.steward,A.producer=201",
    },
    # alerts: personal rules for people (not API keys); org rules, and reading or changing them
    # (the shared one is org A's), for the org's admins and stewards
    "POST /api/alerts": {
        "user": "members=201 K=403",
        "org": "members=403 A.admin,A.steward,B.admin,B.steward,P=201",
    },
    "GET /api/alerts": {"": MEMBERS_OK},
    "GET /api/alerts/{alert_id}": {"": ALERT_ADMINS.format(ok=200)},
    "PATCH /api/alerts/{alert_id}": {"": ALERT_ADMINS.format(ok=200)},
    "DELETE /api/alerts/{alert_id}": {"": ALERT_ADMINS.format(ok=204)},
    "POST /api/alerts/{alert_id}/test": {"": ALERT_ADMINS.format(ok=200)},
    "GET /api/alerts/{alert_id}/deliveries": {"": ALERT_ADMINS.format(ok=200)},
    "POST /api/alerts/{alert_id}/deliveries/{delivery_id}/redeliver": {
        "": ALERT_ADMINS.format(ok=200)
    },
    # governance
    "GET /api/audit": {"": "members=403 A.admin,A.steward,B.admin,B.steward,P=200"},
    "GET /api/audit/export": {"": "members=403 A.admin,A.steward,B.admin,B.steward,P=200"},
    "GET /api/audit/verify": {"": "members=403 P=200"},
}

# Routes outside the OpenAPI document that still answer under /api: the document and its UI.
UNDOCUMENTED = {"GET /api/openapi.json", "GET /api/docs"}
STREAMING = {"GET /api/feed/stream"}


def _select(who: str) -> list[str]:
    if who == "all":
        return list(PRINCIPALS)
    if who == "members":
        return [p for p in PRINCIPALS if p not in ("anon", "disabled")]
    if who in ("A", "B"):
        return [f"{who}.{r}" for r in ROLES]
    if who == "admins":
        return ["A.admin", "B.admin"]
    aliases = {"P": "platform", "K": "key", "dis": "disabled"}
    name = aliases.get(who, who)
    assert name in PRINCIPALS, f"unknown principal {who!r} in a rule"
    return [name]


def expectations(spec: str) -> dict[str, int]:
    out = {"anon": 401, "disabled": 401}
    for token in spec.split():
        who, _, status = token.partition("=")
        for selector in who.split(","):
            for name in _select(selector):
                out[name] = int(status)
    missing = set(PRINCIPALS) - set(out)
    assert not missing, f"rule {spec!r} says nothing about {sorted(missing)}"
    return out


def operations(app: FastAPI) -> set[str]:
    """Every method + path the app answers under /api, documented or not."""
    ops = {
        f"{m.upper()} {p}"
        for p, item in app.openapi()["paths"].items()
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    }
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/api"):
            continue
        methods = getattr(route, "methods", None) or set()
        if isinstance(route, APIRoute) and route.include_in_schema:
            continue
        ops |= {f"{m} {path}" for m in methods if m != "HEAD"}
    return ops


# -- filling a request --------------------------------------------------------------------------
def _ol_event(w: World) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-20T06:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow://matrix", "name": unique("job_")},
        "inputs": [],
        "outputs": [{"namespace": "s3://matrix", "name": unique("out_")}],
        "producer": "https://example.com/matrix",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }


async def _dataset_param(w: World, variant: str, fresh: bool, method: str) -> str:
    vis = variant or "public"
    return str((await w.dataset(vis))["id"]) if fresh else w.ids[f"ds.{vis}"]


async def _edge_param(w: World, variant: str, fresh: bool, method: str) -> str:
    if not fresh:
        return w.ids["edge"]
    proc = await w.process()
    return str((await w.edge(w.ids["ds.public"], proc["id"]))["id"])


async def _key_param(w: World, variant: str, fresh: bool, method: str) -> str:
    return (await w.api_key("A.producer", "producer")).id if fresh else w.ids["key"]


async def _org_param(w: World, variant: str, fresh: bool, method: str) -> str:
    # deleting needs an empty org; changing org A's description is harmless
    return str((await w.org())["id"]) if fresh and method == "DELETE" else w.ids["org"]


async def _dataset_with_sla(w: World, variant: str, fresh: bool, method: str) -> str:
    """A fresh dataset that has an SLA to read or remove (shared ones have none)."""
    ds = await _dataset_param(w, variant, fresh, method)
    if fresh:
        await w.ok(
            "PUT", f"/api/datasets/{ds}/sla", "A.admin", json={"kind": "max_age", "hours": 6}
        )
    return ds


async def _dashboard_param(w: World, variant: str, fresh: bool, method: str) -> str:
    vis = variant or "public"
    return str((await w.dashboard(vis))["id"]) if fresh else w.ids[f"dash.{vis}"]


ALERT_HOOK = {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}


async def _alert_param(w: World, variant: str, fresh: bool, method: str) -> str:
    """Org A's org rule (made by its admin); a fresh one for cases that succeed."""
    key = "alert.fresh" if fresh else "alert"
    if fresh or key not in w.ids:
        body = {"name": unique("rule"), "events": ["dataset.updated"], "channel": ALERT_HOOK}
        made = await w.ok("POST", "/api/alerts", "A.admin", json={**body, "org_rule": True})
        w.ids[key] = made["id"]
    return w.ids[key]


async def _delivery_param(w: World, variant: str, fresh: bool, method: str) -> str:
    """A (failed) test delivery of the rule the case's alert_id names."""
    key = "alert.fresh" if fresh else "alert"
    if fresh or "alert.delivery" not in w.ids:
        sent = await w.ok("POST", f"/api/alerts/{w.ids[key]}/test", "A.admin")
        if fresh:
            return str(sent["delivery_id"])
        w.ids["alert.delivery"] = sent["delivery_id"]
    return w.ids["alert.delivery"]


def _fresh_or_shared(kind: str, make: Callable[[World], Awaitable[Any]]) -> Any:
    async def param(w: World, variant: str, fresh: bool, method: str) -> str:
        if not fresh:
            return w.ids[kind]
        made = await make(w)
        return str(made["id"] if isinstance(made, dict) else made.id)

    return param


PARAMS: dict[str, Any] = {
    "dataset_id": _dataset_param,
    "asset_id": _dataset_param,
    "edge_id": _edge_param,
    "key_id": _key_param,
    "org_id": _org_param,
    "process_id": _fresh_or_shared("process", lambda w: w.process()),
    "node_id": _fresh_or_shared("node", lambda w: w.node()),
    "profile_id": _fresh_or_shared("profile", lambda w: w.profile()),
    "user_id": _fresh_or_shared("user", lambda w: w.user()),
    "dashboard_id": _dashboard_param,
    # a crawl of another node: no crawl of this id exists for anyone's node -> 404 for all
    "crawl_id": _fresh_or_shared("node", lambda w: w.node()),
    "alert_id": _alert_param,
    "delivery_id": _delivery_param,
    # "<operation> <parameter>" keys override the parameter's maker for that operation
    "GET /api/datasets/{dataset_id}/sla dataset_id": _dataset_with_sla,
    "DELETE /api/datasets/{dataset_id}/sla dataset_id": _dataset_with_sla,
}


async def _none(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    return {}


def _json(make: Callable[[World, str], Any]) -> Any:
    async def body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
        return {"json": make(w, variant)}

    return body


async def _dbt_body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    from tests.audit.scenarios_ingestion import MANIFEST

    return {
        "files": {"manifest": ("manifest.json", json.dumps(MANIFEST).encode())},
        "data": {"namespace": "postgres://matrix:5432"},
    }


def _dataset_body(w: World, variant: str) -> dict[str, Any]:
    return {"namespace": "postgres://matrix:5432", "name": unique("m.t"), "platform": "postgresql"}


async def _follow_body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    return {"json": {"dataset_id": await _dataset_param(w, variant, fresh, "POST")}}


async def _edge_body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    target = (await w.process())["id"] if fresh else w.ids["process"]
    return {"json": {"source": w.ids[f"ds.{variant}"], "target": target}}


def _if_match(make: Callable[[World, str], Any]) -> Any:
    """Every dashboard a case writes is at its first version (successful writes use fresh ones)."""

    async def body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"headers": {"If-Match": '"1"'}}
        payload = make(w, variant)
        return out if payload is None else {**out, "json": payload}

    return body


def _node_query(w: World, variant: str) -> dict[str, Any]:
    return {"params": {"node": w.ids[f"ds.{variant or 'public'}"]}}


async def _refresh_body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    account = await w.fresh_login("A.viewer")
    return {"json": {"refresh_token": account.refresh_token}}


async def _login_body(w: World, variant: str, fresh: bool) -> dict[str, Any]:
    from tests.factories import PASSWORD

    return {"json": {"email": w.acc("A.viewer").email, "password": PASSWORD}}


def _q(make: Callable[[World, str], dict[str, Any]]) -> Any:
    async def query(w: World, variant: str, fresh: bool) -> dict[str, Any]:
        return make(w, variant)

    return query


BODIES: dict[str, Any] = {
    "POST /api/auth/login": _login_body,
    "POST /api/auth/refresh": _refresh_body,
    "POST /api/auth/api-keys": _json(lambda w, v: {"name": unique("k"), "role": "viewer"}),
    "POST /api/auth/users": _json(
        lambda w, v: {
            "email": unique("new") + "@acme.test",
            "role": "viewer",
            "org_id": w.ids["org"],
        }
    ),
    "PATCH /api/auth/users/{user_id}": _json(lambda w, v: {"name": "Renamed"}),
    "POST /api/orgs": _json(lambda w, v: {"name": unique("NewOrg")}),
    "PATCH /api/orgs/{org_id}": _json(lambda w, v: {"description": "changed"}),
    "POST /api/datasets": _json(_dataset_body),
    "POST /api/lineage/assets": _json(_dataset_body),
    "PATCH /api/datasets/{dataset_id}": _json(lambda w, v: {"description": "changed"}),
    "PUT /api/datasets/{dataset_id}/sla": _json(lambda w, v: {"kind": "daily_by", "at": "07:00"}),
    "POST /api/connectors/{type_id}/test": _json(
        lambda w, v: {"config": {"url": "http://127.0.0.1:9/health"}, "secrets": {}}
    ),
    "POST /api/nodes": _json(
        lambda w, v: {
            "name": unique("n"),
            "type": "http_api",
            "config": {"url": "http://127.0.0.1:9/x"},
        }
    ),
    "POST /api/nodes/test": _json(
        lambda w, v: {"type": "http_api", "config": {"url": "http://127.0.0.1:9/x"}, "secrets": {}}
    ),
    "PATCH /api/nodes/{node_id}": _json(lambda w, v: {"tags": ["changed"]}),
    "POST /api/platform-profiles": _json(
        lambda w, v: {
            "platform": "postgresql",
            "name": unique("p"),
            "scope": v,
            "is_default": False,
            "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
            "secrets": {"password": "env:PGPASSWORD"},
        }
    ),
    "PATCH /api/platform-profiles/{profile_id}": _json(lambda w, v: {"name": unique("renamed")}),
    "POST /api/datasets/{dataset_id}/connect": _json(lambda w, v: {"platform": "postgresql"}),
    "POST /api/follows": _follow_body,
    "POST /api/lineage/processes": _json(
        lambda w, v: {"namespace": "airflow://matrix", "name": unique("p")}
    ),
    "PATCH /api/lineage/processes/{process_id}": _json(lambda w, v: {"description": "changed"}),
    "POST /api/lineage/edges": _edge_body,
    "GET /api/lineage/graph": _q(_node_query),
    "GET /api/lineage/impact": _q(_node_query),
    "GET /api/lineage/impact/export": _q(_node_query),
    "GET /api/lineage/columns/impact": _q(
        lambda w, v: {"params": {"dataset": w.ids[f"ds.{v or 'public'}"], "field": "id"}}
    ),
    "GET /api/v1/lineage": _q(lambda w, v: {"params": {"nodeId": w.ol_ids[v]}}),
    "POST /api/v1/lineage": _json(lambda w, v: _ol_event(w)),
    "POST /api/v1/lineage/batch": _json(lambda w, v: [_ol_event(w), _ol_event(w)]),
    "POST /api/dbt/import": _dbt_body,
    "POST /api/dashboards": _json(lambda w, v: {"title": unique("New flow ")}),
    "PATCH /api/dashboards/{dashboard_id}": _if_match(lambda w, v: {"description": "changed"}),
    "DELETE /api/dashboards/{dashboard_id}": _if_match(lambda w, v: None),
    "POST /api/dashboards/{dashboard_id}/duplicate": _json(lambda w, v: {}),
    "POST /api/alerts": _json(
        lambda w, v: {
            "name": unique("rule"),
            "events": ["process.run_failed"],
            "channel": ALERT_HOOK,
            "org_rule": v == "org",
        }
    ),
    "PATCH /api/alerts/{alert_id}": _json(lambda w, v: {"name": unique("renamed")}),
}
FIXED_PARAMS = {"type_id": "http_api", "provider": "no-such-provider"}

# What a refused write must leave untouched (volatile columns left out).
_FINGERPRINT = " UNION ALL ".join(
    f"SELECT '{t}', md5(coalesce(string_agg(({cols})::text, '|' ORDER BY ({cols})::text), ''))"
    f" FROM {t} x"
    for t, cols in {
        "organizations": "row_to_json(x)",
        "users": "(row_to_json(x)::jsonb - 'last_login_at')",
        "api_keys": "(row_to_json(x)::jsonb - 'last_used_at')",
        "datasets": "row_to_json(x)",
        "dataset_owners": "row_to_json(x)",
        "follows": "row_to_json(x)",
        "platform_profiles": "row_to_json(x)",
        "nodes": "row_to_json(x)",
        "node_checks": "row_to_json(x)",
        "processes": "row_to_json(x)",
        "runs": "row_to_json(x)",
        "lineage_edges": "row_to_json(x)",
        "dataset_slas": "row_to_json(x)",
        "dashboards": "row_to_json(x)",
        "alert_rules": "row_to_json(x)",
        "alert_deliveries": "row_to_json(x)",
        "events": "row_to_json(x)",
        "audit_log": "row_to_json(x)",
    }.items()
)


async def fingerprint(raw: asyncpg.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in await raw.fetch(_FINGERPRINT)}


async def asgi_status(app: FastAPI, path: str, headers: dict[str, str]) -> int:
    """The status of a streaming response, then hang up (the stream itself never ends)."""
    got: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    hang_up = asyncio.Event()
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not got.done():
            got.set_result(message["status"])
            hang_up.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    status = await got
    hang_up.set()
    try:
        await asyncio.wait_for(task, 30)
    except TimeoutError:
        task.cancel()
    return status


async def run_case(
    w: World, raw: asyncpg.Connection, op: str, variant: str, who: str, expected: int
) -> str | None:
    method, path = op.split(" ", 1)
    fresh = 200 <= expected < 300
    url = path
    for name in re.findall(r"{(\w+)}", path):
        value = FIXED_PARAMS.get(name)
        if value is None:
            make = PARAMS.get(f"{op} {name}") or PARAMS[name]
            value = await make(w, variant, fresh, method)
        url = url.replace("{" + name + "}", value)
    kw = await BODIES.get(op, _none)(w, variant, fresh)
    headers = {**w.headers(who), **kw.pop("headers", {})}
    if op == "POST /api/auth/logout" and who not in ("anon", "disabled", "key"):
        headers = (await w.fresh_login(who)).headers  # signing out ends only this session
    write = method != "GET"
    before = await fingerprint(raw) if write and not fresh else None
    w.c.cookies.clear()
    if op in STREAMING:
        status, text, ctype = await asgi_status(w.app, url, headers), "", ""
    else:
        resp = await w.c.request(method, url, headers=headers, **kw)
        status, text = resp.status_code, resp.text[:200]
        ctype = resp.headers.get("content-type", "")
    label = f"{op} [{variant}] as {who}" if variant else f"{op} as {who}"
    if status != expected:
        return f"{label}: expected {expected}, got {status} {text}"
    if status >= 400 and op not in STREAMING and not ctype.startswith("application/problem+json"):
        return f"{label}: error is not problem+json ({ctype})"
    if before is not None:
        after = await fingerprint(raw)
        changed = sorted(t for t in before if before[t] != after[t])
        if changed:
            return f"{label}: refused ({status}) but changed {changed}"
    return None


# -- the tests ----------------------------------------------------------------------------------
async def test_every_operation_has_a_rule(app: FastAPI) -> None:
    unclassified = operations(app) - set(RULES) - UNDOCUMENTED
    assert not unclassified, f"classify these operations in RULES: {sorted(unclassified)}"
    stale = set(RULES) - operations(app)
    assert not stale, f"rules for operations that no longer exist: {sorted(stale)}"
    for variants in RULES.values():
        for spec in variants.values():
            expectations(spec)


GROUPS = {
    "identity": ("/api/auth", "/api/orgs", "/api/health", "/api/ready"),
    "catalog": ("/api/datasets", "/api/follows", "/api/feed"),
    "nodes": ("/api/connectors", "/api/nodes", "/api/platform-profiles"),
    "lineage": ("/api/lineage", "/api/v1", "/api/audit"),
}


def _group_of(op: str) -> str:
    path = op.split(" ", 1)[1]
    if path.endswith("/connect"):
        return "nodes"
    for group, prefixes in GROUPS.items():
        if path.startswith(prefixes):
            return group
    return "other"


@pytest.mark.parametrize("group", [*GROUPS, "other"])
async def test_authz_matrix(
    group: str, app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    ops = sorted(op for op in operations(app) & set(RULES) if _group_of(op) == group)
    if not ops:
        pytest.skip(f"no operations in {group}")
    w = await build(app, client)
    failures = []
    for op in ops:
        for variant, spec in RULES[op].items():
            for who, expected in expectations(spec).items():
                problem = await run_case(w, raw_conn, op, variant, who, expected)
                if problem:
                    failures.append(problem)
    assert not failures, f"{len(failures)} cases differ from the rules:\n" + "\n".join(failures)
