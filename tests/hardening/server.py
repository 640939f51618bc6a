"""A real uvicorn server for the app in a thread with its own event loop, so synchronous clients
(schemathesis drives ``requests``) can call it while the test thread blocks; and a small seeded
world of resources so fuzzed paths also hit things that exist."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from datamesh.app import create_app
from datamesh.config import Settings
from tests.factories import PASSWORD, make_user
from tests.fixtures.live import free_port

T = TypeVar("T")


class ServerThread:
    """``with ServerThread(settings) as srv:`` serves ``srv.url`` until the block ends."""

    def __init__(self, settings: Settings, **app_kw: Any) -> None:
        self.app: FastAPI = create_app(settings, migrate_on_start=False, **app_kw)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="datamesh-server", daemon=True)
        self._error: BaseException | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            task = asyncio.create_task(self.server.serve())
            while not self.server.started and not task.done():
                await asyncio.sleep(0.02)
            self._ready.set()
            await task

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._ready.set()
            # Streams' helper tasks may outlive the server by a moment: end them here.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None or not self.server.started:
            raise RuntimeError(f"the server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where its engine and pool live)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


async def truncate_all(dsn: str) -> None:
    """Empty every table, as ``clean_db`` does (bypassing the audit log's trigger)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
    finally:
        await conn.close()


@dataclass
class World:
    """Ids of real resources, and the tokens of who made them."""

    token: str = ""
    ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def seed_world(srv: ServerThread, dsn: str) -> World:
    """A fresh database with a platform admin of Acme, a user of Globex and one of each resource."""
    srv.run(truncate_all(dsn))
    root = srv.run(make_user(srv.app, "root@acme.test", role="admin", platform_admin=True))
    other = srv.run(make_user(srv.app, "viewer@globex.test", org="Globex", role="viewer"))
    w = World()
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/api/auth/login", json={"email": root.email, "password": PASSWORD})
        r.raise_for_status()
        w.token = r.json()["access_token"]
        c.cookies.clear()
        h = w.headers

        def add(kind: str, resp: httpx.Response) -> dict[str, Any]:
            assert resp.status_code in (200, 201), resp.text
            body: dict[str, Any] = resp.json()
            w.ids.setdefault(kind, []).append(str(body["id"]))
            return body

        w.ids["user"] = [root.id, other.id]
        w.ids["org"] = [root.org_id, other.org_id]
        ds = [
            add(
                "dataset",
                c.post(
                    "/api/datasets",
                    json={
                        "namespace": "postgres://db:5432",
                        "name": f"shop.public.{name}",
                        "platform": "postgresql",
                        "description": f"The {name} table.",
                        "tags": ["sales"],
                        "visibility": vis,
                        "fields": [{"name": "id", "type": "bigint"}],
                    },
                    headers=h,
                ),
            )
            for name, vis in (("orders", "public"), ("customers", "internal"), ("pii", "private"))
        ]
        add(
            "edge",
            c.post(
                "/api/lineage/edges", json={"source": ds[0]["id"], "target": ds[1]["id"]}, headers=h
            ),
        )
        add(
            "process",
            c.post(
                "/api/lineage/processes", json={"namespace": "airflow", "name": "etl"}, headers=h
            ),
        )
        add(
            "node",
            c.post(
                "/api/nodes",
                json={"name": "api", "type": "http_api", "config": {"url": "http://127.0.0.1:9/"}},
                headers=h,
            ),
        )
        add(
            "profile",
            c.post(
                "/api/platform-profiles",
                json={
                    "name": "pg",
                    "platform": "postgresql",
                    "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
                    "secrets": {"password": "env:PGPASSWORD"},
                },
                headers=h,
            ),
        )
        add("api_key", c.post("/api/auth/api-keys", json={"name": "ci"}, headers=h))
        c.post("/api/follows", json={"dataset_id": ds[0]["id"]}, headers=h).raise_for_status()
    return w
