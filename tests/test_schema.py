"""The schema documents itself, the exported SDL is current, models match migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)
from sqlalchemy import create_engine

from alumnet.config import Settings, load_settings
from alumnet.persistence.db import sync_url
from alumnet.persistence.migrations import include_name, include_object_on
from alumnet.persistence.models import Base
from alumnet.schema import build_schema

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def test_everything_in_the_schema_has_a_description() -> None:
    schema = build_schema(load_settings({"ALUMNET_ENV": "test"}))._schema
    missing: list[str] = []
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType):
            for fname, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{fname}")
                for aname, arg in field.args.items():
                    if not arg.description:
                        missing.append(f"{name}.{fname}({aname})")
        elif isinstance(gtype, GraphQLInputObjectType):
            for fname, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{fname}")
        elif isinstance(gtype, GraphQLEnumType):
            for vname, value in gtype.values.items():
                if not value.description:
                    missing.append(f"{name}.{vname}")
        elif isinstance(gtype, GraphQLScalarType | GraphQLUnionType):
            pass
    assert missing == [], f"undocumented: {missing}"


def test_schema_graphql_is_current() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    current = build_schema(load_settings({"ALUMNET_ENV": "test"})).as_str() + "\n"
    assert exported == current, "schema.graphql is stale: run `alumnet export-schema`"


def test_models_and_migrations_agree(settings: Settings, migrated: str) -> None:
    engine = create_engine(sync_url(migrated))
    with engine.connect() as conn:
        opts = {"include_name": include_name,
                "include_object": include_object_on(conn.dialect.name)}  # fmt: skip
        context = MigrationContext.configure(conn, opts=opts)
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []
