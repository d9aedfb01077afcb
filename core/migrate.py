"""Apply the Alembic migrations (at start-up of `run`/`serve` and by `yuanjiao db upgrade`)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from core.db import get_engine, make_engine

_LOCK_KEY = 0x79756A  # "yuj": one number for every node of this platform


def migrations_dir() -> Path:
    """The migrations folder: next to the packages in a checkout, or in the working directory."""
    for candidate in (
        Path(__file__).resolve().parents[1] / "migrations",
        Path.cwd() / "migrations",
    ):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("migrations/ not found next to the code or in the working directory")


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for the platform's database (or the given URL)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str | None = None) -> None:
    """Bring the database schema to the newest revision.

    On PostgreSQL an advisory lock serialises web nodes that start at the same moment.
    """
    engine = make_engine(database_url) if database_url else get_engine()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
