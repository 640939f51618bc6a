"""Graph engines: where the raw neighbourhood of a node comes from.

``postgres`` (default) walks the edge table level by level: one indexed probe per level for the
whole frontier, deduplicating on the node, so the work is bounded by the edges reached and paths
are never enumerated. ``bolt`` asks a Neo4j-compatible server (see ``bolt.py``); if it is down the
postgres engine answers instead. Both hand the raw neighbourhood to ``traversal.hop_depths``, so
depth semantics, the node cap and the result are identical.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.lineage import repository as repo
from datamesh.lineage import traversal

log = logging.getLogger("datamesh.lineage")


@dataclass(slots=True)
class Neighbourhood:
    kinds: dict[str, str]
    out_edges: dict[str, list[str]]
    in_edges: dict[str, list[str]]
    cut: bool


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
    return Neighbourhood({str(start): kind}, {}, {}, False)


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
        for walk in walks:
            downstream = walk == "downstream"
            seen = {start}
            frontier = [start]
            for _ in range(raw_depth):
                if not frontier:
                    break
                edges = await repo.frontier_edges(session, frontier, downstream)
                nxt = []
                for src, dst, src_kind, dst_kind in edges:
                    s, d = str(src), str(dst)
                    hood.kinds[s], hood.kinds[d] = src_kind, dst_kind
                    hood.out_edges.setdefault(s, []).append(d)
                    hood.in_edges.setdefault(d, []).append(s)
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
            ids = [uuid.UUID(k) for k in hood.kinds]
            for src, dst, _sk, _dk in await repo.edges_among(session, ids):
                s, d = str(src), str(dst)
                if d not in hood.out_edges.get(s, []):
                    hood.out_edges.setdefault(s, []).append(d)
                    hood.in_edges.setdefault(d, []).append(s)
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
        hood = await engine.neighbourhood(
            session, start, start_kind, direction, 2 * depth, max_nodes
        )
        used = engine.name
    except Exception as exc:
        if engine is fallback:
            raise
        log.warning(
            "graph engine %s failed (%s); answering from postgres", engine.name, type(exc).__name__
        )
        hood = await fallback.neighbourhood(
            session, start, start_kind, direction, 2 * depth, max_nodes
        )
        used = fallback.name
    result = traversal.hop_depths(
        str(start),
        hood.kinds,
        hood.out_edges,
        cast(traversal.Direction, direction),
        depth,
        max_nodes,
        in_edges=hood.in_edges,
    )
    if hood.cut and not result.truncated:
        result = traversal.Traversal(result.nodes, result.edges, True)
    return result, used
