"""Apply the Alembic migrations and tell how far behind a database is.

The embedded default (a SQLite file) is brought up to date by any command; an external database
is changed only by `yuanjiao db upgrade`, run once per deployment, and every other command
refuses to work on a schema that code and database disagree about.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from core.db import get_engine, make_engine
from core.errors import PlatformError
from core.i18n import N_

log = logging.getLogger(__name__)
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

    On PostgreSQL an advisory lock serialises web nodes that start at the same moment. On SQLite
    a column change rebuilds the table (copy, drop, rename), which enforced foreign keys refuse
    while other rows point at it; they are off during the migration and checked after it.
    """
    engine = make_engine(database_url) if database_url else get_engine()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no effect inside a transaction
        else:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("the migration left rows pointing at missing rows")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            else:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()


class SchemaBehind(PlatformError):
    """The database schema is older than the code: `yuanjiao db upgrade` must run first."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema is (None: empty database) and where the code expects it."""

    current: str | None
    head: str

    @property
    def pending(self) -> bool:
        """Whether migrations remain to be applied."""
        return self.current != self.head


def head_revision() -> str:
    """The newest migration the code knows."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return str(heads[0])


def schema_state(connection: Connection | None = None) -> SchemaState:
    """The database's current revision next to the code's head."""
    if connection is None:
        with get_engine().connect() as own:
            return schema_state(own)
    current = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(current=current, head=head_revision())


def ensure_schema() -> None:
    """Bring the embedded SQLite database up to date; refuse an external one that is behind."""
    engine = get_engine()
    state = schema_state()
    if not state.pending:
        return
    if engine.dialect.name == "sqlite":
        upgrade_database()
        log.info("database schema upgraded from %s to %s", state.current or "empty", state.head)
        return
    if state.current is None:
        raise SchemaBehind(N_("The database has no tables yet: run `yuanjiao db upgrade` first."))
    raise SchemaBehind(
        N_(
            "The database schema is at %(current)s but this version needs %(head)s: "
            "run `yuanjiao db upgrade` first."
        ),
        current=state.current,
        head=state.head,
    )
