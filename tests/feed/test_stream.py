"""The live stream over a real HTTP server: delivery, visibility, replay, faults, limits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from datamesh.config import Settings
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.refs import Ref
from tests.factories import PASSWORD, Account, make_user
from tests.fixtures.live import free_port, live_server, sse

STREAM = "/api/feed/stream"


@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, object]]:
    async with live_server(settings, migrate_on_start=False) as (url, app):
        yield url, app


async def _login(client: httpx.AsyncClient, acct: Account) -> Account:
    r = await client.post("/api/auth/login", json={"email": acct.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    acct.token = r.json()["access_token"]
    client.cookies.clear()
    return acct


async def _owner_colleague_outsider(
    client: httpx.AsyncClient, app: Any
) -> tuple[Account, Account, Account]:
    """A producer, a viewer of the same org and a viewer of another org, signed in."""
    return (
        await _login(client, await make_user(app, "owner@acme.test", role="producer")),
        await _login(client, await make_user(app, "col@acme.test", role="viewer")),
        await _login(client, await make_user(app, "out@globex.test", role="viewer", org="Globex")),
    )


async def _publish(
    client: httpx.AsyncClient, who: Account, name: str, visibility: str = "internal"
) -> dict:
    r = await client.post(
        "/api/datasets",
        json={
            "namespace": "pg://x",
            "name": name,
            "platform": "postgresql",
            "visibility": visibility,
        },
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_stream_delivers_only_what_each_subscriber_may_see(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner, colleague, outsider = await _owner_colleague_outsider(c, app)
        async with (
            sse(c, STREAM, headers=colleague.headers) as col,
            sse(c, STREAM, headers=outsider.headers) as out,
        ):
            private = await _publish(c, owner, "s.private_t", "private")
            internal = await _publish(c, owner, "s.internal_t", "internal")
            public = await _publish(c, owner, "s.public_t", "public")
            got = await out.wait_for(lambda m: m.json()["subject"]["id"] == public["id"])
            assert got.event == "dataset.published"
            assert got.id and got.json()["id"] != got.id  # a resume point; data names the event
            await col.wait_for(lambda m: m.json()["subject"]["id"] == public["id"])
            col_ids = {m.json()["subject"]["id"] for m in col.messages}
            out_ids = {m.json()["subject"]["id"] for m in out.messages}
            assert col_ids == {internal["id"], public["id"]}
            assert out_ids == {public["id"]}
            assert all(private["id"] not in m.data for m in col.messages + out.messages)


async def test_dashboard_events_follow_the_dashboards_visibility(live) -> None:
    """Dashboard events reach the feed and the stream of those who may read the dashboard."""
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner, colleague, outsider = await _owner_colleague_outsider(c, app)
        made = {}
        async with (
            sse(c, STREAM, headers=colleague.headers) as col,
            sse(c, STREAM, headers=outsider.headers) as out,
        ):
            for vis in ("private", "internal", "public"):
                r = await c.post(
                    "/api/dashboards",
                    json={"title": f"{vis} flow", "visibility": vis},
                    headers=owner.headers,
                )
                assert r.status_code == 201, r.text
                made[vis] = r.json()["id"]
            await out.wait_for(lambda m: m.json()["subject"]["id"] == made["public"])
            await col.wait_for(lambda m: m.json()["subject"]["id"] == made["public"])
            seen = {
                who: {m.json()["subject"]["id"] for m in reader.messages}
                for who, reader in (("col", col), ("out", out))
            }
        assert seen == {"col": {made["internal"], made["public"]}, "out": {made["public"]}}
        for who, expected in ((colleague, {"internal", "public"}), (outsider, {"public"})):
            feed = (await c.get("/api/feed", params={"mode": "recent"}, headers=who.headers)).json()
            kinds = {
                i["subject"]["id"] for i in feed["items"] if i["subject"]["kind"] == "dashboard"
            }
            assert kinds == {made[v] for v in expected}
            assert all(i["type"] == "dashboard.created" for i in feed["items"]
                       if i["subject"]["kind"] == "dashboard")  # fmt: skip


async def test_browser_cookie_authenticates_the_stream(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        async with httpx.AsyncClient(base_url=url) as browser:
            await make_user(app, "b@acme.test")
            r = await browser.post(
                "/api/auth/login", json={"email": "b@acme.test", "password": PASSWORD}
            )
            assert r.status_code == 200
            async with sse(browser, STREAM) as stream:
                ds = await _publish(c, owner, "s.cookie")
                await stream.wait_for(lambda m: m.json()["subject"]["id"] == ds["id"])
        anon = await c.get(STREAM)
        assert anon.status_code == 401


async def test_last_event_id_replays_what_was_missed(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        async with sse(c, STREAM, headers=owner.headers) as first:
            await _publish(c, owner, "s.before")
            seen = await first.wait_for(lambda m: m.event == "dataset.published")
        missed = [await _publish(c, owner, f"s.missed{i}") for i in range(3)]
        async with sse(c, STREAM, headers={**owner.headers, "Last-Event-ID": seen.id}) as again:
            for ds in missed:
                await again.wait_for(lambda m, ds=ds: m.json()["subject"]["id"] == ds["id"])
            live_ds = await _publish(c, owner, "s.after")
            await again.wait_for(lambda m: m.json()["subject"]["id"] == live_ds["id"])
            ids = [m.json()["subject"]["id"] for m in again.messages]
            assert ids == [d["id"] for d in [*missed, live_ds]], "in order, no gap, no duplicate"


async def test_an_event_committed_late_is_replayed_after_a_reconnect(live) -> None:
    """Sequence numbers are taken at insert: an event can commit after a newer one was sent.
    If the client's stream drops in between, the reconnect still brings it, and nothing twice."""
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        ds = await _publish(c, owner, "s.late", "public")

        async def emit(session: Any, n: int) -> None:
            subject = Ref("dataset", ds["id"], "late")
            await events.emit(session, "dataset.updated", Actor("system"), subject, {"n": n})

        def n_is(n: int) -> Any:
            return lambda m: m.event == "dataset.updated" and m.json()["payload"].get("n") == n

        async with (
            sse(c, STREAM, headers=owner.headers) as first,
            app.state.sessionmaker() as slow,
        ):
            await emit(slow, 1)  # takes the lower sequence number, commits last
            async with app.state.sessionmaker() as fast:
                await emit(fast, 2)
                await fast.commit()
            newer = await first.wait_for(n_is(2))
            await first.stop()  # the connection drops before the older event commits
            await slow.commit()
        assert newer.id
        async with sse(c, STREAM, headers={**owner.headers, "Last-Event-ID": newer.id}) as again:
            await again.wait_for(n_is(1))
            async with app.state.sessionmaker() as session:
                await emit(session, 3)
                await session.commit()
            await again.wait_for(n_is(3))
            got = [m.json()["payload"].get("n") for m in again.messages]
            assert got == [1, 3], "the late event once, the sent one not again"
            bad = await c.get(STREAM, headers={**owner.headers, "Last-Event-ID": "garbage"})
            assert bad.status_code == 422


async def test_listener_reconnects_and_catches_up(live, raw_conn: asyncpg.Connection) -> None:
    url, app = live
    hub = app.state.stream_hub
    async with httpx.AsyncClient(base_url=url) as c:
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        async with sse(c, STREAM, headers=owner.headers) as stream:
            killed = await raw_conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'datamesh-listener' AND datname = current_database()"
            )
            assert killed >= 1
            during = await _publish(c, owner, "s.during_outage")
            await stream.wait_for(lambda m: m.json()["subject"]["id"] == during["id"], timeout=20)
            await asyncio.wait_for(hub.connected.wait(), 20)
            after = await _publish(c, owner, "s.after_outage")
            await stream.wait_for(lambda m: m.json()["subject"]["id"] == after["id"])


async def test_slow_consumer_is_told_to_resync(settings: Settings, clean_db: None) -> None:
    small = settings.model_copy(update={"sse_queue_size": 3})
    async with (
        live_server(small, migrate_on_start=False) as (url, app),
        httpx.AsyncClient(base_url=url) as c,
    ):
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        ds = await _publish(c, owner, "s.busy", "public")
        async with sse(c, STREAM, headers=owner.headers) as stream:
            async with app.state.sessionmaker() as session:  # one transaction, ten events at once
                for i in range(10):
                    await events.emit(
                        session,
                        "dataset.updated",
                        Actor("system"),
                        Ref("dataset", ds["id"], "busy"),
                        {"n": i},
                        org_id=None,
                    )
                await session.commit()
            resync = await stream.wait_for(lambda m: m.event == "resync")
            assert resync.json()["reason"] == "slow_consumer"
        assert app.state.stream_hub.subscriber_count == 0


async def test_stream_cap_answers_503(settings: Settings, clean_db: None) -> None:
    capped = settings.model_copy(update={"sse_max_streams": 1})
    async with (
        live_server(capped, migrate_on_start=False) as (url, app),
        httpx.AsyncClient(base_url=url) as c,
    ):
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        async with sse(c, STREAM, headers=owner.headers):
            second = await c.get(STREAM, headers=owner.headers)
            assert second.status_code == 503
            assert second.headers["retry-after"]
            assert second.headers["content-type"].startswith("application/problem+json")


# -- across processes ---------------------------------------------------------------------------
def _serve(db_url: str, data_dir: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATAMESH_DATA_DIR": str(data_dir),
        "DATAMESH_SECRET_KEY": "shared-secret-for-the-cross-process-test-000000",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datamesh.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(1200):  # start-up is slow on a busy 2-core machine
            if proc.poll() is not None:
                raise AssertionError(
                    proc.stderr.read().decode()[-3000:] if proc.stderr else "exited"
                )
            try:
                if (await c.get(f"{url}/api/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_event_written_through_one_process_reaches_another(
    app, db_url: str, tmp_path: Path
) -> None:
    await make_user(app, "owner@acme.test", role="producer")
    await make_user(app, "reader@acme.test", role="viewer")
    ports = [free_port(), free_port()]
    procs = [_serve(db_url, tmp_path, p, workers=2) for p in ports]
    try:
        a, b = (f"http://127.0.0.1:{p}" for p in ports)
        await asyncio.gather(_wait_ready(a, procs[0]), _wait_ready(b, procs[1]))
        async with httpx.AsyncClient(base_url=a) as ca, httpx.AsyncClient(base_url=b) as cb:
            reader = await _login(ca, Account("reader@acme.test", "Acme", "viewer"))
            owner = await _login(cb, Account("owner@acme.test", "Acme", "producer"))
            # Several subscribers on server A (spread over its two workers), the write on server B.
            streams = [sse(ca, STREAM, headers=reader.headers) for _ in range(4)]
            readers = [await s.__aenter__() for s in streams]
            try:
                ds = await _publish(cb, owner, "s.cross_process")
                for r in readers:
                    await r.wait_for(lambda m: m.json()["subject"]["id"] == ds["id"], timeout=15)
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)
    finally:
        for p in procs:
            _stop(p)


async def test_a_lineage_event_goes_out_fully_redacted_while_the_database_is_away() -> None:
    """A stream must not end because the per-reader redaction of a lineage event cannot reach
    PostgreSQL (a restart, a dead pooled connection): the event goes out with every node id
    hidden instead, and the stream carries on."""
    import uuid
    from datetime import UTC, datetime

    import orjson
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from datamesh.auth.principal import Principal
    from datamesh.feed.endpoints import _message
    from datamesh.feed.service import RESTRICTED
    from datamesh.models.events import Event

    # Nothing listens on this port: a real connection refusal, as during an outage.
    dead = create_async_engine(
        f"postgresql+asyncpg://u:p@127.0.0.1:{free_port()}/none", connect_args={"timeout": 2}
    )
    src, proc, dst = (str(uuid.uuid4()) for _ in range(3))
    event = Event(
        id=uuid.uuid4(),
        seq=7,
        type="lineage.changed",
        occurred_at=datetime.now(UTC),
        actor_kind="api_key",
        actor_id=uuid.uuid4(),
        actor_name="api-key:airflow",
        org_id=uuid.uuid4(),
        subject_kind="process",
        subject_id=proc,
        subject_name="daily_sales",
        related=[],
        payload={
            "edges_added": [[src, proc], [proc, dst]],
            "kinds": {src: "dataset", proc: "process", dst: "dataset"},
            "events": 1,
        },
    )
    reader = Principal(kind="user", id=uuid.uuid4(), name="r", org_id=uuid.uuid4(), role="viewer")
    try:
        msg = await _message(async_sessionmaker(dead), reader, event, "6.7.Ag")
    finally:
        await dead.dispose()
    assert (msg.event, msg.id) == ("lineage.changed", "6.7.Ag")
    data = orjson.loads(str(msg.data))
    assert data["payload"]["edges_added"] == [[RESTRICTED, RESTRICTED], [RESTRICTED, RESTRICTED]]
    assert data["payload"]["kinds"] == {}
    assert not {src, dst} & set(str(msg.data).split('"')), "no hidden node id is named"


async def test_a_stream_is_told_when_its_session_ends_while_it_waits(
    live: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream waiting for events checks its session every ``_REVALIDATE_SECONDS``: signed
    out elsewhere, it is told ``session_ended`` and closed (before and after an event)."""
    from datamesh.feed import endpoints as feed_endpoints

    monkeypatch.setattr(feed_endpoints, "_REVALIDATE_SECONDS", 0.2)
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        owner = await _login(c, await make_user(app, "owner@acme.test", role="producer"))
        async with sse(c, STREAM, headers=owner.headers) as stream:
            ds = await _publish(c, owner, "s.before_sign_out", "public")
            await stream.wait_for(
                lambda m: (
                    m.event != "session_ended" and m.data and m.json()["subject"]["id"] == ds["id"]
                )
            )
            assert not [m for m in stream.messages if m.event == "session_ended"]
            r = await c.post("/api/auth/logout", headers=owner.headers)
            assert r.status_code in (200, 204), r.text
            ended = await stream.wait_for(lambda m: m.event == "session_ended")
            assert ended.json() == {}
        assert app.state.stream_hub.subscriber_count == 0
