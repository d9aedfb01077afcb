"""Alembic environment: the platform's own settings pick the database."""

from alembic import context
from sqlalchemy import Connection

import core.models  # noqa: F401  (registers tables)
import courseware.models  # noqa: F401
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


url = context.config.attributes.get("database_url")
engine = make_engine(url) if url else get_engine()
with engine.connect() as conn:
    run(conn)
    conn.commit()
