"""Graph engines: where the raw neighbourhood of a node comes from.

``postgres`` (default) walks the edge table level by level: one indexed probe per level for the
whole frontier, deduplicating on the node, so the work is bounded by the edges reached and paths
are never enumerated. ``bolt`` asks a Neo4j-compatible server (see ``bolt.py``); if it is down the
postgres engine answers instead. Both hand the raw neighbourhood to ``traversal.hop_depths``, so
depth semantics, the node cap and the result are identical. ``index`` (``index.py``, the default
without a graph server) walks its in-memory arrays itself with ``traversal.hop_depths_csr``, the
same rule on arrays; when it is not ready the postgres engine answers too.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.lineage import repository as repo
from datamesh.lineage import traversal

log = logging.getLogger("datamesh.lineage")


@dataclass(slots=True)
class Neighbourhood:
    """Keys are node UUIDs (converting hundreds of thousands of ids to text costs seconds)."""

    kinds: dict[Any, str]
    out_edges: dict[Any, list[Any]]
    in_edges: dict[Any, list[Any]]
    cut: bool


class EngineUnavailable(RuntimeError):
    """The engine cannot answer this query now, for a known reason: the fallback answers
    without a warning (the reason was logged once where it arose)."""


class GraphEngine(Protocol):
    name: str

    async def neighbourhood(
        self,
        session: AsyncSession,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        raw_depth: int,
        max_nodes: int,
    ) -> Neighbourhood: ...


def _empty(start: uuid.UUID, kind: str) -> Neighbourhood:
    return Neighbourhood({start: kind}, {}, {}, False)


class PostgresEngine:
    name = "postgres"

    async def neighbourhood(
        self,
        session: AsyncSession,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        raw_depth: int,
        max_nodes: int,
    ) -> Neighbourhood:
        hood = _empty(start, start_kind)
        fetch_cap = max_nodes * 4  # enough to find the nearest max_nodes after hop weighting
        walks = [d for d in ("downstream", "upstream") if direction in (d, "both")]
        kind = {True: "dataset", False: "process"}
        for walk in walks:
            downstream = walk == "downstream"
            seen = {start}
            frontier = [start]
            for _ in range(raw_depth):
                if not frontier:
                    break
                nxt = []
                rows = await repo.frontier_edges_raw(session, frontier, downstream)
                for src, dst, src_ds, dst_ds in rows:
                    hood.kinds[src], hood.kinds[dst] = kind[src_ds], kind[dst_ds]
                    hood.out_edges.setdefault(src, []).append(dst)
                    hood.in_edges.setdefault(dst, []).append(src)
                    new = dst if downstream else src
                    if new not in seen:
                        seen.add(new)
                        nxt.append(new)
                frontier = nxt
                if len(seen) > fetch_cap:
                    hood.cut = True
                    break
        if direction == "both" and len(hood.kinds) > 1:
            # Edges between the two sides (e.g. an upstream dataset also read downstream).
            for src, dst, _sk, _dk in await repo.edges_among(session, list(hood.kinds)):
                if dst not in hood.out_edges.get(src, []):
                    hood.out_edges.setdefault(src, []).append(dst)
                    hood.in_edges.setdefault(dst, []).append(src)
        return hood


async def traverse(
    engine: GraphEngine,
    fallback: GraphEngine,
    session: AsyncSession,
    start: uuid.UUID,
    start_kind: str,
    direction: str,
    depth: int,
    max_nodes: int,
) -> tuple[traversal.Traversal, str]:
    """Least hop depths around ``start``; returns the traversal and the engine that answered."""
    traversal.check_limits(direction, depth, max_nodes)
    try:
        walk = getattr(engine, "walk", None)
        if walk is not None:  # an engine that walks itself (the lineage index)
            done: traversal.Traversal = await walk(
                session, start, start_kind, direction, depth, max_nodes
            )
            return done, engine.name
        hood = await engine.neighbourhood(
            session, start, start_kind, direction, 2 * depth, max_nodes
        )
        used = engine.name
    except Exception as exc:
        if engine is fallback:
            raise
        log.log(
            logging.DEBUG if isinstance(exc, EngineUnavailable) else logging.WARNING,
            "graph engine %s failed (%s); answering from postgres",
            engine.name,
            type(exc).__name__,
        )
        hood = await fallback.neighbourhood(
            session, start, start_kind, direction, 2 * depth, max_nodes
        )
        used = fallback.name
    walked = traversal.hop_depths(
        start,  # type: ignore[arg-type]  # UUID keys: see Neighbourhood
        hood.kinds,
        hood.out_edges,
        cast(traversal.Direction, direction),
        depth,
        max_nodes,
        in_edges=hood.in_edges,
    )
    result = traversal.Traversal(
        {str(k): v for k, v in walked.nodes.items()},
        {(str(a), str(b)) for a, b in walked.edges},
        walked.truncated or hood.cut,
    )
    return result, used
