"""Claims larger than the send pool: leases taken in one statement never overlap between
workers, a lease that runs out mid-batch is taken over (the receiver sees the same delivery id
and dedupes), and a stopping worker gives back what it has not sent."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from fastapi import FastAPI
from sqlalchemy import text

from datamesh.alerts import repository as repo
from datamesh.alerts import service
from datamesh.alerts.worker import AlertWorker, send_prepared
from datamesh.config import Settings
from datamesh.db import session_scope
from tests.alerts.support import dataset, own_workers, rule, touch, until
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.fixtures.receiver import Receiver


async def _pending(app: FastAPI, receiver: Receiver, rules: int, changes: int) -> int:
    """``rules`` webhook rules and ``changes`` dataset updates: rules x changes deliveries made
    by the consumer (the workers are off), none sent yet."""
    async with client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        ds = await dataset(client, owner, "shop.orders")
        for i in range(rules):
            await rule(client, owner, {"kind": "webhook", "url": receiver.url(f"/r{i}")})
        consumer = AlertWorker(
            app.state.sessionmaker, app.state.alerts, poll_seconds=60, concurrency=1
        )
        await consumer.consume_once()  # the position at the head: what follows counts
        for i in range(changes):
            await touch(client, owner, ds["id"], f"change {i}")
        await consumer.consume_once()
    async with app.state.sessionmaker() as s:
        n = await s.scalar(text("SELECT count(*) FROM alert_deliveries WHERE state = 'pending'"))
    assert n == rules * changes
    return int(n)


async def test_concurrent_claims_never_share_a_delivery(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """A claim holds its rows until it commits (others skip them) and leases them after (others
    leave them): two claims made while both are open, and a third after, are disjoint."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app:
        total = await _pending(app, receiver, rules=3, changes=8)
        sm = app.state.sessionmaker
        async with sm() as first, sm() as second:
            a = await repo.claim_due(first, 10, 60, uuid.uuid4())
            b = await repo.claim_due(second, 10, 60, uuid.uuid4())
            await first.commit()
            await second.commit()
        async with session_scope(sm) as third:
            c = await repo.claim_due(third, 100, 60, uuid.uuid4())
        ids = [d.id for d in [*a, *b, *c]]
        assert (len(a), len(b)) == (10, 10)
        assert len(ids) == len(set(ids)) == total


async def test_a_claim_takes_one_events_fan_out_together_in_event_order(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """The consumer matches a batch rule by rule, but claims go by due time: a claim as large
    as one event's fan-out takes exactly that event's deliveries (one per rule), and the
    events come out in the order they happened."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app:
        await _pending(app, receiver, rules=3, changes=4)
        sm = app.state.sessionmaker
        claims = []
        for _ in range(4):
            async with session_scope(sm) as s:
                claims.append(await repo.claim_due(s, 3, 60, uuid.uuid4()))
        async with sm() as s:
            seqs = dict(
                (await s.execute(text("SELECT id, seq FROM events WHERE type = 'dataset.updated'")))
                .tuples()
                .all()
            )
        firsts = []
        for claim in claims:
            events = {i for d in claim for i in d.event_ids}
            assert len(claim) == 3 and len(events) == 1
            assert len({d.rule_id for d in claim}) == 3
            firsts.append(seqs[events.pop()])
        assert firsts == sorted(firsts) and len(set(firsts)) == 4


async def test_big_claims_split_across_two_workers_send_each_delivery_once(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """Two workers on their own pools, each claiming four times its send pool (2): every
    delivery is sent once and recorded as delivered."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app:
        total = await _pending(app, receiver, rules=4, changes=10)
        async with own_workers(app, settings, 2, concurrency=2) as workers:
            for w in workers:
                w.start()
            await until(lambda: len(receiver.received) >= total, f"{total} deliveries")
            await until(lambda: _states(app, {"delivered": total}), "all recorded")
        ids = Counter(c.delivery for c in receiver.received)
        assert len(ids) == total and max(ids.values()) == 1


async def test_a_lease_that_runs_out_mid_batch_is_taken_over_and_recorded_once(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """Worker A claims a batch; its lease runs out before A sends (A is stuck); worker B claims
    the same deliveries and sends them. A's late send reaches the receiver with the same
    delivery ids (it dedupes), and A's outcome is not recorded over B's: each delivery shows
    one attempt."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app:
        total = await _pending(app, receiver, rules=2, changes=3)
        ctx = app.state.alerts
        sm = app.state.sessionmaker
        token_a, token_b = uuid.uuid4(), uuid.uuid4()
        async with session_scope(sm) as s:
            batch_a = await service.prepare_rows(s, ctx, await repo.claim_due(s, 50, 60, token_a))
        async with session_scope(sm) as s:  # the lease runs out
            await s.execute(text("UPDATE alert_deliveries SET lease_until = now() - interval '1s'"))
        async with session_scope(sm) as s:
            batch_b = await service.prepare_rows(s, ctx, await repo.claim_due(s, 50, 60, token_b))
        assert {p.delivery_id for p in batch_b} == {p.delivery_id for p in batch_a}
        assert len(batch_b) == total
        receiver.answer(503, times=total)  # B's attempts fail: a retry is due later
        sent_b = await send_prepared(sm, ctx, batch_b, token_b)
        sent_a = await send_prepared(sm, ctx, batch_a, token_a)  # A, late: answered 200
        assert [r.status_code for r in sent_b.values()] == [503] * total
        assert [r.status_code for r in sent_a.values()] == [200] * total
        arrivals = Counter(c.delivery for c in receiver.received)
        assert set(arrivals) == {str(p.delivery_id) for p in batch_a}
        assert set(arrivals.values()) == {2}  # the same id twice: the receiver's dedupe key
        async with sm() as s:
            rows = (
                await s.execute(
                    text("SELECT state, attempts, log, lease_token FROM alert_deliveries")
                )
            ).all()
        # What B (the lease holder) recorded stands; A's late outcome was not written over it.
        assert len(rows) == total
        for state, attempts, log, lease in rows:
            assert (state, attempts, lease) == ("pending", 1, None)
            assert [e["status_code"] for e in log] == [503]


async def test_a_stopping_worker_gives_back_what_it_has_not_sent(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """Claimed deliveries still waiting for a send slot when the worker stops are not tried:
    their leases are released at once (not left to run out), and the next claim gets them."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app:
        total = await _pending(app, receiver, rules=2, changes=2)
        ctx = app.state.alerts
        sm = app.state.sessionmaker
        token = uuid.uuid4()
        async with session_scope(sm) as s:
            batch = await service.prepare_rows(s, ctx, await repo.claim_due(s, 50, 600, token))
        stopping = asyncio.Event()
        stopping.set()
        sent = await send_prepared(sm, ctx, batch, token, asyncio.Semaphore(1), None, stopping)
        assert sent == {} and receiver.received == []
        async with session_scope(sm) as s:
            again = await repo.claim_due(s, 50, 60, uuid.uuid4())
        assert {d.id for d in again} == {p.delivery_id for p in batch}
        assert len(again) == total and {d.attempts for d in again} == {0}


async def _states(app: FastAPI, want: dict[str, int]) -> bool:
    async with app.state.sessionmaker() as s:
        rows = await s.execute(text("SELECT state, count(*) FROM alert_deliveries GROUP BY 1"))
        return {r[0]: r[1] for r in rows} == want


async def test_the_claim_size_follows_the_settings(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """A sender sends what one claim leased: factor x its concurrency, at most the maximum."""
    quiet = settings.model_copy(
        update={"alerts_enabled": False, "alert_claim_factor": 2, "alert_claim_max": 3}
    )
    async with running_app(quiet, migrate_on_start=False) as app:
        total = await _pending(app, receiver, rules=3, changes=3)
        ctx = app.state.alerts
        one = AlertWorker(app.state.sessionmaker, ctx, poll_seconds=60, concurrency=1)
        two = AlertWorker(app.state.sessionmaker, ctx, poll_seconds=60, concurrency=2)
        assert await one.deliver_once() == 2  # 2 x 1
        assert await two.deliver_once() == 3  # 2 x 2, at most 3
        assert len(receiver.received) == 5 and total == 9
