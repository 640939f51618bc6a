"""One JSON POST through the SSRF guard, shared by the webhook and Slack adapters.

Every hop is checked by the guarded transport (a redirect to a metadata or denied address is
refused like the first URL). Only 307/308 redirects are followed, since they keep the method
and the body; any other redirect is a failed delivery, not a GET of somewhere else.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from datamesh.alerts.channels import Outbound, SendResult
from datamesh.kit.ssrf import MAX_REDIRECTS, OutboundError, guarded_client
from datamesh.secrets.scrub import scrub, scrub_exception

MAX_ERROR = 300
_READ_LIMIT = 64 * 1024


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class _NotFollowed(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    request = client.build_request(
        "POST", url, content=body, headers={"Content-Type": "application/json", **headers}
    )
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            async for _chunk in response.aiter_bytes():
                if response.num_bytes_downloaded > _READ_LIMIT:
                    break
        finally:
            await response.aclose()
        nxt = response.next_request
        if nxt is None:
            return response
        if response.status_code not in (307, 308):
            raise _NotFollowed(
                response.status_code,
                f"HTTP {response.status_code} redirect to {nxt.url.host} not followed"
                " (only 307/308 keep the POST)",
            )
        request = nxt
    raise _NotFollowed(None, f"more than {MAX_REDIRECTS} redirects")


async def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    out: Outbound,
    secrets: Iterable[str] = (),
) -> SendResult:
    started = time.perf_counter()
    hidden = list(secrets)

    def done(**kw: object) -> SendResult:
        ms = int((time.perf_counter() - started) * 1000)
        return SendResult(ms=ms, **kw)  # type: ignore[arg-type]

    try:
        if out.http is not None:
            response = await _post(out.http, url, body, headers)
        else:
            async with guarded_client(out.policy, timeout=out.timeout) as client:
                response = await _post(client, url, body, headers)
    except _NotFollowed as exc:
        return done(ok=False, status_code=exc.status, error=_clip(exc.message))
    except OutboundError as exc:
        return done(ok=False, error=_clip(scrub(exc.message, hidden)))
    except httpx.TimeoutException:
        return done(ok=False, error=f"no answer within {out.timeout:g} s")
    except httpx.HTTPError as exc:
        return done(ok=False, error=_clip(scrub_exception(exc, hidden)))
    status = response.status_code
    if 200 <= status < 300:
        return done(ok=True, status_code=status)
    return done(ok=False, status_code=status, error=f"HTTP {status}", gone=status == 410)
