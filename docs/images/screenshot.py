"""Take the README's screenshot (docs/images/lineage.png) of the demo workspace.

Against a server with the demo loaded (`make run`, or `datamesh demo && datamesh serve`):

    .venv/bin/python docs/images/screenshot.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

OUT = Path(__file__).with_name("lineage.png")
NODE = "dataset:snowflake://acme.eu-west-1:ANALYTICS.CORE.ORDERS"


def main(base: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(
            base_url=base, viewport={"width": 1440, "height": 760}, color_scheme="light"
        )
        page.goto("/")
        page.get_by_label("Email").fill("producer@acme.test")
        page.get_by_label("Password", exact=True).fill("datamesh-demo")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("button", name="Account menu").wait_for()
        page.goto(f"/lineage?node={quote(NODE, safe='')}&up=2&down=1")
        page.locator(".react-flow__node").first.wait_for()
        page.wait_for_timeout(1000)  # the layout settles
        page.locator(".react-flow__controls-fitview").click()  # the whole graph in view
        page.wait_for_timeout(800)
        page.screenshot(path=str(OUT))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
