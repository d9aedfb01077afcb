"""Test environment: a throw-away YUANJIAO_HOME, the database chosen by YUANJIAO_TEST_DATABASE_URL
(SQLite by default, PostgreSQL in CI's second run), and clean tables for every test.

Settings are read once per process, so the environment is set here before any platform module
is imported. A skipped test fails the run: every dependency the suite needs is installed by
`make test`, so a skip can only mean something is missing.
"""

import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="yuanjiao-test-"))
os.environ["YUANJIAO_HOME"] = str(_HOME)
os.environ["YUANJIAO_DATABASE_URL"] = os.environ.get(
    "YUANJIAO_TEST_DATABASE_URL", f"sqlite:///{_HOME / 'test.db'}"
)
os.environ["YUANJIAO_QUEUE_URL"] = os.environ.get(
    "YUANJIAO_TEST_QUEUE_URL", f"sqlite:///{_HOME / 'queue.db'}"
)
os.environ["YUANJIAO_STORAGE_URL"] = f"file://{_HOME / 'objects'}"
# A node with an external database (the PostgreSQL run) must be given its keys.
os.environ["YUANJIAO_SECRET_KEY"] = "test-session-key-0123456789abcdef"
os.environ["YUANJIAO_ID_HASH_KEY"] = "test-id-hash-key-0123456789abcdef"
os.environ["YUANJIAO_JOB_STALE_SECONDS"] = "3"
os.environ["YUANJIAO_JOB_RETRY_BASE_SECONDS"] = "0.2"
os.environ["YUANJIAO_JOB_ENQUEUE_GRACE_SECONDS"] = "1"
os.environ["YUANJIAO_LADDER_HEIGHTS"] = "[480, 360]"

pytest_plugins = ["tests.s3"]

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core.db import Base, get_engine, new_session  # noqa: E402
from core.jobs import get_huey  # noqa: E402
from core.migrate import upgrade_database  # noqa: E402
from tests.factories import Tree, make_tree  # noqa: E402
from web.app import create_app  # noqa: E402

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what import and collection made, and collect less often: the suite's process grows
    to gigabytes, and the cyclic collector walking it took a seventh of the run's time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped:
        print(f"\n{len(_skipped)} test(s) skipped; skips are failures here: {_skipped}")
        session.exitstatus = 1


@pytest.fixture(scope="session", autouse=True)
def _schema() -> None:
    """Build the schema through the real migrations, once."""
    upgrade_database()


@pytest.fixture(autouse=True)
def _clean_tables() -> Iterator[None]:
    """Every test starts with empty tables, an empty queue and an empty object store."""
    yield
    wipe()


def wipe() -> None:
    """Empty the tables, the queue and the object store."""
    shutil.rmtree(_HOME / "objects", ignore_errors=True)
    (_HOME / "objects").mkdir()
    engine = get_engine()
    guards: list[tuple[str, str]] = []  # SQLite's append-only triggers, set aside meanwhile
    if engine.dialect.name == "sqlite":
        with engine.connect() as reading:
            guards = [
                (name, sql)
                for name, sql in reading.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                )
            ]
    with engine.begin() as connection:
        # Election records refuse deletion (append-only triggers). The first statement writes,
        # so the transaction waits for the write lock rather than reading a snapshot first.
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        for name, _ in guards:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        for _, sql in guards:
            connection.execute(text(sql))
    get_huey().flush()


@pytest.fixture
def session() -> Iterator[Session]:
    """A database session; tests commit what they want other sessions to see."""
    db = new_session()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


@pytest.fixture(scope="session")
def home() -> Path:
    """The YUANJIAO_HOME of this test run."""
    return _HOME


@pytest.fixture
def tree(session: Session) -> Tree:
    """The org tree of tests.factories.make_tree, committed (a test module that needs accounts
    in it too overrides this fixture)."""
    return make_tree(session)


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of the whole application, started up (and shut down after the test)."""
    with TestClient(create_app(media_url="http://testserver")) as test_client:
        yield test_client
