"""Lineage graph engine over Bolt/openCypher: Neo4j 5 in production, FalkorDB in tests.

Nodes are ``(:LineageNode {id, kind, name, namespace})``, edges ``[:FEEDS]`` in data-flow
direction. Only the openCypher subset both servers accept is used (``UNWIND``, ``MERGE``,
``MATCH``, ``DETACH DELETE``, ``WITH ... LIMIT``).

Traversal expands a frontier one raw level per query (``UNWIND $ids ... MATCH (a)-[:FEEDS]->(b)``)
and dedups in Python, then hands the raw neighbourhood to :func:`traversal.hop_depths`. A bounded
variable-length pattern (``-[:FEEDS*1..k]->`` + ``DISTINCT``) was measured first on a 20k-node
pipeline graph full of diamonds: FalkorDB enumerates every path, 2.5 s at 16 raw levels, 20 s at
18, 118 s at 20, against 0.9, 1.1 and 1.4 s for the frontier. Neo4j's planner can prune such a
pattern, FalkorDB's cannot, and one code path must be safe on both.

FalkorDB 4.16's Bolt layer has quirks this module works around (``dialect="falkordb"``):

- It does not send query parameters as values: it prints them into the query text with
  ``sprintf`` into a 4 KiB stack buffer, strings wrapped in single quotes without escaping. So a
  quote in a value breaks (or injects into) the query, a parameter map over 4 KiB crashes the
  server, and floats keep 6 decimals. This engine therefore sends no Bolt parameters to FalkorDB:
  it renders them itself into FalkorDB's native ``CYPHER name=value`` header, escaped the way the
  official FalkorDB clients do. Neo4j gets ordinary parameters.
- Transactions are no-ops (BEGIN/COMMIT/ROLLBACK answer success, nothing rolls back), so each
  write is a self-contained idempotent statement; on FalkorDB a call spanning several batches is
  atomic per batch only (on Neo4j one call is one transaction).
- The database name is ignored inside transactions (always graph ``falkordb``), and in
  auto-commit runs the first *key* of the RUN metadata is taken as the graph name. This module
  only uses transaction functions.
- Errors arrive as ``Neo.DatabaseError.General.UnknownError`` without a message; there is no
  ``IF NOT EXISTS`` for indexes and no unique constraint over Bolt (``GRAPH.CONSTRAINT`` is a
  Redis command). FalkorDB runs writes one at a time, so ``MERGE`` cannot race into duplicates.
- ``driver.execute_query`` pipelines BEGIN and RUN, and FalkorDB then answers each call ~40 ms
  late (the pattern of Nagle meeting delayed ACK); sessions with transaction functions wait for
  BEGIN and answer in about 1 ms, so they are used throughout.
- A single huge record (``collect()`` over ~16k values) never arrived; queries stream one row
  per edge instead.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, LiteralString, cast

from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction

from datamesh.lineage.traversal import (
    DIRECTIONS,
    MAX_DEPTH_LIMIT,
    Direction,
    NodeKey,
    Traversal,
    check_limits,
    hop_depths,
)

__all__ = [
    "KINDS",
    "BoltGraph",
    "Dialect",
    "Neighbourhood",
    "NodeNotFound",
    "ProjectionChanged",
    "cypher_literal",
]

Dialect = Literal["neo4j", "falkordb"]
KINDS: frozenset[str] = frozenset({"dataset", "process"})
MAX_TEXT = 4000
"""Longest name/namespace stored in the graph (the catalog holds the full record)."""
DEFAULT_FETCH_LIMIT = 200_000
"""Most raw edges one traversal reads, whatever the caps, so a hub cannot exhaust memory."""

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NodeNotFound(LookupError):
    """The start node of a traversal is not in the graph."""


class ProjectionChanged(LookupError):
    """A guarded walk found no projection mark, or a different one at its end: the graph was
    being wiped or rebuilt, so what the walk read may be partial."""


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """Raw subgraph around a start node, as read level by level."""

    kinds: dict[NodeKey, str]
    edges: list[tuple[NodeKey, NodeKey]]
    levels: int
    """Raw levels fully read (every walk); less than asked when the fetch limit cut in."""
    truncated: bool = False
    out_edges: dict[NodeKey, set[NodeKey]] = field(default_factory=dict, repr=False)
    in_edges: dict[NodeKey, set[NodeKey]] = field(default_factory=dict, repr=False)


# -- values -------------------------------------------------------------------------------------


def _node_id(value: object) -> str:
    """Ids are UUIDs; canonical text makes them compact, comparable and safe to render."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("node id must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"node id is not a UUID: {value[:64]!r}") from None


def _text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise ValueError(f"{what} must be at most {MAX_TEXT} characters without NUL")
    return value


def cypher_literal(value: object) -> str:
    """Render a parameter value as an openCypher literal for FalkorDB's ``CYPHER`` header.

    Strings are double-quoted with ``\\`` and ``"`` escaped, which FalkorDB decodes back to the
    exact text (it takes other characters, newlines and non-ASCII included, verbatim).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("integer out of 64-bit range")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinity cannot be sent")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings must not contain NUL")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str) or not _PARAM_NAME.match(key):
                raise ValueError(f"map key must be an identifier: {key!r}")
            parts.append(f"{key}: {cypher_literal(item)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cypher_literal(item) for item in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} to the graph")


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- queries (constants; values only ever travel as parameters) ------------------------------

_UPSERT_NODES: LiteralString = (
    "UNWIND $rows AS row "
    "MERGE (n:LineageNode {id: row.id}) "
    "SET n.kind = row.kind, n.name = row.name, n.namespace = row.namespace "
    "RETURN count(n) AS n"
)
_UPSERT_EDGES: LiteralString = (
    "UNWIND $rows AS row "
    "MATCH (a:LineageNode {id: row.src}) "
    "MATCH (b:LineageNode {id: row.dst}) "
    "MERGE (a)-[:FEEDS]->(b) "
    "RETURN count(*) AS n"
)
_DELETE_EDGE: LiteralString = (
    "MATCH (:LineageNode {id: $src})-[r:FEEDS]->(:LineageNode {id: $dst}) "
    "DELETE r RETURN count(r) AS n"
)
_DELETE_NODE: LiteralString = "MATCH (n:LineageNode {id: $id}) DETACH DELETE n RETURN count(n) AS n"
_CLEAR_BATCH: LiteralString = (
    "MATCH (n:LineageNode) WITH n LIMIT $cap DETACH DELETE n RETURN count(n) AS n"
)
_COUNT_NODES: LiteralString = "MATCH (n:LineageNode) RETURN count(n) AS n"
_COUNT_EDGES: LiteralString = "MATCH (:LineageNode)-[r:FEEDS]->(:LineageNode) RETURN count(r) AS n"
_GET_NODES: LiteralString = (
    "UNWIND $ids AS id MATCH (n:LineageNode {id: id}) "
    "RETURN n.id AS id, n.kind AS kind, n.name AS name, n.namespace AS namespace"
)
_START_KIND: LiteralString = "MATCH (n:LineageNode {id: $id}) RETURN n.kind AS kind"
# One raw level: the kind of the newly reached end comes along so no second query is needed.
_LEVEL_DOWN: LiteralString = (
    "UNWIND $ids AS id "
    "MATCH (a:LineageNode {id: id})-[:FEEDS]->(b:LineageNode) "
    "RETURN a.id AS src, b.id AS dst, b.kind AS kind LIMIT $cap"
)
_LEVEL_UP: LiteralString = (
    "UNWIND $ids AS id "
    "MATCH (a:LineageNode)-[:FEEDS]->(b:LineageNode {id: id}) "
    "RETURN a.id AS src, b.id AS dst, a.kind AS kind LIMIT $cap"
)
_OUT_EDGES: LiteralString = (
    "UNWIND $ids AS id "
    "MATCH (a:LineageNode {id: id})-[:FEEDS]->(b:LineageNode) RETURN a.id AS src, b.id AS dst"
)
_IN_EDGES: LiteralString = (
    "UNWIND $ids AS id "
    "MATCH (a:LineageNode)-[:FEEDS]->(b:LineageNode {id: id}) RETURN a.id AS src, b.id AS dst"
)
# The projection's own position, kept in the graph: a graph server that comes back empty (or
# from an older backup) is told apart from one that is up to date by reading it.
_GET_MARK: LiteralString = (
    "MATCH (m:DataMeshProjection {id: 'lineage'}) RETURN m.seq AS seq, m.epoch AS epoch"
)
# A mark made anew (after a wipe or a rebuild) gets a new epoch; moving it keeps the epoch.
_SET_MARK: LiteralString = (
    "MERGE (m:DataMeshProjection {id: 'lineage'}) ON CREATE SET m.epoch = $epoch "
    "SET m.seq = $seq RETURN m.seq AS seq"
)
_DELETE_MARK: LiteralString = "MATCH (m:DataMeshProjection) DELETE m RETURN count(m) AS n"
_NEO4J_SCHEMA: LiteralString = (
    "CREATE CONSTRAINT lineage_node_id IF NOT EXISTS FOR (n:LineageNode) REQUIRE n.id IS UNIQUE"
)
_FALKOR_INDEXES: LiteralString = "CALL db.indexes()"
_FALKOR_INDEX: LiteralString = "CREATE INDEX FOR (n:LineageNode) ON (n.id)"


class BoltGraph:
    """The lineage projection in a Bolt graph database.

    Pass a driver you own (``BoltGraph(driver)``) or let :meth:`connect` create one that
    :meth:`close` closes. ``database`` is honoured by Neo4j and meaningless to FalkorDB.
    """

    def __init__(
        self,
        driver: AsyncDriver,
        *,
        database: str | None = None,
        dialect: Dialect = "neo4j",
        batch_size: int = 1000,
        fetch_limit: int = DEFAULT_FETCH_LIMIT,
    ) -> None:
        if dialect not in ("neo4j", "falkordb"):
            raise ValueError("dialect must be 'neo4j' or 'falkordb'")
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError("batch_size must be a positive int")
        if type(fetch_limit) is not int or fetch_limit < 1:
            raise ValueError("fetch_limit must be a positive int")
        self._driver = driver
        self._owns_driver = False
        self.database = database
        self.dialect: Dialect = dialect
        self.batch_size = batch_size
        self.fetch_limit = fetch_limit

    @classmethod
    def connect(
        cls,
        url: str,
        auth: tuple[str, str] | None,
        *,
        database: str | None = None,
        dialect: Dialect = "neo4j",
        **driver_options: Any,
    ) -> BoltGraph:
        """A graph on its own driver (closed by :meth:`close`); options go to the driver."""
        driver = AsyncGraphDatabase.driver(url, auth=auth, **driver_options)
        graph = cls(driver, database=database, dialect=dialect)
        graph._owns_driver = True
        return graph

    async def close(self) -> None:
        """Close the driver if :meth:`connect` made it; a borrowed driver stays open."""
        if self._owns_driver:
            await self._driver.close()

    # -- plumbing ------------------------------------------------------------------------
    def _statement(
        self, query: LiteralString, params: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        if self.dialect == "neo4j" or not params:
            return query, dict(params)
        header = " ".join(f"{name}={cypher_literal(value)}" for name, value in params.items())
        return f"CYPHER {header} {query}", {}

    async def _run(
        self, tx: AsyncManagedTransaction, query: LiteralString, **params: Any
    ) -> list[dict[str, Any]]:
        text, values = self._statement(query, params)
        result = await tx.run(text, values)
        return [record.data() async for record in result]

    async def _write(self, work: Callable[[AsyncManagedTransaction], Any]) -> Any:
        async with self._driver.session(database=self.database) as session:
            return await session.execute_write(work)

    async def _read(self, work: Callable[[AsyncManagedTransaction], Any]) -> Any:
        async with self._driver.session(database=self.database) as session:
            return await session.execute_read(work)

    # -- schema and writes ---------------------------------------------------------------
    async def ensure_schema(self) -> None:
        """Unique id constraint on Neo4j; a range index on FalkorDB (no constraints over Bolt)."""

        async def work(tx: AsyncManagedTransaction) -> None:
            if self.dialect == "neo4j":
                await self._run(tx, _NEO4J_SCHEMA)
                return
            for index in await self._run(tx, _FALKOR_INDEXES):
                if index.get("label") == "LineageNode" and "id" in (index.get("properties") or []):
                    return
            await self._run(tx, _FALKOR_INDEX)

        await self._write(work)

    async def upsert_nodes(self, nodes: Sequence[Mapping[str, Any]]) -> int:
        """Create or update nodes by id (idempotent). Returns how many rows were applied."""
        rows = []
        for node in nodes:
            kind = node.get("kind")
            if kind not in KINDS:
                raise ValueError(f"node kind must be one of {sorted(KINDS)}")
            rows.append(
                {
                    "id": _node_id(node.get("id")),
                    "kind": kind,
                    "name": _text(node.get("name"), "name"),
                    "namespace": _text(node.get("namespace"), "namespace"),
                }
            )
        if not rows:
            return 0

        async def work(tx: AsyncManagedTransaction) -> int:
            done = 0
            for batch in _chunks(rows, self.batch_size):
                done += int((await self._run(tx, _UPSERT_NODES, rows=list(batch)))[0]["n"])
            return done

        return int(await self._write(work))

    async def upsert_edges(self, edges: Iterable[tuple[object, object]]) -> int:
        """Create edges between existing nodes (idempotent). Returns how many had both ends;
        an edge to a node not (yet) in the graph is skipped, not an error."""
        rows = []
        seen: set[tuple[str, str]] = set()
        for src, dst in edges:
            pair = (_node_id(src), _node_id(dst))
            if pair[0] == pair[1]:
                raise ValueError("an edge cannot connect a node to itself")
            if pair not in seen:
                seen.add(pair)
                rows.append({"src": pair[0], "dst": pair[1]})
        if not rows:
            return 0

        async def work(tx: AsyncManagedTransaction) -> int:
            done = 0
            for batch in _chunks(rows, self.batch_size):
                done += int((await self._run(tx, _UPSERT_EDGES, rows=list(batch)))[0]["n"])
            return done

        return int(await self._write(work))

    async def delete_edge(self, src: object, dst: object) -> bool:
        """Remove one edge; False when it was not there."""
        params = {"src": _node_id(src), "dst": _node_id(dst)}

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._run(tx, _DELETE_EDGE, **params))[0]["n"])

        return bool(await self._write(work))

    async def delete_node(self, node_id: object) -> bool:
        """Remove a node and its edges; False when it was not there."""
        key = _node_id(node_id)

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._run(tx, _DELETE_NODE, id=key))[0]["n"])

        return bool(await self._write(work))

    async def clear(self) -> None:
        """Remove every lineage node, in bounded batches so a big graph does not need one
        huge transaction (used by reindex and tests). The projection mark goes last."""

        async def work(tx: AsyncManagedTransaction) -> int:
            return int((await self._run(tx, _CLEAR_BATCH, cap=10_000))[0]["n"])

        while await self._write(work):
            pass
        await self.set_projected_seq(None)

    async def projected_seq(self) -> int | None:
        """The last event sequence number the projection applied, as the graph itself records
        it; None when the graph holds no mark (empty, wiped, or never projected)."""

        async def work(tx: AsyncManagedTransaction) -> int | None:
            rows = await self._run(tx, _GET_MARK)
            return int(rows[0]["seq"]) if rows and rows[0]["seq"] is not None else None

        return cast(int | None, await self._read(work))

    async def set_projected_seq(self, seq: int | None) -> None:
        """Record (or, with None, forget) how far the projection has applied events."""
        if seq is not None and (type(seq) is not int or seq < 0):
            raise ValueError("seq must be a non-negative int")

        async def work(tx: AsyncManagedTransaction) -> None:
            if seq is None:
                await self._run(tx, _DELETE_MARK)
            else:
                await self._run(tx, _SET_MARK, seq=seq, epoch=uuid.uuid4().hex)

        await self._write(work)

    # -- reads ---------------------------------------------------------------------------
    async def counts(self) -> tuple[int, int]:
        """(nodes, edges) in the lineage graph."""

        async def work(tx: AsyncManagedTransaction) -> tuple[int, int]:
            nodes = (await self._run(tx, _COUNT_NODES))[0]["n"]
            edges = (await self._run(tx, _COUNT_EDGES))[0]["n"]
            return int(nodes), int(edges)

        return cast(tuple[int, int], await self._read(work))

    async def get_nodes(self, ids: Iterable[object]) -> dict[NodeKey, dict[str, Any]]:
        """Stored properties by id, for the given ids that exist."""
        keys = sorted({_node_id(i) for i in ids})

        async def work(tx: AsyncManagedTransaction) -> dict[NodeKey, dict[str, Any]]:
            found: dict[NodeKey, dict[str, Any]] = {}
            for batch in _chunks(keys, self.batch_size):
                for row in await self._run(tx, _GET_NODES, ids=list(batch)):
                    found[row["id"]] = row
            return found

        return cast(dict[NodeKey, dict[str, Any]], await self._read(work))

    async def neighbourhood(
        self,
        start_id: object,
        direction: Direction,
        raw_depth: int,
        max_nodes: int | None = None,
        *,
        guarded: bool = False,
    ) -> Neighbourhood:
        """Every raw edge within ``raw_depth`` edges of the start, walking ``direction``.

        ``max_nodes`` (optional) stops after the first complete level holding more nodes.
        ``guarded`` raises :class:`ProjectionChanged` unless the same projection mark is there
        before and after the walk (a wipe removes it first, a rebuild makes a new one last).
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if type(raw_depth) is not int or not 0 <= raw_depth <= 2 * MAX_DEPTH_LIMIT:
            raise ValueError(f"raw_depth must be an int between 0 and {2 * MAX_DEPTH_LIMIT}")
        if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
            raise ValueError("max_nodes must be a positive int")
        start = _node_id(start_id)

        def enough(nb: _Fetch) -> bool:
            return max_nodes is not None and len(nb.kinds) > max_nodes

        async def work(tx: AsyncManagedTransaction) -> _Fetch:
            if not guarded:
                return await self._fetch(tx, start, direction, raw_depth, enough)
            before = await self._epoch(tx)
            if before is None:
                raise ProjectionChanged("the graph holds no projection mark")
            fetch = await self._fetch(tx, start, direction, raw_depth, enough)
            if await self._epoch(tx) != before:
                raise ProjectionChanged("the graph's projection changed during the walk")
            return fetch

        return cast(_Fetch, await self._read(work)).result()

    async def _epoch(self, tx: AsyncManagedTransaction) -> tuple[object] | None:
        """The projection mark's epoch (in a tuple: marks from before epochs have none)."""
        rows = await self._run(tx, _GET_MARK)
        return (rows[0]["epoch"],) if rows else None

    async def traverse(
        self, start_id: object, direction: Direction, max_depth: int, max_nodes: int
    ) -> Traversal:
        """Hop-depth traversal (see :mod:`datamesh.lineage.traversal`) of the stored graph.

        Reads at most ``2 * max_depth`` raw levels, and stops early once the nearest
        ``max_nodes`` are settled, then reads the edges among the chosen nodes.
        Raises :class:`NodeNotFound` for an unknown start.
        """
        check_limits(direction, max_depth, max_nodes)
        start = _node_id(start_id)

        def enough(nb: _Fetch) -> bool:
            # Hop depths up to levels // 2 are exact on what was read; once those alone
            # overflow the cap, deeper levels cannot change which nodes are kept.
            if len(nb.kinds) <= max_nodes or nb.levels < 2:
                return False
            exact = min(max_depth, nb.levels // 2)
            partial = hop_depths(
                start, nb.kinds, nb.out_edges, direction, exact, max_nodes, in_edges=nb.in_edges
            )
            return partial.truncated

        async def work(tx: AsyncManagedTransaction) -> Traversal:
            fetch = await self._fetch(tx, start, direction, 2 * max_depth, enough)
            exact = min(max_depth, fetch.levels // 2)
            result = hop_depths(
                start,
                fetch.kinds,
                fetch.out_edges,
                direction,
                exact,
                max_nodes,
                in_edges=fetch.in_edges,
            )
            edges = await self._edges_among(tx, result.nodes.keys(), fetch)
            return Traversal(
                nodes=result.nodes,
                edges=edges,
                truncated=result.truncated or fetch.cut,
            )

        return cast(Traversal, await self._read(work))

    async def _edges_among(
        self, tx: AsyncManagedTransaction, ids: Iterable[NodeKey], fetch: _Fetch
    ) -> set[tuple[NodeKey, NodeKey]]:
        """Every stored edge between chosen nodes. An edge u->v is already known when the walk
        read all of u's out-edges or all of v's in-edges; only the rest is asked for, from
        whichever side needs fewer lookups."""
        chosen = set(ids)
        edges = {
            (src, dst)
            for src in chosen & fetch.expanded_out
            for dst in fetch.out_edges.get(src, ())
            if dst in chosen
        }
        edges |= {
            (src, dst)
            for dst in chosen & fetch.expanded_in
            for src in fetch.in_edges.get(dst, ())
            if src in chosen
        }
        by_src = chosen - fetch.expanded_out
        by_dst = chosen - fetch.expanded_in
        query, todo = (_OUT_EDGES, by_src) if len(by_src) <= len(by_dst) else (_IN_EDGES, by_dst)
        for batch in _chunks(sorted(todo), self.batch_size):
            for row in await self._run(tx, query, ids=list(batch)):
                if row["src"] in chosen and row["dst"] in chosen:
                    edges.add((row["src"], row["dst"]))
        return edges

    async def _fetch(
        self,
        tx: AsyncManagedTransaction,
        start: NodeKey,
        direction: Direction,
        raw_depth: int,
        enough: Callable[[_Fetch], bool],
    ) -> _Fetch:
        rows = await self._run(tx, _START_KIND, id=start)
        if not rows:
            raise NodeNotFound(start)
        fetch = _Fetch(kinds={start: str(rows[0]["kind"])}, budget=self.fetch_limit)
        walks: list[Literal["down", "up"]] = []
        if direction in ("downstream", "both"):
            walks.append("down")
        if direction in ("upstream", "both"):
            walks.append("up")
        seen = {walk: {start} for walk in walks}
        frontier: dict[str, list[NodeKey]] = {walk: [start] for walk in walks}
        for level in range(raw_depth):
            for walk in walks:
                if not frontier[walk]:
                    continue
                query = _LEVEL_DOWN if walk == "down" else _LEVEL_UP
                reached: list[NodeKey] = []
                for batch in _chunks(frontier[walk], self.batch_size):
                    result = await self._run(tx, query, ids=list(batch), cap=fetch.budget + 1)
                    if len(result) > fetch.budget:
                        fetch.cut = True  # this level is incomplete; keep what is exact
                        return fetch
                    fetch.budget -= len(result)
                    (fetch.expanded_out if walk == "down" else fetch.expanded_in).update(batch)
                    for row in result:
                        src, dst = row["src"], row["dst"]
                        new = dst if walk == "down" else src
                        fetch.add(src, dst, new, str(row["kind"]))
                        if new not in seen[walk]:
                            seen[walk].add(new)
                            reached.append(new)
                frontier[walk] = reached
            fetch.levels = level + 1
            if not any(frontier.values()):
                fetch.levels = raw_depth  # nothing deeper exists: everything read is exact
                break
            if enough(fetch):
                fetch.cut = True
                break
        else:
            fetch.levels = raw_depth
        return fetch


@dataclass
class _Fetch:
    """What a level-by-level read has gathered so far."""

    kinds: dict[NodeKey, str]
    budget: int
    levels: int = 0
    cut: bool = False
    out_edges: dict[NodeKey, set[NodeKey]] = field(default_factory=dict)
    in_edges: dict[NodeKey, set[NodeKey]] = field(default_factory=dict)
    expanded_out: set[NodeKey] = field(default_factory=set)
    """Nodes whose every out-edge has been read (likewise ``expanded_in``)."""
    expanded_in: set[NodeKey] = field(default_factory=set)

    def add(self, src: NodeKey, dst: NodeKey, new: NodeKey, kind: str) -> None:
        self.kinds.setdefault(new, kind)
        self.out_edges.setdefault(src, set()).add(dst)
        self.in_edges.setdefault(dst, set()).add(src)

    def result(self) -> Neighbourhood:
        edges = sorted((s, d) for s, targets in self.out_edges.items() for d in targets)
        return Neighbourhood(
            kinds=dict(self.kinds),
            edges=edges,
            levels=self.levels,
            truncated=self.cut,
            out_edges=self.out_edges,
            in_edges=self.in_edges,
        )
