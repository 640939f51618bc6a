"""auth: NOTIFY datamesh_auth when a user, session or API key changes in a way auth reads

Revision ID: 0011d
Revises: 0010e

Each process keeps the principals of recently seen sessions and API keys in memory (see
``auth/cache.py``) and drops them when this notification arrives on its LISTEN connection.
A trigger, not application code, sends it: a change made by any process (the CLI's
``users disable``, a psql session, another worker) reaches every worker. PostgreSQL delivers
it at commit, once per transaction and payload.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011d"
down_revision: str | None = "0010e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns a principal is built from (auth/deps.py); others (last_login_at, last_used_at,
# updated_at) change often and must not empty every worker's cache.
_WATCHED = {
    "users": "email, name, org_id, role, is_platform_admin, disabled, sessions_valid_after",
    "auth_sessions": "user_id, created_at, expires_at, revoked_at",
    "api_keys": "org_id, created_by, name, role, key_hash, revoked_at",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION datamesh_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('datamesh_auth', TG_TABLE_NAME);
            RETURN NULL;
        END $$
        """
    )
    for table, columns in _WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_auth_changed AFTER UPDATE OF {columns} OR DELETE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION datamesh_auth_changed()"
        )


def downgrade() -> None:
    for table in _WATCHED:
        op.execute(f"DROP TRIGGER {table}_auth_changed ON {table}")
    op.execute("DROP FUNCTION datamesh_auth_changed()")
