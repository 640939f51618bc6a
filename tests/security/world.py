"""A two-organization world for the authorization matrix and the leak sweep: every kind of
principal, and org A's resources of every kind, created through the real API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import Account, login, make_user, signed_in

ROLES = ("admin", "steward", "producer", "viewer")
ORGS = {"A": "Acme", "B": "Globex"}
# Every principal of the matrix: anonymous, a disabled user, an API key (org A, producer),
# a platform administrator (a viewer of a third org: its powers come from the flag alone),
# and each role of org A (which owns the resources) and of org B (the other org).
PRINCIPALS = (
    "anon",
    "disabled",
    "key",
    "platform",
    *(f"{o}.{r}" for o in ORGS for r in ROLES),
)

NODE_CONFIG = {"url": "http://127.0.0.1:9/health"}
PROFILE = {
    "platform": "postgresql",
    "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
    "secrets": {"password": "env:PGPASSWORD"},
}
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


@dataclass
class World:
    app: FastAPI
    c: httpx.AsyncClient
    who: dict[str, Account | None] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    ol_ids: dict[str, str] = field(default_factory=dict)  # visibility -> dataset:<ns>:<name>

    def acc(self, name: str) -> Account:
        account = self.who[name]
        assert account is not None
        return account

    def headers(self, name: str) -> dict[str, str]:
        account = self.who[name]
        return account.headers if account is not None else {}

    async def call(self, method: str, url: str, as_: str, **kw: Any) -> httpx.Response:
        self.c.cookies.clear()
        return await self.c.request(method, url, headers=self.headers(as_), **kw)

    async def ok(self, method: str, url: str, as_: str, **kw: Any) -> Any:
        resp = await self.call(method, url, as_, **kw)
        assert resp.status_code < 300, f"{method} {url} as {as_}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    # -- principals ----------------------------------------------------------------------------
    async def make_principals(self) -> None:
        self.who["anon"] = None
        for o, org in ORGS.items():
            for r in ROLES:
                self.who[f"{o}.{r}"] = await signed_in(
                    self.app, self.c, f"{r}@{org.lower()}.test", org=org, role=r
                )
        self.who["platform"] = await signed_in(
            self.app,
            self.c,
            "root@platform.test",
            org="Platform",
            role="viewer",
            platform_admin=True,
        )
        disabled = await signed_in(self.app, self.c, "gone@acme.test", org="Acme", role="admin")
        await self.ok("DELETE", f"/api/auth/users/{disabled.id}", "A.admin")
        self.who["disabled"] = disabled
        self.who["key"] = await self.api_key("A.producer", "producer")

    async def api_key(self, creator: str, role: str) -> Account:
        body = await self.ok(
            "POST", "/api/auth/api-keys", creator, json={"name": unique("key"), "role": role}
        )
        owner = self.acc(creator)
        return Account(
            email="",
            org=owner.org,
            role=role,
            id=body["id"],
            org_id=owner.org_id,
            token=body["key"],
        )

    async def fresh_login(self, name: str) -> Account:
        """Another session of the same user (for cases that end their session)."""
        account = self.acc(name)
        copy = Account(
            email=account.email,
            org=account.org,
            role=account.role,
            id=account.id,
            org_id=account.org_id,
        )
        return await login(self.c, copy)

    # -- org A's resources ---------------------------------------------------------------------
    async def dataset(self, visibility: str, *, as_: str = "A.admin", **kw: Any) -> dict[str, Any]:
        body = {
            "namespace": "postgres://acme-db:5432",
            "name": unique(f"shop.{visibility}_"),
            "platform": "postgresql",
            "visibility": visibility,
            "owners": [],
            **kw,
        }
        return dict(await self.ok("POST", "/api/datasets", as_, json=body))

    async def process(self, as_: str = "A.producer") -> dict[str, Any]:
        return dict(
            await self.ok(
                "POST",
                "/api/lineage/processes",
                as_,
                json={"namespace": "airflow://acme", "name": unique("dag.task_")},
            )
        )

    async def edge(self, source: str, target: str, as_: str = "A.admin") -> dict[str, Any]:
        return dict(
            await self.ok(
                "POST", "/api/lineage/edges", as_, json={"source": source, "target": target}
            )
        )

    async def node(self) -> dict[str, Any]:
        return dict(
            await self.ok(
                "POST",
                "/api/nodes",
                "A.admin",
                json={"name": unique("api"), "type": "http_api", "config": NODE_CONFIG},
            )
        )

    async def profile(self, as_: str = "A.admin", scope: str = "org") -> dict[str, Any]:
        return dict(
            await self.ok(
                "POST",
                "/api/platform-profiles",
                as_,
                json={**PROFILE, "name": unique("pg"), "scope": scope},
            )
        )

    async def dashboard(self, visibility: str, as_: str = "A.producer") -> dict[str, Any]:
        body = {"title": unique("Flow "), "visibility": visibility}
        return dict(await self.ok("POST", "/api/dashboards", as_, json=body))

    async def user(self) -> Account:
        return await make_user(self.app, unique("target") + "@acme.test", org="Acme")

    async def org(self) -> dict[str, Any]:
        return dict(await self.ok("POST", "/api/orgs", "platform", json={"name": unique("Org")}))

    async def make_resources(self) -> None:
        """One of each kind, owned by org A, shared by every refused case."""
        for vis in ("public", "internal", "private"):
            ds = await self.dataset(vis)
            self.ids[f"ds.{vis}"] = ds["id"]
            self.ol_ids[vis] = f"dataset:{ds['namespace']}:{ds['name']}"
            self.ids[f"dash.{vis}"] = (await self.dashboard(vis))["id"]
        proc = await self.process()
        self.ids["process"] = proc["id"]
        self.ids["edge"] = (await self.edge(self.ids["ds.public"], proc["id"]))["id"]
        self.ids["node"] = (await self.node())["id"]
        self.ids["profile"] = (await self.profile())["id"]
        self.ids["user"] = (await self.user()).id
        self.ids["key"] = self.acc("key").id
        self.ids["org"] = self.acc("A.admin").org_id


async def build(app: FastAPI, c: httpx.AsyncClient) -> World:
    w = World(app, c)
    await w.make_principals()
    await w.make_resources()
    return w
