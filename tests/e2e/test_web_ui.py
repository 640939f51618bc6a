"""The web UI in a real browser against a real server: sign-in, admin, keys, catalog."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .catalog_data import DATASETS, admin_api_key, publish
from .conftest import ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, Server, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_with_password(page: Page) -> None:
    page.goto("/admin/users")
    # Not signed in: the app sends us to the sign-in page and remembers where we were going.
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin%2Fusers$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("The email or password is wrong.")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "01-sign-in-error")

    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_test_id("user-name")).to_have_text(ADMIN_NAME)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    for item in ("Catalog", "Feed", "Lineage", "Nodes", "Profiles", "Governance", "Admin"):
        expect(page.get_by_role("link", name=item, exact=True)).to_be_visible()
    screenshot(page, "03-admin-users")


def test_expired_access_token_is_refreshed(page: Page, context: BrowserContext) -> None:
    sign_in(page, path="/admin/users")
    expect(page.get_by_test_id("user-row").first).to_be_visible()
    # The short-lived access cookie expires; the refresh cookie is still valid.
    old_csrf = next(c["value"] for c in context.cookies() if c["name"] == "dm_csrf")
    context.clear_cookies(name="dm_access")
    refreshes: list[str] = []
    page.on(
        "request",
        lambda r: refreshes.append(r.method) if r.url.endswith("/api/auth/refresh") else None,
    )

    page.get_by_role("link", name="Organizations").click()
    expect(page.get_by_test_id("org-row").first).to_be_visible()
    assert refreshes == ["POST"]
    names = {c["name"]: c for c in context.cookies()}
    assert "dm_access" in names and names["dm_access"]["httpOnly"]
    assert names["dm_refresh"]["httpOnly"]
    assert names["dm_csrf"]["value"] != old_csrf  # rotated with the tokens

    # A write after the refresh carries the new CSRF token and succeeds.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill(f"after-refresh-{uuid.uuid4().hex[:4]}")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-api-key")).to_be_visible()


def test_keyboard_sign_in_and_user_menu(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").focus()
    page.keyboard.type(ADMIN_EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/catalog$"))

    # On a fresh page load the first Tab reaches the skip link.
    page.reload()
    expect(page.get_by_role("button", name="Account menu")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()

    menu_button = page.get_by_role("button", name="Account menu")
    menu_button.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Account")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    expect(menu).to_contain_text(ADMIN_EMAIL)
    screenshot(page, "07-user-menu")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(menu_button).to_be_focused()

    # Theme: dark from the header toggle, and it survives a reload.
    page.get_by_role("button", name="Switch to dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Switch to light theme")).to_be_visible()
    screenshot(page, "08-catalog-dark")


def test_admin_creates_an_organization_and_a_user(
    page: Page, browser: Browser, e2e_server: Server
) -> None:
    suffix = uuid.uuid4().hex[:6]
    org_name = f"Globex {suffix}"
    email = f"grace.{suffix}@globex.test"
    sign_in(page, path="/admin/organizations")

    expect(page.get_by_test_id("org-row").filter(has_text="Acme")).to_be_visible()
    page.get_by_role("button", name="New organization").click()
    dialog = page.get_by_role("dialog", name="New organization")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill(org_name)
    dialog.get_by_label("Description").fill("Acquired in 2026; its data team joins the catalog.")
    dialog.get_by_label("Default visibility").select_option("private")
    screenshot(page, "04-admin-new-organization")
    dialog.get_by_role("button", name="Create organization").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Organization created")).to_be_visible()
    row = page.get_by_test_id("org-row").filter(has_text=org_name)
    expect(row).to_contain_text(f"globex-{suffix}")
    expect(row).to_contain_text("Private")
    screenshot(page, "04-admin-organizations")

    # A second organization with the same name is refused with the server's message.
    page.get_by_role("button", name="New organization").click()
    dialog.get_by_label("Name").fill(org_name)
    dialog.get_by_role("button", name="Create organization").click()
    expect(dialog.get_by_role("alert")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="Users", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    page.get_by_role("button", name="New user").first.click()
    dialog = page.get_by_role("dialog", name="New user")
    # Problem+json field errors appear next to their fields.
    dialog.get_by_label("Email").fill("not-an-email")
    dialog.get_by_label("Password", exact=False).fill("short")
    dialog.get_by_role("button", name="Create user").click()
    email_field = dialog.get_by_label("Email")
    expect(email_field).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("Password", exact=False)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "05-admin-new-user-errors")

    email_field.fill(email)
    dialog.get_by_label("Full name").fill("Grace Hopper")
    dialog.get_by_label("Password", exact=False).fill("grace-pass-123")
    dialog.get_by_label("Role").select_option("producer")
    dialog.get_by_label("Organization", exact=True).select_option(label=org_name)
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog).to_be_hidden()
    user_row = page.get_by_test_id("user-row").filter(has_text=email)
    expect(user_row).to_contain_text("Grace Hopper")
    expect(user_row).to_contain_text("Producer")
    expect(user_row).to_contain_text(org_name)
    expect(user_row).to_contain_text("Never")
    screenshot(page, "05-admin-users")

    # The new user can sign in and sees their own name and organization.
    other = browser.new_context(base_url=e2e_server.url, viewport={"width": 1280, "height": 720})
    try:
        p2 = other.new_page()
        sign_in(p2, email=email, password="grace-pass-123")
        expect(p2.get_by_test_id("user-name")).to_have_text("Grace Hopper")
        expect(p2.get_by_role("button", name="Account menu")).to_contain_text(org_name)
        # Producers do not administer: no Admin entry in the navigation.
        expect(p2.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    finally:
        other.close()


def test_api_key_is_shown_once(page: Page, context: BrowserContext, e2e_server: Server) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    name = f"airflow-{uuid.uuid4().hex[:6]}"
    sign_in(page, path="/admin/api-keys")

    page.get_by_label("Key name").fill(name)
    page.get_by_label("Role").select_option("producer")
    page.get_by_role("button", name="Create key").click()
    reveal = page.get_by_test_id("new-api-key")
    expect(reveal).to_be_visible()
    key = page.get_by_label("New API key").input_value()
    assert key.startswith("dm_") and len(key) > 20
    page.get_by_role("button", name="Copy key").click()
    expect(reveal.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    row = page.get_by_test_id("api-key-row").filter(has_text=name)
    expect(row).to_contain_text("Producer")
    screenshot(page, "06-api-key-created")

    # The key works for machines...
    me = httpx.get(f"{e2e_server.url}/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["kind"] == "api_key"

    # ...and is never shown again.
    page.reload()
    expect(page.get_by_test_id("api-key-row").filter(has_text=name)).to_be_visible()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert key not in page.content()
    screenshot(page, "06-api-keys")

    # Revoking it stops it at once.
    page.get_by_test_id("api-key-row").filter(has_text=name).get_by_role(
        "button", name="Revoke"
    ).click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()
    expect(page.get_by_test_id("api-key-row").filter(has_text=name)).to_have_count(0)
    revoked = httpx.get(f"{e2e_server.url}/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401


def test_sign_out(page: Page) -> None:
    sign_in(page)
    # The session is in HttpOnly cookies only: nothing token-like in web storage.
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert "eyJ" not in stored and "access" not in stored and "refresh" not in stored

    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    screenshot(page, "02-signed-out")

    status = page.evaluate("fetch('/api/auth/me').then(r => r.status)")
    assert status == 401
    page.goto("/admin/organizations")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin%2Forganizations$"))


@pytest.fixture(scope="module")
def catalog(e2e_server: Server) -> list[dict[str, Any]]:
    key = admin_api_key(e2e_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, name="e2e-catalog-seed")
    return publish(e2e_server.url, key, DATASETS)


def _snowflake_by_name(server: Server) -> list[str]:
    """The Snowflake datasets the admin sees, in name order, as the catalog shows them (other
    browser tests publish some too)."""
    with httpx.Client(base_url=server.url) as api:
        r = api.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        params = {"platform": "snowflake", "sort": "name", "limit": 100}
        found = api.get("/api/datasets", params=params, headers=headers).json()["items"]
        return [d.get("display_name") or d["name"] for d in found]


def test_catalog_search_filter_and_dataset_page(
    page: Page, catalog: list[dict[str, Any]], e2e_server: Server
) -> None:
    sign_in(page, path="/catalog")
    results = page.get_by_test_id("dataset-result")
    expect(results.first).to_be_visible()
    expect(page.get_by_test_id("result-count")).to_contain_text(re.compile(r"\d+ datasets"))
    screenshot(page, "09-catalog")

    # As-you-type search with a typo still finds Orders, first.
    page.get_by_label("Search the catalog").press_sequentially("ordres", delay=40)
    expect(page).to_have_url(re.compile(r"q=ordres"))
    expect(results.first).to_contain_text("Orders")
    expect(results.first).to_contain_text("Snowflake")
    expect(results.first).to_contain_text("Public")

    # Facet filter with counts; the filter shows as a removable chip.
    page.get_by_label("Search the catalog").fill("")
    expect(page).not_to_have_url(re.compile(r"q=ordres"))
    facet = page.get_by_role("group", name="Platform").get_by_role(
        "checkbox", name=re.compile("Snowflake")
    )
    # The box follows the URL, which React Router updates in a transition: click, then wait
    # for it to show checked (Playwright's check() wants the state at once).
    facet.click()
    expect(facet).to_be_checked()
    expect(page).to_have_url(re.compile(r"platform=snowflake"))
    by_name = _snowflake_by_name(e2e_server)
    assert by_name.index("Orders") + 1 == by_name.index("Orders archive"), by_name
    expect(results).to_have_count(len(by_name))
    expect(page.get_by_role("button", name="Remove filter platform: Snowflake")).to_be_visible()
    screenshot(page, "09-catalog-filtered")

    # Sort by name.
    page.get_by_label("Sort by").select_option("name")
    expect(page).to_have_url(re.compile(r"sort=name"))
    for i, name in enumerate(by_name):  # waits for the sorted page (the old one shows meanwhile)
        expect(results.nth(i)).to_contain_text(name)

    # Nothing found: a helpful empty state that clears everything.
    page.get_by_label("Search the catalog").fill("zzzz-nothing-like-this")
    expect(page.get_by_text("No datasets match")).to_be_visible()
    page.get_by_role("button", name="Clear search and filters").click()
    expect(results.first).to_be_visible()

    # The dataset page: profile, fields with tags, owners.
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    expect(page.get_by_text("snowflake://acme.eu-west-1/ANALYTICS.PUBLIC.ORDERS")).to_be_visible()
    fields = page.get_by_role("region", name=re.compile("Fields"))
    expect(fields.get_by_role("row")).to_have_count(6)
    expect(fields.get_by_role("row").filter(has_text="email")).to_contain_text("PII")
    expect(page.get_by_role("complementary", name="Details")).to_contain_text(ADMIN_NAME)

    # Follow: the button says so (not only its colour) and the count follows.
    follow = page.get_by_role("button", name=re.compile(r"^Follow"))
    expect(follow).to_have_attribute("aria-pressed", "false")
    follow.click()
    following = page.get_by_role("button", name=re.compile(r"^Following"))
    expect(following).to_have_attribute("aria-pressed", "true")
    expect(following).to_contain_text("1")
    page.reload()
    expect(page.get_by_role("button", name=re.compile(r"^Following"))).to_be_visible()
    screenshot(page, "10-dataset", full_page=True)

    # Edit with If-Match: the change is saved and shown.
    page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Tags").fill("gold, finance, board")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("#board")).to_be_visible()


def test_api_docs_work_without_internet(page: Page, e2e_server: Server) -> None:
    """Swagger UI at /api/docs comes from this server (the browser here has no internet
    access): it renders the operations, and no request leaves the server's origin."""
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(e2e_server.url) else elsewhere.append(r.url),
    )
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("DataMesh")
    expect(page.locator(".opblock-summary-path", has_text="/api/datasets").first).to_be_visible()
    assert elsewhere == []
    screenshot(page, "api-docs")
