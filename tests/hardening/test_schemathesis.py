"""Schema fuzzing: schemathesis over every operation of the live OpenAPI document.

Each operation gets a fresh database with a platform admin and one real resource of each kind,
then a bounded number of generated requests, valid and invalid (schemathesis' examples,
coverage and fuzzing phases, positive and negative modes), sent over HTTP to a real uvicorn
server, authenticated as the platform admin; a smaller unauthenticated pass follows. Every
answer must be: not a 5xx, a status the document declares, a body matching its declared schema
and media type, and, for every error, ``application/problem+json``.

Deterministic and replayable:

- the Hypothesis seed is fixed (``SEED``), so every run sends the same requests. Hypothesis
  refuses ``derandomize=True`` together with an example database; an explicit seed gives the
  same determinism and keeps the database.
- failing examples are saved in ``tests/hardening/.hypothesis/`` (git-ignored). A failure
  replays first on the next run of the same test, e.g.
  ``.venv/bin/pytest 'tests/hardening/test_schemathesis.py::test_api[POST /api/datasets]'``;
  schemathesis also prints a ``curl`` command reproducing the failing request.
- ``DATAMESH_FUZZ_EXAMPLES=200`` runs a deeper fuzz with the same seed.

Path parameters are sometimes replaced by the id of a real resource of the matching kind, so
the fuzzer gets past 404 into the handlers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from datamesh.app import create_app
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from datamesh.errors import PROBLEM_JSON
from tests.hardening.server import ServerThread, World, seed_world

SEED = 20261122
EXAMPLES = int(os.environ.get("DATAMESH_FUZZ_EXAMPLES", "12"))
DATABASE = Path(__file__).parent / ".hypothesis"
_HANG_GUARD_SECONDS = 60.0  # no request may hang the run; none is expected to come near

ANON_EXAMPLES = 3
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _spec() -> dict[str, Any]:
    """The app's OpenAPI document; building it needs no database."""
    settings = Settings(
        database_url="postgresql://spec@127.0.0.1:1/spec", secret_key="s" * 48, log_format="json"
    )
    return create_app(settings).openapi()


def _config(examples: int, mode: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": mode,
                "max-examples": examples,
                "database": str(DATABASE),
                # The bearer token is sent by the test (or left out, in the anonymous pass):
                # a generated Authorization header would only test the token parser each time.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # A request valid for the schema may still break a rule no schema states: a
                # cursor this server did not issue (400), a name taken (409), a stale If-Match
                # (412), a connector's own settings (422). Anything else must not happen to it.
                "positive_data_acceptance": {
                    "expected-statuses": [
                        *("2xx", "3xx"),
                        *(400, 401, 403, 404, 409, 412, 422, 428, 429),
                    ]
                },
            },
            "request-timeout": _HANG_GUARD_SECONDS,
            "max-stream-events": 1,
            "operations": [
                # The stream sends a message only when something happens: schemathesis stops
                # reading it this long after its headers (cut short; not a failure). Waiting for
                # the headers (or a 4xx) has the usual limit: see `_Session`.
                {"include-path": "/api/feed/stream", "request-timeout": 0.5},
                # `PATCH /api/nodes/test` is `PATCH /api/nodes/{node_id}` with the id "test": a 422
                # for a malformed id, not a 405 (the literal route only exists for POST).
                {
                    "include-path": "/api/nodes/test",
                    "checks": {"unsupported_method": {"enabled": False}},
                },
            ],
        }
    )


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC, config=_config(EXAMPLES, "all"))
# Without credentials: fewer, valid-looking requests; each must be refused (or be public).
anonymous = schemathesis.openapi.from_dict(SPEC, config=_config(ANON_EXAMPLES, "positive"))

_world: World | None = None

# Which kind of resource each path parameter names.
_PARAM_KIND = {
    "dataset_id": "dataset",
    "asset_id": "dataset",
    "node_id": "node",
    "profile_id": "profile",
    "process_id": "process",
    "edge_id": "edge",
    "key_id": "api_key",
    "user_id": "user",
    "org_id": "org",
}
_CONNECTOR_TYPES = ["http_api", "postgresql", "snowflake", "databricks", "bigquery", "redshift"]


def flatmap_path_parameters(
    ctx: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Half the time, point each id parameter at a real resource of its kind."""
    world = _world
    if world is None or not path_parameters:
        return st.just(path_parameters)
    real: dict[str, list[Any]] = {}
    for name in path_parameters:
        if name == "type_id":
            real[name] = _CONNECTOR_TYPES
        elif name in _PARAM_KIND and world.ids.get(_PARAM_KIND[name]):
            real[name] = world.ids[_PARAM_KIND[name]]
    if not real:
        return st.just(path_parameters)
    swapped = st.fixed_dictionaries(
        {
            name: st.sampled_from(real[name]) if name in real else st.just(value)
            for name, value in path_parameters.items()
        }
    )
    return st.one_of(st.just(path_parameters), swapped)


schema.hook(flatmap_path_parameters)
anonymous.hook(flatmap_path_parameters)


def filter_failure(
    ctx: schemathesis.HookContext, failure: Any, case: Case, response: schemathesis.Response
) -> bool:
    """Keep every failure but one kind: an "invalid" value of the wrong JSON type that the
    server accepted because pydantic converts it losslessly (0/1 for a boolean, false for 0.0,
    a number as a Unix time). The value is stored as its typed equivalent and read back as
    such; any other accepted invalid input still fails."""
    message = getattr(failure, "message", "")
    return not (
        type(failure).__name__ == "AcceptedNegativeData"
        and message.count("Invalid component") == 1
        and message.rstrip().endswith("Incorrect type")
    )


schema.hook(filter_failure)
anonymous.hook(filter_failure)


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path_factory.mktemp("fuzz-data"),
        log_format="json",
        secret_key="test-secret-key-0123456789abcdef0123456789abcdef",
        db_pool_size=5,
        db_max_overflow=5,
        health_checks_enabled=False,
        sse_heartbeat_seconds=0.2,
    )
    with ServerThread(settings) as srv:
        yield srv


async def _intact(w: World, dsn: str) -> bool:
    """The world is still there (another module's test on this worker empties the tables)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM users WHERE id = $1::uuid AND NOT disabled", w.ids["user"][0]
        )
        return bool(n)
    finally:
        await conn.close()


_dirty = True


@pytest.fixture
def world(
    request: pytest.FixtureRequest, server: ServerThread, pg: EmbeddedPostgres, db_name: str
) -> World:
    """A fresh world after any write operation: what one operation's fuzzing changes stays
    with it. Reads share the world they find (fuzzed reads change nothing)."""
    global _world, _dirty
    dsn = pg.url(db_name, driver="postgresql")
    if _dirty or _world is None or not server.run(_intact(_world, dsn)):
        _world = seed_world(server, dsn)
    method = request.node.name.partition("[")[2].split(" ")[0]
    _dirty = method in WRITES and request.node.originalname == "test_api"
    return _world


@schemathesis.check
def errors_are_problem_json(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """Every 4xx/5xx is an RFC 9457 problem document."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if ctype != PROBLEM_JSON:
        raise AssertionError(f"HTTP {response.status_code} answered as {ctype!r}, not problem+json")
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"not a problem document: {body!r}")
    return True


def _public(case: Case) -> bool:
    security = case.operation.definition.raw.get("security")
    return not security or {} in security


@schemathesis.check
def refused_without_credentials(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """An operation that needs credentials answers no anonymous request with a 2xx."""
    if "authorization" in {k.lower() for k in response.request.headers} or _public(case):
        return None
    if response.status_code < 300:
        raise AssertionError(f"HTTP {response.status_code} without credentials")
    return True


# The fixture is per operation on purpose: examples of one operation share its world.
_SETTINGS = settings(suppress_health_check=list(HealthCheck))


class _Session(requests.Session):
    """Every request may take as long as it needs to answer (up to the hang guard).

    schemathesis passes an operation's ``request-timeout`` to requests as the socket timeout
    *and* uses it as the time to read an event stream: the stream's 0.5 s would then also
    limit how long the server may take to send its headers, or a 422 for a bad parameter,
    which a loaded CI machine sometimes exceeds. The read deadline still comes from the
    configuration (schemathesis checks it on each chunk; the stream pings every 0.2 s here).
    """

    def __init__(self) -> None:
        super().__init__()
        self.headers.clear()  # only the generated request's headers are sent

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = _HANG_GUARD_SECONDS
        return super().request(*args, **kwargs)


def _call(case: Case, **kwargs: Any) -> None:
    with _Session() as session:
        case.call_and_validate(session=session, **kwargs)


@schema.parametrize()
@_SETTINGS
def test_api(case: Case, server: ServerThread, world: World) -> None:
    """Signed in as a platform admin: no 5xx, declared statuses, schemas and media types."""
    _call(
        case,
        base_url=server.url,
        headers=world.headers,
        additional_checks=[errors_are_problem_json],
    )


@anonymous.parametrize()
@_SETTINGS
def test_api_anonymous(case: Case, server: ServerThread, world: World) -> None:
    """Without credentials: refused (401) unless public, and still no 5xx, undeclared status
    or error that is not problem+json."""
    _call(
        case,
        base_url=server.url,
        additional_checks=[errors_are_problem_json, refused_without_credentials],
    )


def test_the_fuzzed_document_is_the_live_one(server: ServerThread) -> None:
    """What was fuzzed is what the running server publishes (every operation is covered)."""
    import httpx

    live = httpx.get(f"{server.url}/api/openapi.json").json()

    def ops(spec: dict[str, Any]) -> set[str]:
        return {f"{m.upper()} {p}" for p, o in spec["paths"].items() for m in o}

    assert ops(live) == ops(SPEC)
    assert live == SPEC
