"""E-mail: a MIME message (plain text and HTML) sent through the configured SMTP server with
aiosmtplib; STARTTLS unless turned off, the password a secret reference resolved at send time."""

from __future__ import annotations

import html
import time
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from datamesh.alerts.channels import Message, Outbound, SendResult
from datamesh.secrets.resolver import SecretResolutionError
from datamesh.secrets.scrub import scrub_exception


def mime(message: Message, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[DataMesh] {message.title}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Message-ID"] = make_msgid(domain="datamesh")
    msg["X-DataMesh-Delivery"] = str(message.delivery_id)
    msg["X-DataMesh-Event"] = message.event_type
    impact = message.body.get("impact") or {}
    lines = [message.summary, ""]
    lines += [f"- {line}" for line in message.lines]
    if impact:
        lines += [
            "",
            f"Impact: {impact.get('datasets', 0)} datasets and {impact.get('processes', 0)}"
            f" processes downstream, {impact.get('people', 0)} people to notify.",
        ]
        lines += [f"  - {t.get('name') or 'restricted'}" for t in (impact.get("top") or [])[:10]]
    lines += ["", message.link]
    msg.set_content("\n".join(lines))
    items = "".join(f"<li>{html.escape(line)}</li>" for line in message.lines)
    top = "".join(
        f"<li>{html.escape(str(t.get('name') or 'restricted'))}</li>"
        for t in (impact.get("top") or [])[:10]
    )
    msg.add_alternative(
        f"<p>{html.escape(message.summary)}</p>"
        + (f"<ul>{items}</ul>" if items else "")
        + (
            f"<p><b>Impact:</b> {impact.get('datasets', 0)} datasets, "
            f"{impact.get('processes', 0)} processes, {impact.get('people', 0)} people</p>"
            f"<ul>{top}</ul>"
            if impact
            else ""
        )
        + f'<p><a href="{html.escape(message.link)}">Open in DataMesh</a></p>',
        subtype="html",
    )
    return msg


class Email:
    kind = "email"

    async def send(self, config: dict[str, Any], message: Message, out: Outbound) -> SendResult:
        smtp = out.smtp
        if not smtp.host:
            return SendResult(ok=False, error="e-mail is not configured (DATAMESH_SMTP_HOST)")
        password = None
        if smtp.password:
            try:
                password = await out.resolver.resolve(smtp.password)
            except SecretResolutionError as exc:
                return SendResult(ok=False, error=f"SMTP password {exc.message}"[:300])
        to = [str(a) for a in config.get("to") or []]
        started = time.perf_counter()
        try:
            errors, _ = await aiosmtplib.send(
                mime(message, smtp.sender, to),
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.user,
                password=password,
                start_tls=smtp.starttls,
                use_tls=False,
                cert_bundle=smtp.ca_file,
                timeout=out.timeout,
            )
        except Exception as exc:  # any failure is a failed attempt with a scrubbed reason
            hidden = [password] if password else []
            return SendResult(
                ok=False,
                error=scrub_exception(exc, hidden)[:300],
                ms=int((time.perf_counter() - started) * 1000),
            )
        ms = int((time.perf_counter() - started) * 1000)
        if errors and len(errors) == len(to):
            return SendResult(ok=False, error="every recipient was refused", ms=ms)
        return SendResult(ok=True, status_code=250, ms=ms)


ADAPTER = Email()
