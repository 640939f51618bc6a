"""Alert rules and their delivery.

Rules: validated on the way in (event types from the real list, scope references resolved and
visible to the creator, the channel URL checked by the SSRF guard, a secret only as a
reference). Every change writes its audit entry and event; the channel URL and secret stay out
of both.

Delivery: the outbox consumer (:func:`collect`) turns events into deliveries, one match per
(rule, what happened); a run that fails counts once per rule however many events say so. The
first event for a rule goes out at once; the ones within the digest window after it are
gathered into one digest due at the window's end. Workers lease due deliveries
(:func:`datamesh.alerts.repository.claim_due`), rebuild the message with what the rule's owner
may see *now* (:func:`prepare`), send it outside any transaction, and record the attempt
(:func:`record`): retried with exponential backoff and jitter, ``failed`` when the retry window
is used up, and the rule turned off when a receiver answers 410.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.alerts import policies
from datamesh.alerts import repository as repo
from datamesh.alerts.channels import Lanes, Message, Outbound, SendResult
from datamesh.alerts.schemas import (
    AlertRuleCreate,
    AlertRuleUpdate,
    EmailChannel,
    Scope,
    SlackChannel,
    WebhookChannel,
)
from datamesh.audit import service as audit
from datamesh.auth.principal import Principal, for_user
from datamesh.catalog import service as catalog
from datamesh.config import Settings
from datamesh.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from datamesh.events import service as events
from datamesh.feed import service as feed
from datamesh.kit.context import Actor
from datamesh.kit.ids import uuid7
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.kit.ssrf import OutboundError
from datamesh.lineage import service as lineage
from datamesh.models.alerts import AlertDelivery, AlertRule
from datamesh.models.events import Event

log = logging.getLogger("datamesh.alerts")
ALERTS = Actor.system("alerts")
CONSUMER = "alerts"
LOG_KEEP = 20
DIGEST_MAX_EVENTS = 500
TOP_IMPACT = 10


@dataclass(frozen=True)
class Context:
    """What the consumer and the workers need, built once per app."""

    settings: Settings
    outbound: Outbound
    engine: Any  # the lineage graph engine (PostgreSQL or Bolt)
    salt: str
    lanes: Lanes | None = None  # the workers' sends; None: every send on ``outbound``


def ref(rule: AlertRule) -> Ref:
    return Ref("alert", str(rule.id), rule.name)


def _now() -> datetime:
    return datetime.now(UTC)


# -- rules --------------------------------------------------------------------------------------
def to_schema(rule: AlertRule) -> dict[str, Any]:
    ch = dict(rule.channel)
    return {
        "id": rule.id,
        "org_id": rule.org_id,
        "owner_id": rule.owner_id,
        "org_rule": rule.owner_id is None,
        "name": rule.name,
        "events": list(rule.events),
        "scope": dict(rule.scope or {}),
        "channel": {
            "kind": ch["kind"],
            "url": ch.get("url"),
            "secret": ch.get("secret"),
            "to": ch.get("to"),
        },
        "enabled": rule.enabled,
        "disabled_reason": rule.disabled_reason,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _audited(rule: AlertRule) -> dict[str, Any]:
    """What the audit log keeps of a rule: not the URL (a Slack URL is a credential) nor the
    secret reference's target."""
    return {
        "name": rule.name,
        "events": list(rule.events),
        "scope": dict(rule.scope or {}),
        "channel": rule.channel.get("kind"),
        "enabled": rule.enabled,
    }


async def _check_channel(
    channel: WebhookChannel | SlackChannel | EmailChannel, outbound: Outbound
) -> dict[str, Any]:
    if isinstance(channel, WebhookChannel | SlackChannel):
        parts = urlsplit(channel.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await outbound.policy.check_host(parts.hostname or "", port)
        except OutboundError as exc:
            raise Unprocessable(
                f"channel.url: {exc.message}",
                errors=[field_error(["body", "channel", "url"], exc.message, "outbound_refused")],
            ) from None
    if (
        isinstance(channel, WebhookChannel)
        and channel.secret
        and outbound.protected(channel.secret)
    ):
        why = "names DataMesh's own configuration; use a secret of your own"
        raise Unprocessable(
            f"channel.secret: {why}",
            errors=[field_error(["body", "channel", "secret"], why, "protected_reference")],
        )
    return channel.model_dump(exclude_none=True)


async def _resolve_nodes(
    session: AsyncSession, p: Principal, refs: Sequence[str], field: str, want: str | None
) -> list[tuple[uuid.UUID, str]]:
    """Lineage nodes by UUID or typed id, each visible to the rule's creator (else 422, with
    nothing said about whether it exists)."""

    def path(i: int) -> list[str | int]:
        return [field, "node"] if field == "affects" else [field, i]

    out: list[tuple[uuid.UUID, str]] = []
    for i, value in enumerate(refs):
        try:
            node, kind = await lineage.resolve(session, p, value)
            if want is not None and kind != want:
                raise NotFound()
            if kind == "dataset":
                await catalog.get(session, p, node)
            else:
                await lineage.get_process(session, p, node)
        except (NotFound, Unprocessable):
            what = want or "dataset or process"
            raise Unprocessable(
                f"scope.{field}: no such {what}",
                errors=[field_error(["body", "scope", *path(i)], f"no such {what}")],
            ) from None
        out.append((node, kind))
    return out


async def _scope(
    session: AsyncSession, p: Principal, scope: Scope, org_rule: bool
) -> dict[str, Any]:
    if org_rule and (scope.owned_by_me or scope.followed_by_me):
        raise Unprocessable(
            "scope: owned_by_me and followed_by_me are for personal rules",
            errors=[field_error(["body", "scope"], "owned_by_me/followed_by_me need an owner")],
        )
    out: dict[str, Any] = {}
    if scope.datasets:
        found = await _resolve_nodes(session, p, scope.datasets, "datasets", "dataset")
        out["datasets"] = sorted({str(n) for n, _ in found})
    if scope.processes:
        found = await _resolve_nodes(session, p, scope.processes, "processes", "process")
        out["processes"] = sorted({str(n) for n, _ in found})
    if scope.affects is not None:
        ((node, kind),) = await _resolve_nodes(session, p, [scope.affects.node], "affects", None)
        out["affects"] = {"node": str(node), "kind": kind, "depth": scope.affects.depth}
    if scope.tags:
        out["tags"] = sorted(set(scope.tags))
    if scope.domains:
        out["domains"] = sorted(set(scope.domains))
    if scope.owned_by_me:
        out["owned_by_me"] = True
    if scope.followed_by_me:
        out["followed_by_me"] = True
    return out


async def create_rule(
    session: AsyncSession, p: Principal, data: AlertRuleCreate, outbound: Outbound
) -> AlertRule:
    if data.org_rule:
        if not policies.can_make_org_rule(p):
            raise Forbidden("Only org admins and stewards make org alert rules.")
    elif not policies.can_own_personal(p):
        raise Forbidden("Only people own personal alert rules; an API key may not.")
    channel = await _check_channel(data.channel, outbound)
    rule = AlertRule(
        id=uuid7(),
        org_id=p.org_id,
        owner_id=None if data.org_rule else p.user_id,
        name=data.name,
        events=list(data.events),
        scope=await _scope(session, p, data.scope, data.org_rule),
        channel=channel,
        enabled=data.enabled,
        created_by=p.user_id,
    )
    session.add(rule)
    await session.flush()
    await session.refresh(rule)
    await audit.record(
        session,
        p.actor(),
        "alert.create",
        ref(rule),
        audit.diff({}, _audited(rule)),
        org_id=p.org_id,
    )
    await events.emit(
        session,
        "alert.created",
        p.actor(),
        ref(rule),
        {"events": list(rule.events), "channel": channel["kind"]},
        org_id=p.org_id,
    )
    return rule


async def get_rule(session: AsyncSession, p: Principal, rule_id: uuid.UUID) -> AlertRule:
    rule = await repo.get_rule(session, rule_id)
    if rule is None or not policies.can_see(p, rule):
        raise NotFound("No such alert rule.")
    return rule


async def list_rules(
    session: AsyncSession, p: Principal, limit: int, cursor: str | None
) -> tuple[list[AlertRule], str | None]:
    rows = await repo.list_rules(
        session,
        user_id=p.user_id if p.kind == "user" else None,
        org_id=p.org_id,
        govern=p.role in policies.GOVERNING,
        limit=limit,
        after=decode_cursor(cursor, 2),
    )
    return split_page(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])


async def update_rule(
    session: AsyncSession,
    p: Principal,
    rule_id: uuid.UUID,
    data: AlertRuleUpdate,
    outbound: Outbound,
) -> AlertRule:
    rule = await get_rule(session, p, rule_id)
    before = _audited(rule)
    given = data.model_fields_set
    if "name" in given and data.name is not None:
        rule.name = data.name
    if "events" in given and data.events is not None:
        rule.events = list(data.events)
    if "scope" in given and data.scope is not None:
        rule.scope = await _scope(session, p, data.scope, rule.owner_id is None)
    if "channel" in given and data.channel is not None:
        rule.channel = await _check_channel(data.channel, outbound)
    if "enabled" in given and data.enabled is not None:
        rule.enabled = data.enabled
        if data.enabled:
            rule.disabled_reason = None
    rule.updated_at = _now()
    await session.flush()
    changes = audit.diff(before, _audited(rule))
    if "channel" in given:
        changes["channel_settings"] = {"changed": True}
    await audit.record(session, p.actor(), "alert.update", ref(rule), changes, org_id=rule.org_id)
    await events.emit(
        session,
        "alert.updated",
        p.actor(),
        ref(rule),
        {"fields": sorted(given)},
        org_id=rule.org_id,
    )
    return rule


async def delete_rule(session: AsyncSession, p: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, p, rule_id)
    await audit.record(
        session,
        p.actor(),
        "alert.delete",
        ref(rule),
        audit.diff(_audited(rule), {}),
        org_id=rule.org_id,
    )
    await events.emit(session, "alert.deleted", p.actor(), ref(rule), {}, org_id=rule.org_id)
    await session.delete(rule)


# -- who a rule speaks for ----------------------------------------------------------------------
async def principals_for(
    session: AsyncSession, rules: Sequence[AlertRule]
) -> dict[uuid.UUID, Principal | None]:
    """Each rule's owner as they are now (None: gone or disabled), the owners read in one
    query; an org rule speaks for what every member of its org may see."""
    users = await repo.users(session, {r.owner_id for r in rules if r.owner_id is not None})
    out: dict[uuid.UUID, Principal | None] = {}
    for rule in rules:
        if rule.owner_id is None:
            out[rule.id] = Principal(
                kind="user",
                id=rule.id,
                name=f"alert:{rule.name}",
                org_id=rule.org_id,
                role="viewer",
            )
            continue
        user = users.get(rule.owner_id)
        out[rule.id] = None if user is None or user.disabled else for_user(user)
    return out


# -- scope --------------------------------------------------------------------------------------
def _subject_uuid(e: Event) -> uuid.UUID | None:
    try:
        return uuid.UUID(e.subject_id)
    except ValueError:
        return None


Upstream = tuple[set[uuid.UUID], set[uuid.UUID]]  # lineage nodes, and the connections they live on


class Facts:
    """What scopes are checked against, for one batch of events: loaded at most once per batch
    whatever the number of rules (subjects' tags and domains, process owners), once per reader
    (what they own or follow) and once per (reader, node, depth) for ``affects`` (one upstream
    walk, as that reader may see it)."""

    def __init__(self, session: AsyncSession, ctx: Context, batch: Sequence[Event]) -> None:
        self.session, self.ctx = session, ctx
        self.datasets = {
            u for e in batch if e.subject_kind == "dataset" and (u := _subject_uuid(e))
        }
        self.processes = {
            u for e in batch if e.subject_kind == "process" and (u := _subject_uuid(e))
        }
        self._dataset_facts: dict[uuid.UUID, tuple[list[str], str | None, uuid.UUID | None]]
        self._dataset_facts_loaded = False
        self._proc_owners: dict[uuid.UUID, list[str]] | None = None
        self._owned: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._followed: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._upstream: dict[tuple[Any, ...], Upstream | None] = {}

    async def dataset_facts(
        self,
    ) -> dict[uuid.UUID, tuple[list[str], str | None, uuid.UUID | None]]:
        if not self._dataset_facts_loaded:
            self._dataset_facts = await repo.dataset_facts(self.session, self.datasets)
            self._dataset_facts_loaded = True
        return self._dataset_facts

    async def proc_owners(self) -> dict[uuid.UUID, list[str]]:
        if self._proc_owners is None:
            self._proc_owners = await repo.process_owners(self.session, self.processes)
        return self._proc_owners

    async def owned(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        if user_id not in self._owned:
            self._owned[user_id] = await repo.owned(self.session, user_id, self.datasets)
        return self._owned[user_id]

    async def followed(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        if user_id not in self._followed:
            self._followed[user_id] = await repo.followed(self.session, user_id, self.datasets)
        return self._followed[user_id]

    async def upstream(self, p: Principal, node: str, depth: int) -> Upstream | None:
        """What lies upstream of ``node`` for this reader (None: gone, or hidden from them)."""
        key = (*_reader_key(p), node, depth)
        if key not in self._upstream:
            try:
                walked = await lineage.graph(
                    self.session,
                    p,
                    self.ctx.engine,
                    node,
                    "upstream",
                    depth,
                    self.ctx.settings.lineage_max_nodes,
                )
            except (NotFound, Unprocessable):
                self._upstream[key] = None
            else:
                ids = {uuid.UUID(n["id"]) for n in walked["nodes"] if not n.get("restricted")}
                self._upstream[key] = (ids, await repo.nodes_of(self.session, ids))
        return self._upstream[key]


async def in_scope(facts: Facts, p: Principal, scope: dict[str, Any], e: Event) -> bool:
    """Does the event fall in the scope (all of its parts, AND) as this reader sees it?"""
    subject, kind = _subject_uuid(e), e.subject_kind
    if scope.get("datasets") and not (kind == "dataset" and str(subject) in scope["datasets"]):
        return False
    if scope.get("processes") and not (kind == "process" and str(subject) in scope["processes"]):
        return False
    affects = scope.get("affects")
    if affects:
        up = await facts.upstream(p, str(affects["node"]), int(affects["depth"]))
        if up is None or subject not in (up[1] if kind == "node" else up[0]):
            return False
    if scope.get("tags") or scope.get("domains"):
        found = (
            (await facts.dataset_facts()).get(subject) if kind == "dataset" and subject else None
        )
        if found is None:
            return False
        if scope.get("tags") and not set(scope["tags"]) & set(found[0]):
            return False
        if scope.get("domains") and found[1] not in scope["domains"]:
            return False
    uid = p.user_id
    if scope.get("owned_by_me"):
        if uid is None or kind not in ("dataset", "process") or subject is None:
            return False
        if kind == "dataset" and subject not in await facts.owned(uid):
            return False
        if kind == "process":
            owners = (await facts.proc_owners()).get(subject, [])
            if (p.email or "").lower() not in owners:
                return False
    return not (
        scope.get("followed_by_me") and (uid is None or subject not in await facts.followed(uid))
    )


# -- the outbox consumer ------------------------------------------------------------------------
def match_key(e: Event) -> str:
    """What one alert is about: a failing run alerts once, whatever repeats its failure."""
    run = (e.payload or {}).get("run_id")
    if e.type == "process.run_failed" and run:
        return f"run:{e.subject_id}:{str(run)[:60]}"
    return str(e.id)


async def collect(session: AsyncSession, ctx: Context, batch: list[Event]) -> int:
    """Create the deliveries these events call for (the consumer's handler); returns how many
    (rule, event) matches were made.

    Set-based for the whole batch, whatever the number of rules: the enabled rules read once,
    their owners in one query, visibility checked once per reader (rules grouped by owner),
    scope facts loaded once (:class:`Facts`), the keys already matched read in one query, and
    the deliveries, matches and rules' digest windows written in one statement each."""
    rules = await repo.enabled_rules_for(session, {e.type for e in batch})
    if not rules:
        return 0
    readers = await principals_for(session, rules)
    groups: dict[tuple[Any, ...], tuple[Principal, list[AlertRule]]] = {}
    for rule in rules:
        reader = readers[rule.id]
        if reader is not None:
            groups.setdefault(_reader_key(reader), (reader, []))[1].append(rule)
    facts = Facts(session, ctx, batch)
    wanted: list[tuple[AlertRule, dict[str, Event]]] = []
    for p, rs in groups.values():
        types = {t for r in rs for t in r.events}
        candidates = [e for e in batch if e.type in types]
        readable = await feed.readable_events(session, p, [e.id for e in candidates])
        visible = [e for e in candidates if e.id in readable]
        for rule in rs:
            scope = dict(rule.scope or {})
            by_key: dict[str, Event] = {}
            for e in visible:
                if e.type in rule.events and await in_scope(facts, p, scope, e):
                    by_key.setdefault(match_key(e), e)
            if by_key:
                wanted.append((rule, by_key))
    if not wanted:
        return 0
    seen = await repo.matched_pairs(session, [(r.id, k) for r, keys in wanted for k in keys])
    open_digests = await repo.open_digests(
        session, [r.digest_id for r, _ in wanted if r.digest_id is not None]
    )
    plan = _Plan(timedelta(seconds=ctx.settings.alert_digest_seconds), open_digests, batch)
    for rule, by_key in wanted:
        plan.attach(rule, [(k, e) for k, e in by_key.items() if (rule.id, k) not in seen])
    await repo.write_matches(
        session, plan.new, plan.grown, plan.matches, list(plan.windows.values())
    )
    return len(plan.matches)


class _Plan:
    """The rows one batch writes. Per rule, in seq order: the first event after a quiet window
    goes at once (a ``single``), the ones within the window after it join one digest due at the
    window's end (the rule's open digest if it still can take them, else a new one).

    The ``single`` deliveries of one event are due at one instant, a microsecond apart per
    event in seq order: claims go by due time, so one claim carries one event's fan-out
    together (its impact built once per reader) rather than one rule's deliveries for as many
    events, and events go out in the order they happened."""

    def __init__(
        self,
        window: timedelta,
        open_digests: dict[uuid.UUID, AlertDelivery],
        batch: list[Event],
    ) -> None:
        self.window = window
        now = _now()
        # event -> when its single deliveries are due
        self.due = {e.id: now + timedelta(microseconds=i) for i, e in enumerate(batch)}
        self.open = open_digests
        self.new: list[dict[str, Any]] = []
        self.grown: dict[uuid.UUID, list[uuid.UUID]] = {}  # open digest -> its event ids now
        self.matches: list[dict[str, Any]] = []
        self.windows: dict[uuid.UUID, dict[str, Any]] = {}

    def _delivery(
        self, rule: AlertRule, kind: str, due: datetime, ids: list[uuid.UUID]
    ) -> dict[str, Any]:
        row = {
            "id": uuid7(),
            "rule_id": rule.id,
            "kind": kind,
            "event_ids": ids,
            "state": "pending",
            "attempts": 0,
            "log": [],
            "next_attempt_at": due,
        }
        self.new.append(row)
        return row

    def attach(self, rule: AlertRule, evs: list[tuple[str, Event]]) -> None:
        if not evs:
            return
        until, digest_id = rule.window_until, rule.digest_id
        digest: dict[str, Any] | None = None  # a digest row made in this batch
        for key, e in evs:
            at = e.occurred_at
            if until is not None and at < until:
                if digest is None and digest_id is not None and digest_id in self.open:
                    ids = self.grown.get(digest_id, list(self.open[digest_id].event_ids))
                    if len(ids) < DIGEST_MAX_EVENTS:
                        self.grown[digest_id] = [*ids, e.id]
                        self.matches.append(self._match(rule, key, digest_id, e))
                        continue
                if digest is None or len(digest["event_ids"]) >= DIGEST_MAX_EVENTS:
                    digest = self._delivery(rule, "digest", until, [])
                    digest_id = digest["id"]
                    self.open.pop(digest_id, None)
                digest["event_ids"].append(e.id)
                target = digest["id"]
            else:
                target = self._delivery(rule, "single", self.due[e.id], [e.id])["id"]
                until, digest_id, digest = at + self.window, None, None
            self.matches.append(self._match(rule, key, target, e))
        self.windows[rule.id] = {"id": rule.id, "window_until": until, "digest_id": digest_id}

    @staticmethod
    def _match(rule: AlertRule, key: str, delivery_id: uuid.UUID, e: Event) -> dict[str, Any]:
        return {"rule_id": rule.id, "key": key, "delivery_id": delivery_id, "event_id": e.id}


# -- messages -----------------------------------------------------------------------------------
_SUMMARIES = {
    "process.run_failed": "A run of {name} failed",
    "dataset.sla_breached": "The freshness SLA of {name} is breached",
    "dataset.sla_recovered": "The freshness SLA of {name} is met again",
    "dataset.schema_changed": "The schema of {name} changed",
    "dataset.deprecated": "{name} was deprecated",
    "dataset.visibility_changed": "The visibility of {name} changed",
    "dataset.updated": "{name} was updated",
    "dataset.published": "{name} was published",
    "dataset.refreshed": "The schema of {name} was refreshed",
    "lineage.changed": "The lineage around {name} changed",
    "process.updated": "{name} was updated",
    "alert.test": "A test of the alert rule {name}",
}


def summary(e: Event) -> str:
    name = e.subject_name or f"{e.subject_kind} {e.subject_id}"
    if e.type == "node.status_changed":
        p = e.payload or {}
        return (
            f"The connection {name} is {p.get('to', 'changed')} (was {p.get('from') or 'unknown'})"
        )
    template = _SUMMARIES.get(e.type, "{type} on {name}")
    return template.format(name=name, type=e.type)


def link(settings: Settings, kind: str, subject_id: str) -> str:
    base = settings.base_url
    sid = quote(subject_id, safe="")
    paths = {
        "dataset": f"/datasets/{sid}",
        "process": f"/lineage?node={sid}",
        "dashboard": f"/dashboards/{sid}",
        "node": "/nodes",
    }
    return base + paths.get(kind, "/feed")


# One event fans out to every rule that wants it; rules speaking for the same reader get the
# same impact, so it is computed once per (event, reader) and kept for a few seconds.
IMPACT_CACHE_SECONDS = 5.0
# (event, reader) -> (expiry, the loop it was computed on, the impact; None while computing)
_impact_cache: dict[tuple[Any, ...], tuple[float, Any, asyncio.Future[dict[str, Any] | None]]] = {}


def _reader_key(p: Principal) -> tuple[Any, ...]:
    return (p.kind, p.user_id, p.org_id, p.role, p.is_platform_admin)


async def impact_of(session: AsyncSession, ctx: Context, p: Principal, e: Event) -> dict[str, Any]:
    """The blast radius by the impact endpoint's own code, as the rule's owner may see it.

    Computed once however many batches ask at the same time: concurrent sends of one event's
    deliveries wait for the first walk instead of each making their own (a walk is tens of
    statements; an event fans out to every rule)."""
    key = (e.id, *_reader_key(p))
    loop = asyncio.get_running_loop()
    now = time.monotonic()
    hit = _impact_cache.get(key)
    if hit is not None and hit[0] > now and hit[1] is loop:
        found = await asyncio.shield(hit[2])
        if found is not None:
            return found
    mine: asyncio.Future[dict[str, Any] | None] = loop.create_future()
    if len(_impact_cache) > 10_000:
        for k in [k for k, (t, _, f) in _impact_cache.items() if t <= now and f.done()]:
            del _impact_cache[k]
    _impact_cache[key] = (now + IMPACT_CACHE_SECONDS, loop, mine)
    try:
        found = await _impact(session, ctx, p, e)
    except BaseException:
        _impact_cache.pop(key, None)
        mine.set_result(None)  # the ones waiting compute their own
        raise
    mine.set_result(found)
    return found


def _cached_impact(e: Event, p: Principal) -> bool:
    hit = _impact_cache.get((e.id, *_reader_key(p)))
    return hit is not None and hit[0] > time.monotonic() and hit[1] is asyncio.get_running_loop()


async def share_impacts(
    session: AsyncSession, ctx: Context, wanted: dict[uuid.UUID, tuple[Event, list[Principal]]]
) -> None:
    """For each event going to several readers: the readers who see the same of its blast
    radius (``lineage.impact_view``: the start and every node of the radius alike) are given
    one impact, computed for the first of them. The impact depends on its reader only through
    that, so each still gets exactly what ``GET /api/lineage/impact`` gives them; readers who
    see differently (another org, a private dataset they own) get their own. A view costs a
    few statements, an impact ~10; an event's fan-out to many owners of one org is built once.
    """
    for e, ps in wanted.values():
        if e.subject_kind not in ("dataset", "process"):
            continue
        pending = [p for p in ps if not _cached_impact(e, p)]
        if len(pending) < 2:
            continue
        views: dict[bytes, list[Principal]] = {}
        for p in pending:
            try:
                view = await lineage.impact_view(
                    session,
                    p,
                    ctx.engine,
                    e.subject_id,
                    ctx.settings.alert_impact_depth,
                    ctx.settings.lineage_max_nodes,
                )
            except (NotFound, Unprocessable):
                continue  # hidden from this reader: its own (empty) impact, as before
            views.setdefault(view, []).append(p)
        loop = asyncio.get_running_loop()
        for same in views.values():
            if len(same) < 2:
                continue
            found = await impact_of(session, ctx, same[0], e)
            for p in same[1:]:
                done: asyncio.Future[dict[str, Any] | None] = loop.create_future()
                done.set_result(found)
                key = (e.id, *_reader_key(p))
                _impact_cache[key] = (time.monotonic() + IMPACT_CACHE_SECONDS, loop, done)


async def _impact(session: AsyncSession, ctx: Context, p: Principal, e: Event) -> dict[str, Any]:
    empty: dict[str, Any] = {"datasets": 0, "processes": 0, "people": 0, "top": [], "notify": []}
    if e.subject_kind not in ("dataset", "process"):
        return empty
    try:
        found = await lineage.impact(
            session,
            p,
            ctx.engine,
            e.subject_id,
            ctx.settings.alert_impact_depth,
            ctx.settings.lineage_max_nodes,
            salt=ctx.salt,
            limit=TOP_IMPACT,  # the totals cover the whole radius; only the top is described
        )
    except (NotFound, Unprocessable):
        return empty
    totals = found["totals"]
    return {
        "datasets": totals["datasets"],
        "processes": totals["processes"],
        "people": totals["people"],
        "restricted": totals["restricted"],
        "truncated": found["truncated"],
        "top": [
            {
                "id": i["id"],
                "kind": i["kind"],
                "name": i.get("name"),
                "distance": i["distance"],
                "health": i.get("health"),
                "restricted": i["restricted"],
            }
            for i in found["items"][:TOP_IMPACT]
        ],
        "notify": [
            {"name": n["name"], "email": n.get("email"), "reasons": n["reasons"]}
            for n in found["notify"]
        ],
    }


async def event_body(
    session: AsyncSession, ctx: Context, p: Principal, e: Event, org: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "type": e.type,
        "occurred_at": e.occurred_at.isoformat(),
        "org": org,
        "subject": {"kind": e.subject_kind, "id": e.subject_id, "name": e.subject_name},
        "summary": summary(e),
        "impact": await impact_of(session, ctx, p, e),
        "link": link(ctx.settings, e.subject_kind, e.subject_id),
    }


async def build_message(
    session: AsyncSession,
    ctx: Context,
    p: Principal,
    rule: AlertRule,
    delivery: AlertDelivery,
    evs: list[Event],
    org_name: str | None,
    bodies: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] | None = None,
) -> Message:
    """The message of one delivery. ``bodies``: single-event bodies already built in this batch
    by (event, reader, org), serialized once and shared by every rule they go to."""
    org = {"id": str(rule.org_id), "name": org_name}
    if delivery.kind == "test":
        body: dict[str, Any] = {
            "id": str(delivery.id),
            "type": "alert.test",
            "occurred_at": _now().isoformat(),
            "org": org,
            "subject": {"kind": "alert", "id": str(rule.id), "name": rule.name},
            "summary": f"A test of the alert rule {rule.name}: this channel works.",
            "impact": {"datasets": 0, "processes": 0, "people": 0, "top": [], "notify": []},
            "link": ctx.settings.base_url + "/alerts",
        }
        return Message(delivery.id, "alert.test", "Test alert", body["summary"], body["link"], body)
    if len(evs) == 1 and delivery.kind == "single":
        key = (evs[0].id, *_reader_key(p), rule.org_id, org_name)
        cached = bodies.get(key) if bodies is not None else None
        if cached is None:
            one = await event_body(session, ctx, p, evs[0], org)
            cached = (one, orjson.dumps(one))
            if bodies is not None:
                bodies[key] = cached
        one, raw = cached
        return Message(
            delivery.id, evs[0].type, one["summary"], one["summary"], one["link"], one, raw=raw
        )
    items = [await event_body(session, ctx, p, e, org) for e in evs]
    text = f"{len(items)} events for the alert rule {rule.name}"
    digest: dict[str, Any] = {
        "id": str(delivery.id),
        "type": "alert.digest",
        "occurred_at": evs[-1].occurred_at.isoformat(),
        "org": org,
        "subject": {"kind": "alert", "id": str(rule.id), "name": rule.name},
        "summary": text,
        "impact": {
            "datasets": sum(i["impact"]["datasets"] for i in items),
            "processes": sum(i["impact"]["processes"] for i in items),
            "people": len({n["email"] for i in items for n in i["impact"]["notify"]}),
            "top": [t for i in items for t in i["impact"]["top"]][:TOP_IMPACT],
        },
        "events": items,
        "link": ctx.settings.base_url + "/alerts",
    }
    return Message(
        delivery.id,
        "alert.digest",
        text,
        text,
        digest["link"],
        digest,
        lines=[i["summary"] for i in items],
    )


# -- sending ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """A leased delivery's message, with what recording its attempt needs (the row as it was
    claimed: nobody else writes it while the lease is held)."""

    delivery_id: uuid.UUID
    channel: dict[str, Any]
    message: Message
    rule_id: uuid.UUID
    kind: str
    attempts: int
    log: list[dict[str, Any]]


async def prepare(
    session: AsyncSession, ctx: Context, delivery_id: uuid.UUID, token: uuid.UUID
) -> Prepared | None:
    """The message a leased delivery sends now (see :func:`prepare_rows`)."""
    found = await prepare_rows(session, ctx, await repo.leased_many(session, [delivery_id], token))
    return found[0] if found else None


async def prepare_rows(
    session: AsyncSession, ctx: Context, ds: Sequence[AlertDelivery]
) -> list[Prepared]:
    """The messages of leased deliveries (as claimed, in the claim's transaction), each built
    with what its rule's owner may see now; a delivery with nothing to send is settled as
    ``skipped``. Rules, owners, org names and events are read once for the batch, visibility
    once per reader, and an event's body is built and serialized once per (event, reader)."""
    if not ds:
        return []
    rules = await repo.rules_by_id(session, {d.rule_id for d in ds})
    readers = await principals_for(session, list(rules.values()))
    orgs = await repo.org_names(session, {r.org_id for r in rules.values()})
    # What each reader may see of the events these deliveries carry: one query per reader.
    wanted: dict[tuple[Any, ...], tuple[Principal, set[uuid.UUID]]] = {}
    for d in ds:
        reader = readers.get(d.rule_id)
        if reader is not None and d.kind != "test":
            wanted.setdefault(_reader_key(reader), (reader, set()))[1].update(d.event_ids)
    readable = {
        key: await feed.readable_events(session, reader, list(event_ids))
        for key, (reader, event_ids) in wanted.items()
    }
    all_ids = set().union(*readable.values()) if readable else set()
    events_by_id = {e.id: e for e in await repo.events(session, list(all_ids))}
    # Which readers each event goes to: readers who see its radius alike share one impact.
    fan_out: dict[uuid.UUID, tuple[Event, dict[tuple[Any, ...], Principal]]] = {}
    for d in ds:
        reader, of = readers.get(d.rule_id), rules.get(d.rule_id)
        if reader is None or of is None or not of.enabled or d.kind == "test":
            continue
        key = _reader_key(reader)
        for i in d.event_ids:
            if i in readable[key] and i in events_by_id:
                fan_out.setdefault(i, (events_by_id[i], {}))[1][key] = reader
    await share_impacts(session, ctx, {i: (e, list(ps.values())) for i, (e, ps) in fan_out.items()})
    bodies: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = {}
    out: list[Prepared] = []
    for d in ds:
        found = rules.get(d.rule_id)
        p = readers.get(d.rule_id)
        if found is None or (not found.enabled and d.kind != "test"):
            _skip(d, "the rule is turned off")
            continue
        if p is None:
            _skip(d, "the rule's owner is no longer active")
            continue
        evs: list[Event] = []
        if d.kind != "test":
            seen = readable.get(_reader_key(p), set())
            evs = [events_by_id[i] for i in d.event_ids if i in seen and i in events_by_id]
            if not evs:
                _skip(d, "nothing in it that the rule's owner may see now")
                continue
        message = await build_message(
            session, ctx, p, found, d, evs, orgs.get(found.org_id), bodies
        )
        out.append(
            Prepared(d.id, dict(found.channel), message, d.rule_id, d.kind, d.attempts, list(d.log))
        )
    return out


def _skip(d: AlertDelivery, why: str) -> None:
    d.state = "skipped"
    d.lease_token = None
    d.lease_until = None
    d.log = [*d.log, {"at": _now().isoformat(), "error": why}][-LOG_KEEP:]


def retry_delay(settings: Settings, attempts: int) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones (None: give up). The n-th
    retry waits base * 2^(n-1), jittered down to half of it; all of them fit in the max age."""
    base = settings.alert_retry_base_seconds
    if base * (2**attempts - 1) > settings.alert_retry_max_age_seconds:
        return None
    return float(base * 2 ** (attempts - 1) * random.uniform(0.5, 1.0))


async def record(
    session: AsyncSession, ctx: Context, prepared: Prepared, token: uuid.UUID, result: SendResult
) -> str | None:
    """Write an attempt's outcome (if the caller still holds the lease); returns the state."""
    states = await record_many(session, ctx, [(prepared, result)], token)
    return states.get(prepared.delivery_id)


async def record_many(
    session: AsyncSession,
    ctx: Context,
    results: Sequence[tuple[Prepared, SendResult]],
    token: uuid.UUID,
) -> dict[uuid.UUID, str]:
    """Write attempts' outcomes for the deliveries the caller still holds, in one statement;
    their new states. A receiver that answered 410 turns its rule off."""
    now = _now()
    rows: list[dict[str, Any]] = []
    gone: set[uuid.UUID] = set()
    for p, result in results:
        entry: dict[str, Any] = {
            "at": now.isoformat(),
            "status_code": result.status_code,
            "error": result.error,
            "ms": result.ms,
        }
        row: dict[str, Any] = {
            "id": p.delivery_id,
            "attempts": p.attempts + 1,
            "log": [*p.log, entry][-LOG_KEEP:],
            "state": "pending",
        }
        if result.ok:
            row |= {"state": "delivered", "delivered_at": now}
        elif result.gone:
            row["state"] = "failed"
            gone.add(p.rule_id)
        elif p.kind == "test":
            row["state"] = "failed"
        else:
            delay = retry_delay(ctx.settings, p.attempts + 1)
            if delay is None:
                row["state"] = "failed"
            else:
                row["next_attempt_at"] = now + timedelta(seconds=delay)
        rows.append(row)
    written = await repo.record_attempts(session, rows, token)
    held = {p.delivery_id for p, _ in results if p.delivery_id in written}
    for rule_id in sorted({p.rule_id for p, r in results if r.gone and p.delivery_id in held}):
        rule = await repo.get_rule(session, rule_id)
        if rule is not None and rule.enabled:
            await _turn_off(
                session, rule, f"the receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC"
            )
    return {r["id"]: r["state"] for r in rows if r["id"] in held}


async def _turn_off(session: AsyncSession, rule: AlertRule, why: str) -> None:
    before = _audited(rule)
    rule.enabled = False
    rule.disabled_reason = why
    rule.updated_at = _now()
    await session.flush()
    await audit.record(
        session,
        ALERTS,
        "alert.disable",
        ref(rule),
        audit.diff(before, _audited(rule)),
        org_id=rule.org_id,
        details={"reason": why},
    )
    await events.emit(
        session, "alert.disabled", ALERTS, ref(rule), {"reason": why}, org_id=rule.org_id
    )


# -- test and redeliver -------------------------------------------------------------------------
async def start_test(
    session: AsyncSession, p: Principal, rule_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """A test delivery, leased to the caller at once (sent by the request, not a worker)."""
    rule = await get_rule(session, p, rule_id)
    token = uuid.uuid4()
    d = AlertDelivery(
        id=uuid7(),
        rule_id=rule.id,
        kind="test",
        event_ids=[],
        state="pending",
        attempts=0,
        log=[],
        next_attempt_at=_now(),
        lease_token=token,
        lease_until=_now() + timedelta(minutes=5),
    )
    session.add(d)
    await session.flush()
    await audit.record(session, p.actor(), "alert.test", ref(rule), {}, org_id=rule.org_id)
    return d.id, token


async def redeliver(
    session: AsyncSession, p: Principal, rule_id: uuid.UUID, delivery_id: uuid.UUID
) -> AlertDelivery:
    rule = await get_rule(session, p, rule_id)
    d = await repo.get_delivery(session, delivery_id)
    if d is None or d.rule_id != rule.id:
        raise NotFound("No such delivery.")
    if d.state == "pending":
        raise Conflict("This delivery is still pending.")
    if not rule.enabled:
        raise Conflict("The rule is turned off; turn it on before redelivering.")
    d.state = "pending"
    d.attempts = 0
    d.next_attempt_at = _now()
    d.lease_token = None
    d.lease_until = None
    await session.flush()
    await audit.record(
        session,
        p.actor(),
        "alert.redeliver",
        ref(rule),
        {},
        org_id=rule.org_id,
        details={"delivery_id": str(d.id)},
    )
    return d


async def deliveries(
    session: AsyncSession, p: Principal, rule_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    rule = await get_rule(session, p, rule_id)
    rows = await repo.deliveries(session, rule.id, limit, decode_cursor(cursor, 2))
    page, next_cursor = split_page(rows, limit, lambda d: [d.created_at.isoformat(), str(d.id)])
    ids = [i for d in page for i in d.event_ids]
    readable = await feed.readable_events(session, p, ids)
    evs = {e.id: e for e in await repo.events(session, [i for i in ids if i in readable])}
    return [delivery_view(d, evs) for d in page], next_cursor


def delivery_view(d: AlertDelivery, evs: dict[uuid.UUID, Event]) -> dict[str, Any]:
    return {
        "id": d.id,
        "rule_id": d.rule_id,
        "kind": d.kind,
        "state": d.state,
        "attempts": d.attempts,
        "log": list(d.log),
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "subject": {"kind": e.subject_kind, "id": e.subject_id, "name": e.subject_name},
            }
            for i in d.event_ids
            if (e := evs.get(i)) is not None
        ],
        "next_attempt_at": d.next_attempt_at if d.state == "pending" else None,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }


async def send_test(
    session: AsyncSession, p: Principal, ctx: Context, rule_id: uuid.UUID
) -> dict[str, Any]:
    """Send a test now, from the request. The request's transaction is ended before the call
    (as a connection test does), so no row stays locked while the receiver answers."""
    from datamesh.alerts.channels import adapter

    delivery_id, token = await start_test(session, p, rule_id)
    prepared = await prepare(session, ctx, delivery_id, token)
    await session.commit()
    if prepared is None:
        return {"delivery_id": delivery_id, "ok": False, "error": "the rule cannot send now"}
    result = await adapter(prepared.channel["kind"]).send(
        prepared.channel, prepared.message, ctx.outbound
    )
    await record(session, ctx, prepared, token, result)
    return {
        "delivery_id": delivery_id,
        "ok": result.ok,
        "status_code": result.status_code,
        "error": result.error,
        "ms": result.ms,
    }
