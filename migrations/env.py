"""Alembic environment: the platform's own settings pick the database."""

from alembic import context
from sqlalchemy import Connection

import core.audit.models  # noqa: F401
import core.jobs.models  # noqa: F401  (registers tables)
import core.notify.models  # noqa: F401
import core.people.models  # noqa: F401
import courseware.models  # noqa: F401
import streaming.congress.models  # noqa: F401
import streaming.elections.models  # noqa: F401
import streaming.media.models  # noqa: F401
import terminals.credits.models  # noqa: F401
import terminals.evidence.models  # noqa: F401
import terminals.plans.models  # noqa: F401
import terminals.reports.models  # noqa: F401
import terminals.sessions.models  # noqa: F401
import terminals.sites.models  # noqa: F401
import terminals.sync.models  # noqa: F401
from core.db import Base, get_engine, make_engine

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = context.config.attributes.get("database_url")
    with (make_engine(url) if url else get_engine()).connect() as conn:
        run(conn)
        conn.commit()
