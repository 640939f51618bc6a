"""Hot paths (issue #21): one ``datamesh serve`` process on a seeded database, 16 concurrent
closed-loop clients, each path's throughput as a ratio to the same server's ``GET /api/health``
measured right before it in the same run (so a busy machine moves both alike):

    GET  /api/datasets/{id}             goal >= 0.7x health
    GET  /api/datasets?query=word       goal >= 0.4x health
    POST /api/datasets/{id}/connect     goal >= 0.3x health
    POST /api/v1/lineage (one event)    goal >= 0.3x health

Connect's latency (p50/p95) at one client and at 20, next to health's at 20 (goal: p95 under
10 ms at one client, at most 3x health's p95 under 20 clients), and
the server process's CPU per request for each path (``cpu ms``: steadier than requests/s on a
busy machine; PostgreSQL's and the clients' CPU are not in it), and
``GET /api/datasets/{id}`` next to a bare Starlette endpoint (a second process, same
uvicorn loop and parser) running the very same repository queries on the same database with
no authentication, middleware or response model (goal >= 0.5x). The live stream over two
workers is ``python -m bench stream``.

    python -m bench hot                       # ~1-2 minutes
    python -m bench.hot --seconds 5 --clients 16 --datasets 2000
    python -m bench.hot --bare-serve PORT     # (internal) the bare endpoint's process
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from bench.common import (
    Server,
    free_port,
    pct,
    save,
    start_server,
    stop_server,
)
from bench.load import WORDS, World, _dataset, _run_event, prepare

GOALS = {"get": 0.7, "search": 0.4, "connect": 0.3, "lineage_event": 0.3, "get_vs_bare": 0.5}
LATENCY_GOALS = {"connect_p95_1_client_ms": 10.0, "connect_p95_20_clients_x_health": 3.0}
LATENCY_CLIENTS = 20
Request = Callable[[random.Random], httpx.Request]


# -- the bare endpoint (its own process) ----------------------------------------------------------
def bare_serve(port: int) -> None:
    """GET /datasets/{id}: the catalog's own two read queries for the viewer (resolved once at
    start-up), through the app's engine settings, answered with orjson: what the product's
    endpoint costs without authentication, middleware, dependency injection and pydantic."""
    import orjson
    import uvicorn
    from sqlalchemy import select
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response
    from starlette.routing import Route

    from datamesh.auth.principal import Principal
    from datamesh.catalog import repository as repo
    from datamesh.config import Settings
    from datamesh.db import make_engine, make_sessionmaker, session_scope
    from datamesh.models.identity import User

    settings = Settings()
    engine = make_engine(settings.database_url or "", settings)
    sessions = make_sessionmaker(engine)
    viewer: dict[str, Principal] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with session_scope(sessions) as s:
            u = (await s.execute(select(User).where(User.email == "viewer@load.test"))).scalar_one()
            viewer["p"] = Principal(
                "user", u.id, u.name, u.org_id, "viewer", u.email, False, None, u.id
            )
        yield
        await engine.dispose()

    async def get_dataset(request: StarletteRequest) -> Response:
        ds_id = uuid.UUID(request.path_params["id"])
        p = viewer["p"]
        async with session_scope(sessions) as s:
            found = await repo.get_with_extras(s, ds_id, p)
            if found is None:
                return Response(b"{}", 404, media_type="application/json")
            ds, org_name, followers, following, *rest = found
            # the product's queries: the owners come with the profile's query, or (before
            # issue 21) from a second one
            owners = rest[0] if rest else (await repo.owners(s, [ds.id])).get(ds.id, [])
        body = {
            c: getattr(ds, c)
            for c in ("id", "namespace", "name", "description", "platform", "tags", "visibility")
        }
        body |= {
            "owners": [{"id": u.id, "name": u.name, "email": u.email} for u in owners],
            "org": {"id": ds.org_id, "name": org_name},
            "fields": ds.fields or [],
            "follower_count": followers,
            "following": following,
        }
        return Response(orjson.dumps(body, default=str), media_type="application/json")

    app = Starlette(routes=[Route("/datasets/{id}", get_dataset)], lifespan=lifespan)
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )


# -- the load ---------------------------------------------------------------------------------------
async def closed_loop(
    c: httpx.AsyncClient, make: Request, clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` loops sending one request after another for ``seconds``: requests/s and
    latency; any non-2xx answer is counted as an error (and fails the run)."""
    samples: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds

    async def loop(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < until:
            start = time.perf_counter()
            r = await c.send(make(rng))
            samples.append((time.perf_counter() - start) * 1000)
            if not r.is_success:
                errors.append(f"{r.status_code} {r.text[:200]}")

    started = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    return {
        "rps": round(len(samples) / elapsed, 1),
        "n": len(samples),
        "p50_ms": round(pct(samples, 50), 2),
        "p95_ms": round(pct(samples, 95), 2),
        "p99_ms": round(pct(samples, 99), 2),
        "errors": len(errors),
        "error_samples": errors[:3],
    }


def requests(c: httpx.AsyncClient, w: World) -> dict[str, Request]:
    def get(rng: random.Random) -> httpx.Request:
        ds = rng.choice(w.dataset_ids)
        return c.build_request("GET", f"/api/datasets/{ds}", headers=w.viewer)

    def search(rng: random.Random) -> httpx.Request:
        params = {"query": rng.choice(WORDS)}
        return c.build_request("GET", "/api/datasets", params=params, headers=w.viewer)

    def connect(rng: random.Random) -> httpx.Request:
        ds = rng.choice(w.dataset_ids)
        return c.build_request("POST", f"/api/datasets/{ds}/connect", json={}, headers=w.producer)

    def lineage_event(rng: random.Random) -> httpx.Request:
        event = _run_event(rng.randrange(300), w.datasets, str(uuid.UUID(int=rng.getrandbits(128))))
        return c.build_request("POST", "/api/v1/lineage", json=event, headers=w.api_key)

    return {"get": get, "search": search, "connect": connect, "lineage_event": lineage_event}


def health(c: httpx.AsyncClient) -> Request:
    return lambda _rng: c.build_request("GET", "/api/health")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    datasets = [_dataset(i, rng) for i in range(args.datasets)]
    server = await asyncio.to_thread(start_server, datasets, workers=1, prefix="datamesh-hot-")
    bare, bare_url = _start_bare(server)  # starts while the server does; idle until its turn
    results: dict[str, Any] = {}
    try:
        limits = httpx.Limits(max_connections=max(args.clients, LATENCY_CLIENTS) + 4)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as c:
            world = await prepare(c, server, datasets)
            make = requests(c, world)
            await closed_loop(c, health(c), args.clients, 1.0)  # warm-up (connections, caches)
            for name, req in make.items():
                if args.paths and name not in args.paths:
                    continue
                await closed_loop(c, req, args.clients, 1.0)
                base = await closed_loop(c, health(c), args.clients, args.seconds)
                spy = _profile(args, server, name)
                cpu = _cpu_seconds(server.proc.pid)
                path = await closed_loop(c, req, args.clients, args.seconds)
                path["server_cpu_ms"] = _cpu_ms(server.proc.pid, cpu, path["n"])
                if spy is not None:
                    await asyncio.to_thread(spy.wait, 60)
                results[name] = _ratio(name, path, base)
            spy = _profile(args, server, "connect_1_client")
            latency = await _connect_latency(c, make["connect"], args.seconds, server.proc.pid)
            if spy is not None:
                await asyncio.to_thread(spy.wait, 60)
            if args.paths and "get_vs_bare" not in args.paths:
                return _result(args, results, latency)
            async with httpx.AsyncClient(base_url=bare_url, limits=limits, timeout=60) as b:
                await _wait_bare(b, bare, world, server)
                bare_req: Request = lambda rng: b.build_request(  # noqa: E731
                    "GET", f"/datasets/{rng.choice(world.dataset_ids)}"
                )
                await closed_loop(b, bare_req, args.clients, 1.0)
                base = await closed_loop(b, bare_req, args.clients, args.seconds)
                path = await closed_loop(c, make["get"], args.clients, args.seconds)
                results["get_vs_bare"] = _ratio("get_vs_bare", path, base)
    finally:
        bare.terminate()
        bare.wait(30)
        await asyncio.to_thread(stop_server, server)
    return _result(args, results, latency)


def _result(
    args: argparse.Namespace, results: dict[str, Any], latency: dict[str, Any]
) -> dict[str, Any]:
    return {
        "clients": args.clients,
        "seconds_per_path": args.seconds,
        "seeded_datasets": args.datasets,
        "loadavg": _loadavg(),
        "paths": results,
        "connect_latency": latency,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pid: int, since: float, requests: int) -> float:
    """The server process's CPU per request since ``since``: unlike requests/s, it does not
    move with what else the machine runs (PostgreSQL's and the clients' CPU not included)."""
    return round((_cpu_seconds(pid) - since) * 1000 / max(requests, 1), 2)


async def _connect_latency(
    c: httpx.AsyncClient, connect: Request, seconds: float, pid: int
) -> dict[str, Any]:
    """Connect's latency alone (one closed loop), then health's and Connect's under 20."""
    cpu = _cpu_seconds(pid)
    one = await closed_loop(c, connect, 1, seconds)
    one["server_cpu_ms"] = _cpu_ms(pid, cpu, one["n"])
    await closed_loop(c, connect, LATENCY_CLIENTS, 1.0)  # warm-up at the new concurrency
    health20 = await closed_loop(c, health(c), LATENCY_CLIENTS, seconds)
    many = await closed_loop(c, connect, LATENCY_CLIENTS, seconds)
    x_health = many["p95_ms"] / health20["p95_ms"] if health20["p95_ms"] else float("inf")
    return {
        "one_client": one,
        "clients": LATENCY_CLIENTS,
        "many_clients": many,
        "health_many_clients": health20,
        "p95_x_health": round(x_health, 2),
        "goals": LATENCY_GOALS,
        "met_one": one["p95_ms"] < LATENCY_GOALS["connect_p95_1_client_ms"],
        "met_many": x_health <= LATENCY_GOALS["connect_p95_20_clients_x_health"],
    }


def _ratio(name: str, path: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    ratio = path["rps"] / base["rps"] if base["rps"] else 0.0
    return {
        "ratio": round(ratio, 2),
        "goal": GOALS[name],
        "met": ratio >= GOALS[name],
        "path": path,
        "baseline": base,
    }


def _profile(args: argparse.Namespace, server: Server, name: str) -> subprocess.Popen[bytes] | None:
    """With --profile DIR: py-spy samples the server while the path is measured (collapsed
    stacks in DIR/<path>.txt; the sampling costs the server some throughput)."""
    if not args.profile:
        return None
    os.makedirs(args.profile, exist_ok=True)
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(server.proc.pid), "--duration", str(int(args.seconds)),
         "--rate", "250", "--format", "raw", "--nonblocking",
         "-o", os.path.join(args.profile, f"{name}.txt")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _start_bare(server: Server) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(server.env, DATAMESH_DATABASE_URL=server.db_url, DATAMESH_DB_POOL_SIZE="20")
    log = (server.base / "bare.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.hot", "--bare-serve", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return proc, f"http://127.0.0.1:{port}"


async def _wait_bare(
    b: httpx.AsyncClient, proc: subprocess.Popen[bytes], w: World, server: Server
) -> None:
    for _ in range(1800):  # start-up can be slow on a busy machine
        if proc.poll() is not None:
            break
        try:
            if (await b.get(f"/datasets/{w.dataset_ids[0]}")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    log = (server.base / "bare.log").read_text(errors="replace")[-3000:]
    raise SystemExit(f"the bare endpoint did not start:\n{log}")


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return "n/a"


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['clients']} clients, {result['seconds_per_path']} s per path, "
        f"loadavg before: {result['loadavg']}",
        f"{'path':<14} {'ratio':>6} {'goal':>6} {'':>4} {'req/s':>8} {'base/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'cpu ms':>7}",
    ]
    for name, r in result["paths"].items():
        lines.append(
            f"{name:<14} {r['ratio']:>6} {r['goal']:>6} {'ok' if r['met'] else 'MISS':>4} "
            f"{r['path']['rps']:>8} {r['baseline']['rps']:>8} "
            f"{r['path']['p50_ms']:>7} {r['path']['p95_ms']:>7} {r['path']['p99_ms']:>7} "
            f"{r['path'].get('server_cpu_ms', ''):>7}"
        )
    lat = result.get("connect_latency")
    if lat:
        one, many, h = lat["one_client"], lat["many_clients"], lat["health_many_clients"]
        n, goals = lat["clients"], lat["goals"]
        lines += [
            f"connect latency, 1 client:   p50 {one['p50_ms']} ms, p95 {one['p95_ms']} ms "
            f"(goal p95 < {goals['connect_p95_1_client_ms']:g} ms) "
            f"{'ok' if lat['met_one'] else 'MISS'}; server CPU {one.get('server_cpu_ms')} ms "
            "per Connect",
            f"connect latency, {n} clients: p50 {many['p50_ms']} ms, p95 {many['p95_ms']} ms; "
            f"health p50 {h['p50_ms']} ms, p95 {h['p95_ms']} ms: p95 {lat['p95_x_health']}x "
            f"health (goal <= {goals['connect_p95_20_clients_x_health']:g}x) "
            f"{'ok' if lat['met_many'] else 'MISS'}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hot", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per path")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed loops")
    parser.add_argument("--datasets", type=int, default=2000, help="datasets seeded")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results")
    parser.add_argument("--profile", default=None, help="py-spy the server into this folder")
    parser.add_argument(
        "--paths",
        type=lambda v: v.split(","),
        default=None,
        help="only these (comma-separated: get,search,connect,lineage_event,get_vs_bare); "
        "Connect's latency is always measured",
    )
    parser.add_argument("--bare-serve", type=int, default=None, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.bare_serve is not None:
        bare_serve(args.bare_serve)
        return
    loadavg = _loadavg()
    result = asyncio.run(run(args))
    result["loadavg"] = loadavg
    result["loadavg_after"] = _loadavg()
    if not args.no_save:
        save("hot", result)
    print(report(result), flush=True)
    lat = result["connect_latency"]
    runs = [r[k] for r in result["paths"].values() for k in ("path", "baseline")]
    runs += [lat["one_client"], lat["many_clients"], lat["health_many_clients"]]
    if any(r["errors"] for r in runs):
        raise SystemExit("some requests failed: " + str(result["paths"]))


if __name__ == "__main__":
    main()
