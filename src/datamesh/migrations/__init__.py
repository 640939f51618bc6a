"""Alembic migrations, run at start-up and by ``datamesh db upgrade``."""
