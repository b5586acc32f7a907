"""Misspelt words in the directory: trigram indexes of the headline and the work on
PostgreSQL; a trigram index of what the directory searches on SQLite

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 03:30:00.000000
"""

# ruff: noqa: S608  (SQL built from this file's own constants, never from input)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: the directory's trigger (0008) also writes the work as text (company, job
# title, skills), which a trigram index searches for misspelt words.
PG_SEARCH = """
CREATE OR REPLACE FUNCTION profiles_search() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  skills text := (SELECT string_agg(s.name, ' ') FROM user_skills us
                  JOIN skills s ON s.id = us.skill_id WHERE us.user_id = NEW.user_id);
BEGIN
  NEW.search_basic :=
    setweight(to_tsvector('simple', coalesce(
      (SELECT name FROM users WHERE id = NEW.user_id), '')), 'A')
    || setweight(to_tsvector('simple', coalesce(NEW.headline, '')), 'B');
  NEW.search_name := (SELECT name FROM users WHERE id = NEW.user_id);
  NEW.search_all := NEW.search_basic
    || setweight(to_tsvector('simple', coalesce(NEW.company, '')), 'A')
    || setweight(to_tsvector('simple', coalesce(NEW.job_title, '')), 'B')
    || setweight(to_tsvector('simple', coalesce(skills, '')), 'B');
  NEW.search_work := concat_ws(' ', NEW.company, NEW.job_title, skills);
  RETURN NEW;
END $$
"""

# 0008's, for the downgrade.
PG_SEARCH_0008 = """
CREATE OR REPLACE FUNCTION profiles_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_basic :=
    setweight(to_tsvector('simple', coalesce(
      (SELECT name FROM users WHERE id = NEW.user_id), '')), 'A')
    || setweight(to_tsvector('simple', coalesce(NEW.headline, '')), 'B');
  NEW.search_name := (SELECT name FROM users WHERE id = NEW.user_id);
  NEW.search_all := NEW.search_basic
    || setweight(to_tsvector('simple', coalesce(NEW.company, '')), 'A')
    || setweight(to_tsvector('simple', coalesce(NEW.job_title, '')), 'B')
    || setweight(to_tsvector('simple', coalesce(
      (SELECT string_agg(s.name, ' ') FROM user_skills us JOIN skills s ON s.id = us.skill_id
       WHERE us.user_id = NEW.user_id), '')), 'B');
  RETURN NEW;
END $$
"""


def _padded(text: str) -> str:
    """SQL: the text as pg_trgm sees it, near enough for an index that only has to find
    candidates: lower case (FTS5 folds the rest), punctuation made spaces, each word with
    two spaces before and one after (so "  a", " am" and "ra " are trigrams of "Amara")."""
    expression = f"lower(coalesce({text}, ''))"
    # The marks names, headlines and job titles have (SQLite's parser refuses deeper
    # nesting); another mark only costs the trigrams beside it.
    for mark in ",.-'()/&+_":
        quoted = mark.replace("'", "''")
        expression = f"replace({expression}, '{quoted}', ' ')"
    for space in ("char(9)", "char(10)"):
        expression = f"replace({expression}, {space}, ' ')"
    return f"('  ' || replace({expression}, ' ', '   ') || ' ')"


def _work(profile: str) -> str:
    return _padded(
        f"coalesce({profile}.company, '') || ' ' || coalesce({profile}.job_title, '') || ' ' "
        "|| coalesce((SELECT group_concat(s.name, ' ') FROM user_skills us "
        f"JOIN skills s ON s.id = us.skill_id WHERE us.user_id = {profile}.user_id), '')"
    )


def _row(profile: str) -> str:
    """SQL: the fts_profiles row of a profile (rowid, name, headline, work)."""
    name = f"(SELECT name FROM users WHERE id = {profile}.user_id)"
    return f"{profile}.user_id, {_padded(name)}, {_padded(f'{profile}.headline')}, {_work(profile)}"


# SQLite: an FTS5 trigram index (SQLite 3.34 or later) of what the directory searches,
# kept current by triggers whoever writes (the ORM, bulk inserts, imports, the demo seed).
# alumnet computes pg_trgm's measures itself (persistence.trigrams) for the people this
# index finds sharing enough trigrams with a query.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE fts_profiles USING fts5(name, headline, work, tokenize='trigram')",
    f"""
    CREATE TRIGGER fts_profiles_insert AFTER INSERT ON profiles BEGIN
      INSERT INTO fts_profiles (rowid, name, headline, work) SELECT {_row("NEW")};
    END
    """,
    f"""
    CREATE TRIGGER fts_profiles_update AFTER UPDATE OF user_id, headline, company, job_title
    ON profiles BEGIN
      DELETE FROM fts_profiles WHERE rowid = OLD.user_id;
      INSERT INTO fts_profiles (rowid, name, headline, work) SELECT {_row("NEW")};
    END
    """,
    """
    CREATE TRIGGER fts_profiles_delete AFTER DELETE ON profiles BEGIN
      DELETE FROM fts_profiles WHERE rowid = OLD.user_id;
    END
    """,
    f"""
    CREATE TRIGGER fts_profiles_name AFTER UPDATE OF name ON users BEGIN
      UPDATE fts_profiles SET name = {_padded("NEW.name")} WHERE rowid = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER fts_profiles_skill_insert AFTER INSERT ON user_skills BEGIN
      UPDATE fts_profiles SET work = (SELECT {_work("p")} FROM profiles p
                                      WHERE p.user_id = NEW.user_id)
      WHERE rowid = NEW.user_id;
    END
    """,
    f"""
    CREATE TRIGGER fts_profiles_skill_update AFTER UPDATE ON user_skills BEGIN
      UPDATE fts_profiles SET work = (SELECT {_work("p")} FROM profiles p
                                      WHERE p.user_id = fts_profiles.rowid)
      WHERE rowid IN (OLD.user_id, NEW.user_id);
    END
    """,
    f"""
    CREATE TRIGGER fts_profiles_skill_delete AFTER DELETE ON user_skills BEGIN
      UPDATE fts_profiles SET work = (SELECT {_work("p")} FROM profiles p
                                      WHERE p.user_id = OLD.user_id)
      WHERE rowid = OLD.user_id;
    END
    """,
    # The profiles already there.
    f"INSERT INTO fts_profiles (rowid, name, headline, work) SELECT {_row('p')} FROM profiles p",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS fts_profiles_skill_delete",
    "DROP TRIGGER IF EXISTS fts_profiles_skill_update",
    "DROP TRIGGER IF EXISTS fts_profiles_skill_insert",
    "DROP TRIGGER IF EXISTS fts_profiles_name",
    "DROP TRIGGER IF EXISTS fts_profiles_delete",
    "DROP TRIGGER IF EXISTS fts_profiles_update",
    "DROP TRIGGER IF EXISTS fts_profiles_insert",
    "DROP TABLE IF EXISTS fts_profiles",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_work", sa.Text(), nullable=True))
    if dialect == "postgresql":
        op.execute(PG_SEARCH)
        # Every profile's documents again, through the trigger.
        op.execute("UPDATE profiles SET search_basic = NULL")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profiles_headline_trgm",
            ["headline"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"headline": "gin_trgm_ops"},
        )
        batch_op.create_index(
            "ix_profiles_search_work_trgm",
            ["search_work"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"search_work": "gin_trgm_ops"},
        )
    if dialect == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_profiles_search_work_trgm", postgresql_using="gin")
        batch_op.drop_index("ix_profiles_headline_trgm", postgresql_using="gin")
    if dialect == "postgresql":
        op.execute(PG_SEARCH_0008)
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("search_work")
