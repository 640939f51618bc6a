"""Helpers that create users and sign them in through the real API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from datamesh.db import session_scope
from datamesh.users import service as users
from datamesh.users.schemas import UserCreate

PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    email: str
    org: str
    role: str
    id: str = ""
    org_id: str = ""
    token: str = ""
    refresh_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_user(
    app: FastAPI,
    email: str,
    *,
    org: str = "Acme",
    role: str = "viewer",
    platform_admin: bool = False,
    password: str | None = PASSWORD,
) -> Account:
    async with session_scope(app.state.sessionmaker) as session:
        user = await users.create_user(
            session,
            None,
            UserCreate(
                email=email,
                password=password,
                role=role,  # type: ignore[arg-type]
                is_platform_admin=platform_admin,
            ),
            org_name=org,
        )
        return Account(email=email, org=org, role=role, id=str(user.id), org_id=str(user.org_id))


async def login(client: httpx.AsyncClient, account: Account, password: str = PASSWORD) -> Account:
    resp = await client.post("/api/auth/login", json={"email": account.email, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    account.token, account.refresh_token = body["access_token"], body["refresh_token"]
    client.cookies.clear()  # bearer tests should not ride on the cookies the login set
    return account


async def signed_in(app: FastAPI, client: httpx.AsyncClient, email: str, **kw: Any) -> Account:
    return await login(client, await make_user(app, email, **kw))


async def api_key(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "ol", role: str = "producer"
) -> str:
    """A new API key made by the signed-in user whose headers are given (e.g. for a producer)."""
    resp = await client.post(
        "/api/auth/api-keys", json={"name": name, "role": role}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key
