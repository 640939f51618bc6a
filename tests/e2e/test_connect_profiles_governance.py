"""Connect, platform profiles, governance (audit search and export) and single sign-on, in a
real browser against a real server."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .catalog_data import admin_api_key, publish
from .conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    OIDC_PROVIDER_TITLE,
    OIDCServer,
    Server,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.browser

RAW_SECRET = "hunter2-Sn0wflake!"
VIEWER_PASSWORD = "viewer-pass-123"


@dataclass(frozen=True)
class World:
    """Datasets of this module (unique names: the server is shared with other modules)."""

    tag: str
    snowflake: dict[str, Any]
    bigquery: dict[str, Any]
    viewer_email: str


@pytest.fixture(scope="module")
def world(e2e_server: Server) -> World:
    key = admin_api_key(e2e_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, name="connect-e2e")
    tag = uuid.uuid4().hex[:6].upper()
    snowflake, bigquery = publish(
        e2e_server.url,
        key,
        [
            {
                "namespace": "snowflake://acme.eu-west-1",
                "name": f"ANALYTICS.SALES_{tag}.ORDERS",
                "display_name": f"Connect orders {tag}",
                "platform": "snowflake",
                "domain": "sales",
                "visibility": "public",
                "description": "Orders, for the Connect browser tests.",
                "source": {"database": "ANALYTICS", "schema": f"SALES_{tag}", "table": "ORDERS"},
                "fields": [
                    {"name": "order_id", "type": "NUMBER"},
                    {"name": "amount_eur", "type": "NUMBER(12,2)"},
                ],
            },
            {
                "namespace": "bigquery://acme-marketing",
                "name": f"marketing_{tag.lower()}.sessions",
                "display_name": f"Connect sessions {tag}",
                "platform": "bigquery",
                "visibility": "public",
                "description": "Web sessions, for the Connect browser tests.",
                "source": {
                    "database": "acme-marketing",
                    "schema": f"marketing_{tag.lower()}",
                    "table": "sessions",
                },
            },
        ],
    )
    viewer = f"viewer-{tag.lower()}@acme.test"
    with httpx.Client(base_url=e2e_server.url, headers={"Authorization": f"Bearer {key}"}) as c:
        c.post(
            "/api/auth/users",
            json={
                "email": viewer,
                "name": "Vic Viewer",
                "password": VIEWER_PASSWORD,
                "role": "viewer",
            },
        ).raise_for_status()
    return World(tag=tag, snowflake=snowflake, bigquery=bigquery, viewer_email=viewer)


@pytest.fixture
def clip_page(context: BrowserContext, page: Page, e2e_server: Server) -> Page:
    """The page, allowed to write and read the clipboard (to check what Copy put there)."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=e2e_server.url)
    return page


def _no_raw_secret(text: str) -> None:
    assert RAW_SECRET not in text


def test_create_a_profile_then_connect_and_copy(clip_page: Page, world: World) -> None:
    page = clip_page
    profile_name = f"Warehouse {uuid.uuid4().hex[:4]}"
    sign_in(page, path="/profiles")
    expect(page.get_by_role("heading", name="Platform profiles")).to_be_visible()
    page.get_by_role("button", name="New profile").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="New platform profile")).to_be_visible()

    dialog.get_by_label("Name", exact=True).fill(profile_name)
    dialog.get_by_label("Platform", exact=True).select_option("snowflake")
    expect(dialog.get_by_label("Account identifier", exact=True)).to_be_visible()
    # A hostname instead of the account identifier: the server's message lands on the field.
    dialog.get_by_label("Account identifier", exact=True).fill("acme.snowflakecomputing.com")
    dialog.get_by_label(re.compile(r"^User\b")).fill("ANALYST")
    dialog.get_by_label(re.compile(r"^Warehouse\b")).fill("REPORTING_WH")
    # A raw secret is refused before it leaves the browser.
    dialog.get_by_label(re.compile(r"^Password\b")).fill(RAW_SECRET)
    dialog.get_by_role("button", name="Create profile").click()
    expect(
        dialog.get_by_text("Enter a reference such as env:PG_PASSWORD, not the secret itself.")
    ).to_be_visible()
    dialog.get_by_label(re.compile(r"^Password\b")).fill("env:SNOWFLAKE_PASSWORD")
    with page.expect_response(
        lambda r: r.url.endswith("/api/platform-profiles") and r.request.method == "POST"
    ) as bad:
        dialog.get_by_role("button", name="Create profile").click()
    assert bad.value.status == 422
    account_field = dialog.locator(
        ".field", has=page.get_by_label("Account identifier", exact=True)
    )
    expect(account_field.locator(".field__error")).to_contain_text(
        "without .snowflakecomputing.com"
    )
    screenshot(page, "30-profile-form-field-error")

    dialog.get_by_label("Account identifier", exact=True).fill("acme-eu1")
    dialog.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("status").filter(has_text="Profile created")).to_be_visible()
    row = page.get_by_test_id("profile-row").filter(has_text=profile_name)
    expect(row).to_contain_text("env:SNOWFLAKE_PASSWORD")
    expect(row).to_contain_text("Snowflake")
    _no_raw_secret(page.content())
    screenshot(page, "31-profiles")

    # The dataset's Connect tab: the code uses the profile, secrets stay references.
    page.goto(f"/datasets/{world.snowflake['id']}")
    page.get_by_role("tab", name="Connect").click()
    choose = page.get_by_label("Profile", exact=True)
    option = choose.locator("option", has_text=profile_name)
    expect(option).to_have_count(1)
    choose.select_option(value=option.get_attribute("value"))
    artifact = page.get_by_test_id("connect-artifact")
    expect(artifact).to_have_attribute("data-kind", "python")
    code = artifact.locator("pre")
    expect(code).to_contain_text("acme-eu1")
    expect(code).to_contain_text("SNOWFLAKE_PASSWORD")
    expect(code).to_contain_text(f"SALES_{world.tag}")
    expect(code.locator(".hljs-keyword").first).to_be_visible()
    expect(page.get_by_text(f"Using {profile_name}")).to_be_visible()
    shown = code.inner_text()
    _no_raw_secret(shown)

    artifact.get_by_role("button", name=re.compile(r"^Copy ")).click()
    expect(page.get_by_role("status").filter(has_text="Copied to clipboard")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == shown.strip()
    assert "acme-eu1" in copied
    _no_raw_secret(copied)
    artifact.evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "32-connect")

    # Other artifacts, each highlighted for its language.
    page.get_by_role("tab", name="SQL").click()
    expect(page.get_by_test_id("connect-artifact")).to_have_attribute("data-kind", "sql")
    expect(page.get_by_test_id("connect-artifact").locator("pre")).to_contain_text("ORDERS")
    expect(page.get_by_test_id("connect-artifact").locator(".hljs-keyword").first).to_be_visible()

    # Snowflake has no live test: the panel says why instead of pretending.
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text(re.compile(r"Snowflake has no live connection test"))).to_be_visible()


def test_connect_without_a_profile_links_to_profiles(page: Page, world: World) -> None:
    sign_in(page, path=f"/datasets/{world.bigquery['id']}?tab=connect")
    expect(page.get_by_text("You have no BigQuery profile yet")).to_be_visible()
    # The code still comes, with the defaults a profile would replace.
    code = page.get_by_test_id("connect-artifact").locator("pre")
    expect(code).to_contain_text("bigquery.Client()")
    expect(code).to_contain_text(f"`marketing_{world.tag.lower()}`.`sessions`")
    screenshot(page, "33-connect-no-profile")
    page.get_by_role("link", name="Create a BigQuery profile").click()
    expect(page).to_have_url(re.compile(r"/profiles"))
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Platform", exact=True)).to_have_value("bigquery")


def test_make_default_edit_and_delete_profiles(page: Page, e2e_server: Server) -> None:
    tag = uuid.uuid4().hex[:4]
    first, second = f"CRM primary {tag}", f"CRM replica {tag}"
    auth = {"Authorization": f"Bearer {_token(e2e_server.url)}"}
    with httpx.Client(base_url=e2e_server.url, headers=auth) as c:
        for name, host in ((first, "crm-db.internal"), (second, "crm-replica.internal")):
            c.post(
                "/api/platform-profiles",
                json={
                    "name": name,
                    "platform": "postgresql",
                    "settings": {"host": host, "database": "crm", "user": "reporting"},
                    "secrets": {"password": "env:CRM_PASSWORD"},
                    "is_default": name == first,
                },
            ).raise_for_status()

    sign_in(page, path="/profiles")
    page.get_by_label("Platform", exact=True).select_option("postgresql")
    row_a = page.get_by_test_id("profile-row").filter(has_text=first)
    row_b = page.get_by_test_id("profile-row").filter(has_text=second)
    expect(row_a).to_contain_text("Default")
    expect(row_b).not_to_contain_text("Default")

    row_b.get_by_role("button", name="Make default").click()
    expect(page.get_by_role("status").filter(has_text="Default changed")).to_be_visible()
    expect(row_b).to_contain_text("Default")
    expect(row_a).not_to_contain_text("Default")

    # Edit: the form comes back with the saved settings and references (never a secret).
    page.get_by_role("button", name=f"Edit {first}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Host", exact=True)).to_have_value("crm-db.internal")
    password = dialog.get_by_label(re.compile(r"^Password\b"))
    expect(password).to_have_value("env:CRM_PASSWORD")
    dialog.get_by_label("Host", exact=True).fill("crm-db-2.internal")
    password.fill("vault:secret/crm#password")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Profile saved")).to_be_visible()
    expect(row_a).to_contain_text("crm-db-2.internal")
    expect(row_a).to_contain_text("vault:secret/crm#password")

    page.get_by_role("button", name=f"Delete {second}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Profile deleted")).to_be_visible()
    expect(row_b).to_have_count(0)
    expect(row_a).to_be_visible()


def _token(base_url: str) -> str:
    r = httpx.post(
        f"{base_url}/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def test_audit_search_finds_what_was_just_done_and_exports_it(
    page: Page, world: World, e2e_server: Server
) -> None:
    # Something to find: an org-wide profile and a Connect of the BigQuery dataset, just now
    # (a PostgreSQL profile: the no-profile test above needs the org to have no BigQuery one).
    auth = {"Authorization": f"Bearer {_token(e2e_server.url)}"}
    name = f"Org CRM {uuid.uuid4().hex[:4]}"
    with httpx.Client(base_url=e2e_server.url, headers=auth) as c:
        c.post(
            "/api/platform-profiles",
            json={
                "name": name,
                "platform": "postgresql",
                "scope": "org",
                "settings": {"host": "crm-db.internal", "database": "crm", "user": "reporting"},
                "secrets": {"password": "file:/etc/datamesh/crm-password"},
            },
        ).raise_for_status()
        c.post(f"/api/datasets/{world.bigquery['id']}/connect", json={}).raise_for_status()

    sign_in(page, path="/governance")
    expect(page.get_by_role("heading", name="Governance")).to_be_visible()
    expect(page.get_by_test_id("audit-row").first).to_be_visible()

    filters = page.get_by_role("form", name="Audit filters")
    filters.get_by_label("Action").fill("dataset.connect")
    filters.get_by_label("Target").fill(f"dataset:{world.bigquery['id']}")
    filters.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"action=dataset\.connect"))
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text(world.bigquery["display_name"])
    for action in rows.evaluate_all("rows => rows.map(r => r.dataset.action)"):
        assert action == "dataset.connect"
    rows.first.get_by_role("button", name=re.compile(r"Show details")).click()
    expect(page.get_by_text("platform: bigquery")).to_be_visible()
    screenshot(page, "34-governance-filtered")

    # The export streams every matching entry as CSV.
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export CSV").click()
    download = dl.value
    assert download.suggested_filename == "datamesh-audit.csv"
    body = download.path().read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(body)))
    assert table and all(r["action"] == "dataset.connect" for r in table)
    assert all(r["target_id"] == world.bigquery["id"] for r in table)
    assert len(table) == rows.count()

    # The profile's creation: found by action family; its secret reference is not in the log.
    filters.get_by_label("Action").fill("platform_profile.")
    filters.get_by_label("Target").fill("")
    filters.get_by_label("Text").fill(name)
    filters.get_by_role("button", name="Search").click()
    created = page.get_by_test_id("audit-row").filter(has_text=name)
    expect(created.first).to_have_attribute("data-action", "platform_profile.create")
    created.first.get_by_role("button", name=re.compile(r"Show details")).click()
    expect(page.get_by_text("secrets.password: — → [changed]")).to_be_visible()
    assert "/etc/datamesh/crm-password" not in page.content()

    # Platform admins narrow the log to one organization.
    filters.get_by_label("Organization").select_option(label="Acme")
    filters.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"org=[0-9a-f-]{36}"))
    expect(page.get_by_test_id("audit-row").filter(has_text=name).first).to_be_visible()
    orgs = page.get_by_test_id("audit-row").locator("td:last-child").all_inner_texts()
    assert orgs and set(orgs) == {"Acme"}

    # Platform admins can prove the log is intact.
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("The chain is intact")
    screenshot(page, "35-governance-verified")


def test_viewers_have_no_governance(page: Page, world: World) -> None:
    sign_in(page, email=world.viewer_email, password=VIEWER_PASSWORD, path="/governance")
    expect(page.get_by_text("The audit log is for stewards and admins")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Profiles", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Governance", exact=True)).to_have_count(0)


def test_dark_theme_connect_profiles_governance(
    browser: Browser, e2e_server: Server, world: World
) -> None:
    # A profile of its own, so the screen has one to show however the tests are picked.
    with httpx.Client(
        base_url=e2e_server.url, headers={"Authorization": f"Bearer {_token(e2e_server.url)}"}
    ) as c:
        c.post(
            "/api/platform-profiles",
            json={
                "name": f"Lakehouse {uuid.uuid4().hex[:4]}",
                "platform": "databricks",
                "settings": {"workspace_host": "acme.cloud.databricks.com", "catalog": "main"},
                "secrets": {"token": "vault:secret/databricks#token"},
            },
        ).raise_for_status()
    ctx = browser.new_context(
        base_url=e2e_server.url,
        viewport={"width": 1280, "height": 720},
        color_scheme="dark",
        locale="en-US",
        timezone_id="UTC",
    )
    ctx.set_default_timeout(15_000)
    try:
        pg = ctx.new_page()
        sign_in(pg, path=f"/datasets/{world.snowflake['id']}?tab=connect")
        expect(pg.get_by_test_id("connect-artifact").locator(".hljs-keyword").first).to_be_visible()
        pg.get_by_test_id("connect-artifact").evaluate("el => el.scrollIntoView({block: 'center'})")
        screenshot(pg, "36-connect-dark")
        pg.goto("/profiles")
        expect(pg.get_by_test_id("profile-row").first).to_be_visible()
        screenshot(pg, "37-profiles-dark")
        pg.goto("/governance")
        expect(pg.get_by_test_id("audit-row").first).to_be_visible()
        screenshot(pg, "38-governance-dark")
    finally:
        ctx.close()


def test_sign_in_through_the_oidc_provider(browser: Browser, oidc_e2e_server: OIDCServer) -> None:
    ctx = browser.new_context(
        base_url=oidc_e2e_server.server.url,
        viewport={"width": 1280, "height": 720},
        color_scheme="light",
        locale="en-US",
        timezone_id="UTC",
    )
    ctx.set_default_timeout(15_000)
    try:
        pg = ctx.new_page()
        pg.goto("/feed")
        expect(pg).to_have_url(re.compile(r"/login\?next=%2Ffeed$"))
        button = pg.get_by_role("link", name=f"Sign in with {OIDC_PROVIDER_TITLE}")
        expect(button).to_be_visible()
        screenshot(pg, "39-sign-in-sso")
        button.click()

        # The provider's own pages (oidc-provider's login and consent interactions).
        expect(pg).to_have_url(re.compile(re.escape(oidc_e2e_server.issuer)))
        pg.locator("input[name=login]").fill("olivia@acme.test")
        pg.locator("input[name=password]").fill("any-password")
        pg.locator("button[type=submit]").click()
        # First sign-in: the provider asks to share the profile with DataMesh.
        expect(pg.get_by_role("button", name=re.compile(r"continue", re.I))).to_be_visible()
        pg.get_by_role("button", name=re.compile(r"continue", re.I)).click()

        # Back in DataMesh, signed in as the provider's user, where she was going.
        expect(pg).to_have_url(re.compile(r"/feed$"))
        expect(pg.get_by_test_id("user-name")).to_have_text("Olivia Oidc")
        pg.get_by_role("button", name="Account menu").click()
        expect(pg.get_by_role("menu")).to_contain_text("Producer")
        screenshot(pg, "40-signed-in-with-sso")
    finally:
        ctx.close()
