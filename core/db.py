"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL through psycopg 3."""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.errors import ConfigurationError, TemporaryError
from core.i18n import N_
from core.settings import get_settings

# How long a writer waits for SQLite's single write lock before it gives up.
SQLITE_BUSY_SECONDS = 30
_SQLITE_WRITERS = threading.RLock()

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable for Alembic."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class CleanString(TypeDecorator[str]):
    """Text without NUL characters: PostgreSQL cannot store them and no name, title or query
    needs one, so a NUL in any input is dropped at the database boundary on every engine."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return value.replace("\x00", "") if value is not None else None


class CleanText(CleanString):
    """Long text (descriptions, error reasons) without NUL characters."""

    impl = Text
    cache_ok = True


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and enforced foreign keys.

    A malformed URL, or one naming a driver that is not installed, is a ConfigurationError.
    """
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            N_("YUANJIAO_DATABASE_URL is malformed: %(reason)s"), reason=_first_line(exc)
        ) from exc
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            N_(
                "YUANJIAO_DATABASE_URL names an unsupported database %(backend)s: use "
                "sqlite:///path or postgresql+psycopg://user:password@host/name."
            ),
            backend=repr(backend),
        )
    settings = get_settings()
    pool: dict[str, Any] = {}
    if settings.database_pool_size is not None:
        pool["pool_size"] = settings.database_pool_size
    if settings.database_max_overflow is not None:
        pool["max_overflow"] = settings.database_max_overflow
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    try:
        # An unreachable server fails a connection in seconds instead of hanging the caller.
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, **pool)
    except (ArgumentError, ImportError) as exc:
        raise ConfigurationError(
            N_("YUANJIAO_DATABASE_URL is malformed: %(reason)s"), reason=_first_line(exc)
        ) from exc


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def redacted_url(url: str) -> str:
    """A database URL fit for a log or an operator's screen: the password is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(malformed URL)"


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return make_engine(get_settings().database_url)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session() -> Session:
    """A new session on the configured database."""
    return _session_factory()()


def upsert(session: Session, table: Any) -> Any:
    """An INSERT on `table` of the session's engine's dialect, the one that offers ON CONFLICT
    (`on_conflict_do_update` / `on_conflict_do_nothing`) on both PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def among(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL as `column = ANY(:ids)`, one array parameter: with one
    parameter per id, a report over thousands of sites spent longer having psycopg split its
    query text than having the server answer it."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(ids), postgresql.ARRAY(Integer))
        return cast(ColumnElement[bool], column == any_(array))
    return cast(ColumnElement[bool], column.in_(ids))


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for tasks and the CLI)."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def write_scope() -> Iterator[Session]:
    """session_scope for a transaction that writes in bulk while others do (a batch upload, a
    group of beats). SQLite takes one writer at a time and makes the others poll its lock,
    sleeping up to 100 ms between tries, so a writer often waited long after the file was free;
    such writers of this process queue on a lock here instead, and each has the file as soon as
    the one before commits. PostgreSQL locks rows: there they run side by side."""
    if get_engine().url.get_backend_name() != "sqlite":
        with session_scope() as session:
            yield session
        return
    if not _SQLITE_WRITERS.acquire(timeout=SQLITE_BUSY_SECONDS):
        raise TemporaryError(N_("The server is busy: please try again in a moment."))
    try:
        with session_scope() as session:
            yield session
    finally:
        _SQLITE_WRITERS.release()
