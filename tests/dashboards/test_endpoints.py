"""Dashboards: create and reload identical, validation with field paths, who may see and edit,
refs resolved per reader, If-Match (428/412), delete, duplicate, list pages; audit and events."""

from __future__ import annotations

import asyncio
import copy
import uuid

import asyncpg
import httpx
from fastapi import FastAPI

from tests.dashboards.helpers import create, created, dataset, layout, process
from tests.factories import signed_in


async def test_create_and_reload_identical(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    orders = await dataset(client, prod, "shop.orders")
    daily = await dataset(client, prod, "mart.orders_daily", platform="snowflake")
    job = await process(client, prod, "build_orders_daily")
    sent = layout([orders["id"], daily["id"]], [job["id"]], note="  Owned by data-eng.\n")
    resp = await create(
        client, prod, "Orders flow", description="Critical path", visibility="public", layout=sent
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["etag"] == '"1"'
    body = resp.json()
    assert body["layout"] == sent, "the canvas is stored exactly as sent (note text unstripped)"
    assert body["title"] == "Orders flow"
    assert body["description"] == "Critical path"
    assert body["visibility"] == "public"
    assert body["version"] == 1
    assert body["org_id"] == prod.org_id
    assert body["created_by"]["id"] == prod.id
    assert body["can_edit"] is True
    assert body["entities"] == {
        orders["id"]: {
            "id": orders["id"],
            "kind": "dataset",
            "name": "shop.orders",
            "namespace": "postgres://db:5432",
            "platform": "postgresql",
            "restricted": False,
        },
        daily["id"]: {
            "id": daily["id"],
            "kind": "dataset",
            "name": "mart.orders_daily",
            "namespace": "postgres://db:5432",
            "platform": "snowflake",
            "restricted": False,
        },
        job["id"]: {
            "id": job["id"],
            "kind": "process",
            "name": "build_orders_daily",
            "namespace": "airflow://etl",
            "restricted": False,
        },
    }
    got = await client.get(f"/api/dashboards/{body['id']}", headers=prod.headers)
    assert got.status_code == 200
    assert got.headers["etag"] == '"1"'
    assert got.json() == body

    audit = await raw_conn.fetch(
        "SELECT action, actor_id, target_kind, target_id, changes FROM audit_log "
        "WHERE action LIKE 'dashboard.%'"
    )
    assert [(a["action"], str(a["actor_id"]), a["target_kind"], a["target_id"]) for a in audit] == [
        ("dashboard.create", prod.id, "dashboard", body["id"])
    ]
    assert '"nodes": 4' in audit[0]["changes"], "the audit keeps the layout's size, not its text"
    events = await raw_conn.fetch(
        "SELECT type, subject_kind, subject_id, org_id FROM events WHERE type LIKE 'dashboard.%'"
    )
    assert [(e["type"], e["subject_id"], str(e["org_id"])) for e in events] == [
        ("dashboard.created", body["id"], prod.org_id)
    ]


async def test_defaults_and_who_may_create(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    body = await created(client, prod, "Empty")
    assert body["visibility"] == "internal"
    assert body["description"] == ""
    assert body["layout"] == {
        "nodes": [],
        "edges": [],
        "groups": [],
        "viewport": {"x": 0.0, "y": 0.0, "zoom": 1.0},
    }
    assert body["entities"] == {}
    for who in (steward, admin):
        assert (await create(client, who)).status_code == 201
    refused = await create(client, viewer)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    anonymous = await client.post("/api/dashboards", json={"title": "x"})
    assert anonymous.status_code == 401


def _fields(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in resp.json()["errors"]}


async def test_validation_errors_name_the_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    ref = str(uuid.uuid4())
    good = layout([ref], note="hi")

    bad = copy.deepcopy(good)
    bad["nodes"][1]["id"] = "n0"  # a duplicate node id (so edge e0 to "note" now dangles)
    bad["edges"].append({"id": "e0", "source": "n0", "target": "ghost"})  # duplicate id, dangling
    bad["nodes"][0]["parent"] = "nowhere"
    assert _fields(await create(client, prod, layout=bad)) == {
        "layout.nodes.1.id",
        "layout.edges.0.target",
        "layout.edges.1.id",
        "layout.edges.1.target",
        "layout.nodes.0.parent",
    }

    bad = copy.deepcopy(good)
    del bad["nodes"][0]["ref"]
    bad["nodes"][1]["ref"] = ref
    bad["groups"][0]["id"] = "note"  # collides with the note node; n0's parent g1 is gone
    assert _fields(await create(client, prod, layout=bad)) == {
        "layout.nodes.0.ref",
        "layout.nodes.0.parent",
        "layout.nodes.1.ref",
        "layout.nodes.1.id",
    }

    bad = copy.deepcopy(good)
    bad["nodes"].append({"id": "p", "kind": "process", "ref": ref, "position": {"x": 0, "y": 0}})
    assert _fields(await create(client, prod, layout=bad)) == {"layout.nodes.2.ref"}

    bad = copy.deepcopy(good)
    bad["nodes"][0]["kind"] = "table"
    bad["nodes"][1]["colour"] = "red"
    bad["viewport"]["zoom"] = 0
    bad["groups"][0]["size"]["width"] = -1
    bad["nodes"][1]["text"] = "x" * 10_001
    fields = _fields(await create(client, prod, layout=bad))
    assert {
        "layout.nodes.0.kind",
        "layout.nodes.1.colour",
        "layout.viewport.zoom",
        "layout.groups.0.size.width",
        "layout.nodes.1.text",
    } <= fields

    too_many = {
        "nodes": [
            {"id": f"n{i}", "kind": "note", "position": {"x": 0, "y": 0}} for i in range(2001)
        ]
    }
    assert _fields(await create(client, prod, layout=too_many)) == {"layout.nodes"}
    assert _fields(await create(client, prod, title="")) == {"title"}
    assert _fields(await create(client, prod, title="t" * 201)) == {"title"}
    assert _fields(await create(client, prod, visibility="secret")) == {"visibility"}
    nan = await client.post(
        "/api/dashboards",
        content=b'{"title": "x", "layout": {"viewport": {"x": NaN, "y": 0, "zoom": 1}}}',
        headers={**prod.headers, "Content-Type": "application/json"},
    )
    assert _fields(nan) == {"layout.viewport.x"}


async def test_visibility_for_each_role_other_org_and_anonymous(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    users = {
        "creator": creator,
        "producer": await signed_in(app, client, "prod2@acme.test", role="producer"),
        "viewer": await signed_in(app, client, "viewer@acme.test", role="viewer"),
        "steward": await signed_in(app, client, "steward@acme.test", role="steward"),
        "admin": await signed_in(app, client, "admin@acme.test", role="admin"),
        "outsider": await signed_in(app, client, "admin@initech.test", org="Initech", role="admin"),
    }
    boards = {
        v: await created(client, creator, v, visibility=v)
        for v in ("public", "internal", "private")
    }
    sees = {
        "creator": {"public", "internal", "private"},
        "producer": {"public", "internal"},
        "viewer": {"public", "internal"},
        "steward": {"public", "internal", "private"},
        "admin": {"public", "internal", "private"},
        "outsider": {"public"},
    }
    edits = {"creator", "steward", "admin"}
    for role, who in users.items():
        listed = await client.get("/api/dashboards", headers=who.headers)
        assert listed.status_code == 200
        assert {i["title"] for i in listed.json()["items"]} == sees[role], role
        for vis, board in boards.items():
            got = await client.get(f"/api/dashboards/{board['id']}", headers=who.headers)
            if vis in sees[role]:
                assert got.status_code == 200, (role, vis)
                assert got.json()["can_edit"] is (role in edits), (role, vis)
            else:
                assert got.status_code == 404, (role, vis)
                assert vis not in got.text and board["id"] not in got.text
    assert (await client.get("/api/dashboards")).status_code == 401
    assert (await client.get(f"/api/dashboards/{boards['public']['id']}")).status_code == 401
    missing = await client.get(f"/api/dashboards/{uuid.uuid4()}", headers=creator.headers)
    assert missing.status_code == 404


async def test_api_key_reads_like_its_role_not_as_the_creator(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    private = await created(client, creator, "Mine", visibility="private")
    internal = await created(client, creator, "Ours")
    key = await client.post(
        "/api/auth/api-keys", json={"name": "ci", "role": "producer"}, headers=creator.headers
    )
    assert key.status_code == 201, key.text
    bot = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get(f"/api/dashboards/{private['id']}", headers=bot)).status_code == 404
    got = await client.get(f"/api/dashboards/{internal['id']}", headers=bot)
    assert got.status_code == 200
    assert got.json()["can_edit"] is False


async def test_entities_are_redacted_for_what_the_reader_may_not_see(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    outsider = await signed_in(app, client, "ann@initech.test", org="Initech", role="producer")
    public = await dataset(client, prod, "shop.public_prices", visibility="public")
    internal = await dataset(client, prod, "shop.orders")
    secret = await dataset(client, prod, "hr.salaries", visibility="private")
    job = await process(client, prod, "load_orders")
    gone = str(uuid.uuid4())
    board = await created(
        client,
        prod,
        "Everything",
        visibility="public",
        layout=layout([public["id"], internal["id"], secret["id"], gone], [job["id"]]),
    )

    async def entities(who: object) -> dict:
        resp = await client.get(f"/api/dashboards/{board['id']}", headers=who.headers)  # type: ignore[attr-defined]
        assert resp.status_code == 200
        return resp.json()["entities"]

    def named(ents: dict) -> set[str]:
        return {k for k, v in ents.items() if not v["restricted"]}

    everything = {public["id"], internal["id"], secret["id"], job["id"]}
    assert named(await entities(prod)) == everything, "the owner of the private dataset sees it"
    assert named(await entities(steward)) == everything
    assert named(await entities(viewer)) == everything - {secret["id"]}
    outside = await entities(outsider)
    assert named(outside) == {public["id"]}
    assert outside[secret["id"]] == {"id": secret["id"], "kind": "dataset", "restricted": True}
    assert outside[job["id"]] == {"id": job["id"], "kind": "process", "restricted": True}
    assert outside[gone] == {"id": gone, "kind": "dataset", "restricted": True}, (
        "a ref to nothing looks like a hidden one"
    )
    text = (await client.get(f"/api/dashboards/{board['id']}", headers=outsider.headers)).text
    for hidden in ("shop.orders", "hr.salaries", "load_orders"):
        assert hidden not in text


async def test_if_match_is_required_and_stale_saves_fail(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    board = await created(client, prod, "Flow")
    url = f"/api/dashboards/{board['id']}"

    missing = await client.patch(url, json={"title": "New"}, headers=prod.headers)
    assert missing.status_code == 428
    assert missing.headers["content-type"].startswith("application/problem+json")

    note = layout(note="first")
    saved = await client.patch(
        url, json={"title": "Flow v2", "layout": note}, headers={**prod.headers, "If-Match": '"1"'}
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"2"'
    assert saved.json()["version"] == 2
    assert saved.json()["title"] == "Flow v2"
    assert saved.json()["layout"] == note
    assert saved.json()["description"] == "", "fields not sent keep their value"

    stale = await client.patch(
        url, json={"description": "lost?"}, headers={**prod.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    assert stale.json()["current_version"] == 2
    again = await client.get(url, headers=prod.headers)
    assert again.json()["description"] == "" and again.json()["version"] == 2

    # Two editors holding version 2 save at once: exactly one wins.
    first, second = await asyncio.gather(
        client.patch(url, json={"description": "a"}, headers={**prod.headers, "If-Match": '"2"'}),
        client.patch(url, json={"description": "b"}, headers={**prod.headers, "If-Match": '"2"'}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412]
    final = (await client.get(url, headers=prod.headers)).json()
    assert final["version"] == 3
    winner = first if first.status_code == 200 else second
    assert final["description"] == winner.json()["description"]

    nulls = await client.patch(
        url, json={"title": None}, headers={**prod.headers, "If-Match": '"3"'}
    )
    assert nulls.status_code == 422
    assert {e["field"] for e in nulls.json()["errors"]} == {"title"}
    bad_layout = layout(note="x")
    bad_layout["edges"] = [{"id": "e", "source": "note", "target": "nope"}]
    invalid = await client.patch(
        url, json={"layout": bad_layout}, headers={**prod.headers, "If-Match": '"3"'}
    )
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"layout.edges.0.target"}

    updates = await raw_conn.fetch(
        "SELECT changes FROM audit_log WHERE action = 'dashboard.update' ORDER BY seq"
    )
    assert len(updates) == 2, "one audit entry per successful save, none for refused ones"
    events = await raw_conn.fetch(
        "SELECT payload FROM events WHERE type = 'dashboard.updated' ORDER BY seq"
    )
    assert len(events) == 2
    assert '"layout"' in events[0]["payload"] and '"title"' in events[0]["payload"]


async def test_who_may_edit_and_delete(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    other = await signed_in(app, client, "prod2@acme.test", role="producer")
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    outsider = await signed_in(app, client, "admin@initech.test", org="Initech", role="admin")
    board = await created(client, creator, "Flow", visibility="public")
    url = f"/api/dashboards/{board['id']}"
    version = 1
    for who, expected in (
        (other, 403),
        (viewer, 403),
        (outsider, 403),  # it is public: they see it, but it is not theirs
        (steward, 200),
        (admin, 200),
        (creator, 200),
    ):
        resp = await client.patch(
            url,
            json={"description": who.email},
            headers={**who.headers, "If-Match": f'"{version}"'},
        )
        assert resp.status_code == expected, (who.email, resp.text)
        version += resp.status_code == 200
    hidden = await created(client, creator, "Private", visibility="private")
    resp = await client.delete(f"/api/dashboards/{hidden['id']}", headers=outsider.headers)
    assert resp.status_code == 404
    for who in (other, viewer, outsider):
        assert (await client.delete(url, headers=who.headers)).status_code == 403
    deleted = await client.delete(url, headers=creator.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url, headers=creator.headers)).status_code == 404
    assert (await client.delete(url, headers=creator.headers)).status_code == 404
    row = await raw_conn.fetchrow(
        "SELECT actor_id, target_id FROM audit_log WHERE action = 'dashboard.delete'"
    )
    assert (str(row["actor_id"]), row["target_id"]) == (creator.id, board["id"])
    assert (
        await raw_conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'dashboard.deleted' AND subject_id = $1",
            board["id"],
        )
        == 1
    )


async def test_duplicate_into_the_callers_org(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    outsider = await signed_in(app, client, "ann@initech.test", org="Initech", role="producer")
    outside_viewer = await signed_in(app, client, "vic@initech.test", org="Initech", role="viewer")
    internal = await dataset(client, creator, "shop.orders")
    sent = layout([internal["id"]], note="Ask #data-eng")
    board = await created(client, creator, "Orders flow", visibility="public", layout=sent)

    resp = await client.post(
        f"/api/dashboards/{board['id']}/duplicate", json={}, headers=outsider.headers
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["etag"] == '"1"'
    copy_ = resp.json()
    assert copy_["id"] != board["id"]
    assert copy_["org_id"] == outsider.org_id
    assert copy_["created_by"]["id"] == outsider.id
    assert copy_["title"] == "Copy of Orders flow"
    assert copy_["visibility"] == "internal", "a copy from another org starts internal"
    assert copy_["layout"] == sent
    assert copy_["can_edit"] is True
    assert copy_["entities"][internal["id"]]["restricted"] is True

    private = await created(client, creator, "Secret", visibility="private")
    named = await client.post(
        f"/api/dashboards/{private['id']}/duplicate",
        json={"title": "Mine"},
        headers=steward.headers,
    )
    assert named.status_code == 201
    assert (named.json()["title"], named.json()["visibility"]) == ("Mine", "private")
    no_body = await client.post(f"/api/dashboards/{board['id']}/duplicate", headers=steward.headers)
    assert no_body.status_code == 201
    hidden = await client.post(
        f"/api/dashboards/{private['id']}/duplicate", json={}, headers=outsider.headers
    )
    assert hidden.status_code == 404
    viewer = await client.post(
        f"/api/dashboards/{board['id']}/duplicate", json={}, headers=outside_viewer.headers
    )
    assert viewer.status_code == 403

    rows = await raw_conn.fetch(
        "SELECT actor_id, target_id, details FROM audit_log WHERE action = 'dashboard.duplicate' "
        "ORDER BY seq"
    )
    assert (str(rows[0]["actor_id"]), rows[0]["target_id"]) == (outsider.id, copy_["id"])
    assert board["id"] in rows[0]["details"]
    assert (
        await raw_conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'dashboard.created' AND subject_id = $1",
            copy_["id"],
        )
        == 1
    )


async def test_list_pages_search_and_counts(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    titles = [f"Flow {i}" for i in range(5)]
    for i, title in enumerate(titles):
        notes = [
            {"id": f"n{j}", "kind": "note", "text": "t", "position": {"x": 0, "y": 0}}
            for j in range(i)
        ]
        body = {"nodes": notes}
        await created(client, prod, title, description="revenue" if i == 3 else "", layout=body)
    seen: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/dashboards", params=params, headers=prod.headers)).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["title"] for i in seen] == titles[::-1], "newest change first, no repeats"
    assert {i["title"]: i["node_count"] for i in seen} == {t: n for n, t in enumerate(titles)}
    item = seen[0]
    assert set(item) == {
        "id",
        "title",
        "description",
        "visibility",
        "version",
        "node_count",
        "created_by",
        "updated_at",
    }
    assert item["created_by"] == {"id": prod.id, "name": item["created_by"]["name"]}
    assert item["created_by"]["name"]

    found = await client.get("/api/dashboards", params={"q": "REVENUE"}, headers=prod.headers)
    assert [i["title"] for i in found.json()["items"]] == ["Flow 3"]
    found = await client.get("/api/dashboards", params={"q": "flow 1"}, headers=prod.headers)
    assert [i["title"] for i in found.json()["items"]] == ["Flow 1"]
    literal = await client.get("/api/dashboards", params={"q": "%"}, headers=prod.headers)
    assert literal.json()["items"] == [], "wildcards match literally"
    bad = await client.get("/api/dashboards", params={"cursor": "nope"}, headers=prod.headers)
    assert bad.status_code == 400
    too_big = await client.get("/api/dashboards", params={"limit": 1000}, headers=prod.headers)
    assert too_big.status_code == 422


async def test_a_deleted_creator_leaves_the_dashboard_without_one(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    board = await created(client, creator, "Flow")
    # No API deletes users (they are disabled); an operator removing the row in SQL must not
    # take the team's dashboards with it.
    await raw_conn.execute("DELETE FROM users WHERE id = $1", uuid.UUID(creator.id))
    got = await client.get(f"/api/dashboards/{board['id']}", headers=admin.headers)
    assert got.status_code == 200
    assert got.json()["created_by"] is None
    assert got.json()["can_edit"] is True
    listed = (await client.get("/api/dashboards", headers=admin.headers)).json()
    assert listed["items"][0]["created_by"] is None
