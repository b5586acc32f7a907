"""Running the Alembic history from code (CLI, start-up, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from alumnet.persistence.db import sync_url


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What autogenerate compares: not SQLite's full-text indexes (``fts_*`` virtual tables
    and their shadow tables), which migrations make with raw SQL and triggers keep; no
    model describes them."""
    return not (type_ == "table" and name is not None and name.startswith("fts_"))


def include_object_on(dialect: str) -> Callable[..., bool]:
    """What autogenerate compares on ``dialect``: not the indexes a model makes only on
    another database (``Index(...).ddl_if(dialect=...)``, e.g. PostgreSQL's covering
    indexes with INCLUDE)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        wanted = getattr(obj, "_ddl_if", None)
        if wanted is None or wanted.dialect is None:
            return True
        names = (wanted.dialect,) if isinstance(wanted.dialect, str) else tuple(wanted.dialect)
        return dialect in names

    return include


def migrations_dir() -> Path:
    here = Path(__file__).resolve()
    packaged = here.parent.parent / "migrations"  # inside an installed wheel
    if (packaged / "env.py").exists():
        return packaged
    return here.parents[3] / "migrations"  # a source checkout


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str | None:
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()
