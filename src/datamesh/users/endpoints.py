"""/api/auth/users"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status

from datamesh.auth.deps import CurrentUser
from datamesh.deps import SessionDep
from datamesh.kit.pagination import CursorParam, Limit, Page
from datamesh.users import service
from datamesh.users.schemas import User, UserCreate, UserUpdate

router = APIRouter(prefix="/api/auth/users", tags=["users"])


def _out(user: object) -> User:
    return User.model_validate(service.to_schema(user))  # type: ignore[arg-type]


@router.get("", response_model=Page[User])
async def list_users(
    actor: CurrentUser,
    session: SessionDep,
    org_id: uuid.UUID | None = Query(None, description="Platform administrators: filter by org."),
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[User]:
    """List users of your organization (admins) or of any (platform administrators)."""
    rows, next_cursor = await service.list_users(session, actor, org_id, limit, cursor)
    return Page[User](items=[_out(u) for u in rows], next_cursor=next_cursor)


@router.post("", response_model=User, status_code=status.HTTP_201_CREATED)
async def create_user(data: UserCreate, actor: CurrentUser, session: SessionDep) -> User:
    """Create a user in your organization (admins)."""
    return _out(await service.create_user(session, actor, data))


@router.get("/{user_id}", response_model=User)
async def get_user(user_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> User:
    """Get a user (admins of their org, or the user themselves)."""
    return _out(await service.get_user(session, actor, user_id))


@router.patch("/{user_id}", response_model=User)
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, actor: CurrentUser, session: SessionDep
) -> User:
    """Change a user's name, role, password or disabled flag (admins)."""
    return _out(await service.update_user(session, actor, user_id, data))


@router.delete("/{user_id}", response_model=User)
async def disable_user(user_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> User:
    """Disable a user: their tokens stop working at once (admins)."""
    return _out(await service.disable_user(session, actor, user_id))
