"""Webhook: the alert as JSON, signed with HMAC-SHA256 when the rule has a secret.

Headers: ``X-DataMesh-Delivery`` (the same on every retry of one delivery), ``X-DataMesh-Event``
and, with a secret, ``X-DataMesh-Signature: sha256=<hex HMAC of the raw body>``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from datamesh.alerts.channels import Message, Outbound, SendResult
from datamesh.alerts.channels.http import post_json
from datamesh.secrets.resolver import SecretResolutionError

USER_AGENT = "DataMesh-Alerts/1"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    kind = "webhook"

    async def send(self, config: dict[str, Any], message: Message, out: Outbound) -> SendResult:
        body = message.raw if message.raw is not None else orjson.dumps(message.body)
        headers = {
            "User-Agent": USER_AGENT,
            "X-DataMesh-Delivery": str(message.delivery_id),
            "X-DataMesh-Event": message.event_type,
        }
        secrets: list[str] = []
        ref = config.get("secret")
        if ref:
            if out.protected(ref):
                return SendResult(ok=False, error=f"secret {ref} is DataMesh's own configuration")
            try:
                value = await out.resolver.resolve(ref)
            except SecretResolutionError as exc:
                return SendResult(ok=False, error=f"secret {exc.message}"[:300])
            secrets.append(value)
            headers["X-DataMesh-Signature"] = signature(value, body)
        return await post_json(str(config["url"]), body, headers, out, secrets)


ADAPTER = Webhook()
