"""Slack: an incoming-webhook message with blocks (what happened, the impact, a link)."""

from __future__ import annotations

from typing import Any

import orjson

from datamesh.alerts.channels import Message, Outbound, SendResult
from datamesh.alerts.channels.http import post_json

_MAX_LINES = 10


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(message: Message) -> dict[str, Any]:
    impact = message.body.get("impact") or {}
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(message.summary)[:2900]}},
    ]
    if message.lines:
        shown = "\n".join(f"• {_escape(line)}" for line in message.lines[:_MAX_LINES])
        more = len(message.lines) - _MAX_LINES
        if more > 0:
            shown += f"\n…and {more} more"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": shown[:2900]}})
    if impact:
        top = ", ".join(
            _escape(str(t.get("name") or "restricted")) for t in (impact.get("top") or [])[:5]
        )
        text = (
            f"*Impact:* {impact.get('datasets', 0)} datasets, {impact.get('processes', 0)}"
            f" processes downstream; {impact.get('people', 0)} people to notify"
        )
        if top:
            text += f"\n*Nearest:* {top}"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
    out.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in DataMesh"},
                    "url": message.link,
                }
            ],
        }
    )
    return {"text": f"{message.title}: {message.summary}"[:3000], "blocks": out}


class Slack:
    kind = "slack"

    async def send(self, config: dict[str, Any], message: Message, out: Outbound) -> SendResult:
        # The incoming-webhook URL is itself the credential: kept out of every error text.
        url = str(config["url"])
        return await post_json(url, orjson.dumps(blocks(message)), {}, out, [url])


ADAPTER = Slack()
