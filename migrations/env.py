"""Alembic environment: one linear history that runs on PostgreSQL and SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from alumnet.config import load_settings
from alumnet.persistence.db import sync_url
from alumnet.persistence.migrations import include_name, include_object_on
from alumnet.persistence.models import Base
from alumnet.persistence.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write our column types as plain SQLAlchemy types, so migrations never import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    given = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return sync_url(given or load_settings().database_url)


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        include_name=include_name,
        include_object=include_object_on("sqlite" if url.startswith("sqlite") else "postgresql"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
        include_object=include_object_on(connection.dialect.name),  # type: ignore[attr-defined]
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
