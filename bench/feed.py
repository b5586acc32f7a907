"""The feed benchmark: a viewer's first feed page on PostgreSQL, at scale.

    python bench/feed.py [--seconds 10] [--connections 8] [--users 100000]
                         [--posts 1000000] [--likes 5000000] [--skip-seed]

Builds its own database (alumnet_bench_feed) with SQL alone (generate_series, no API):
--users people (60% students enrolled in one mission each of users/1000 batches of two
missions, 35% alumni, 4% mentors, three to a mission, 1% managers), ten follows each,
--posts posts over the last year (one in twenty to an audience: a role or a batch),
--likes likes, half as many comments as posts and a fifth as many replies, and the counts
on posts and comments. Then it serves as in production (uvicorn, 2 workers, Redis) and
drives `feed(first: 20)` with `wrk` (8 connections), each request as one of 80 viewers
(students and alumni, rotating), asking for what a feed screen shows: counts, the
viewer's like, the author, the audience, the link, the images and the first two
comments with their authors and like state. Prints throughput and latency percentiles,
the statements one page takes, and PostgreSQL's plan for the page's own query.

A small run, to check that it works: --users 2000 --posts 20000 --likes 100000 --seconds 3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

base.DATABASE = "alumnet_bench_feed"
DSN = f"{base.PG}/{base.DATABASE}"
FEED = """query Feed { feed(first: 20) { pageInfo { hasNextPage endCursor } edges { cursor
  node { id bodyHtml createdAt editedAt likeCount commentCount viewerHasLiked
    author { id name } audience { everyone } link { url status } images { id }
    comments(first: 2) { edges { node { id bodyHtml likeCount replyCount viewerHasLiked
      author { id name } } } } } } } }"""
VIEWERS = 80


def _sql(conn: psycopg.Connection, label: str, statement: str, **params: object) -> None:
    """One statement of the seed, timed (always with parameters: ``%%`` is a modulo)."""
    started = time.perf_counter()
    conn.execute(statement, params)  # type: ignore[arg-type]
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def seed(users: int, posts: int, likes: int) -> None:
    """A fresh database of ``users`` people, ``posts`` posts and ``likes`` likes."""
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c",
         f"DROP DATABASE IF EXISTS {base.DATABASE} WITH (FORCE)"], check=True,
    )  # fmt: skip
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c",
         f"CREATE DATABASE {base.DATABASE}"], check=True,
    )  # fmt: skip
    base.alumnet("migrate", "upgrade")
    batches = max(1, users // 1000)
    comments = posts // 2
    with psycopg.connect(DSN, autocommit=True) as conn:
        _sql(conn, "users", """
            INSERT INTO users (email, email_lower, name, status, created_at, updated_at)
            SELECT 'feed' || g || '@bench.alumnet.dev', 'feed' || g || '@bench.alumnet.dev',
                   'Person ' || g, 'active', now(), now()
            FROM generate_series(1, %(n)s) g""", n=users)  # fmt: skip
        _sql(conn, "roles", """
            INSERT INTO user_roles (user_id, role)
            SELECT id, CASE WHEN id %% 100 < 60 THEN 'STUDENT'
                            WHEN id %% 100 < 95 THEN 'ALUMNUS'
                            WHEN id %% 100 < 99 THEN 'MENTOR' ELSE 'MANAGER' END
            FROM users WHERE email_lower LIKE 'feed%%'""")  # fmt: skip
        _sql(conn, "batches and missions", """
            WITH b AS (
              INSERT INTO batches (name, code, description, status, starts_on, ends_on,
                                   created_at, updated_at)
              SELECT 'Feed batch ' || g, 'FB' || g, '', 'active', date '2026-01-01',
                     date '2026-12-31', now(), now()
              FROM generate_series(1, %(b)s) g RETURNING id)
            INSERT INTO missions (batch_id, title, code, description, status, starts_on,
                                  ends_on, created_at, updated_at)
            SELECT b.id, 'Mission ' || m, 'FM' || b.id || '-' || m, '', 'active',
                   date '2026-01-01', date '2026-12-31', now(), now()
            FROM b, generate_series(1, 2) m""", b=batches)  # fmt: skip
        _sql(conn, "enrolments and mission mentors", """
            WITH ms AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k,
                               count(*) OVER () AS n FROM missions),
            students AS (SELECT user_id FROM user_roles WHERE role = 'STUDENT'),
            mentors AS (SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS k
                        FROM user_roles WHERE role = 'MENTOR'),
            e AS (INSERT INTO enrollments (mission_id, student_id, status, created_at,
                                           updated_at)
                  SELECT ms.id, s.user_id, 'active', now(), now()
                  FROM students s JOIN ms ON ms.k = s.user_id %% ms.n RETURNING 1)
            INSERT INTO mission_mentors (mission_id, mentor_id, created_at)
            SELECT ms.id, m.user_id, now() FROM mentors m JOIN ms ON ms.k = (m.k / 3) %% ms.n
            ON CONFLICT DO NOTHING""")  # fmt: skip
        _sql(conn, "follows", """
            INSERT INTO follows (follower_id, followee_id, created_at)
            SELECT u.id, u0.lo + ((u.id * 7919 + k * 104729) %% u0.n), now()
            FROM users u, generate_series(1, 10) k,
                 (SELECT min(id) AS lo, count(*) AS n FROM users) u0
            WHERE u0.lo + ((u.id * 7919 + k * 104729) %% u0.n) <> u.id
            ON CONFLICT DO NOTHING""")  # fmt: skip
        _sql(conn, "posts", """
            INSERT INTO posts (author_id, body_markdown, body_html, limited, created_at)
            SELECT u0.lo + floor(random() * u0.n)::bigint,
                   'News number ' || g || ' from the network.',
                   '<p>News number ' || g || ' from the network.</p>', g %% 20 = 0,
                   now() - random() * interval '365 days'
            FROM generate_series(1, %(p)s) g,
                 (SELECT min(id) AS lo, count(*) AS n FROM users) u0""", p=posts)  # fmt: skip
        _sql(conn, "audiences", """
            INSERT INTO post_targets (post_id, role, batch_id)
            SELECT p.id, CASE WHEN p.id %% 2 = 0 THEN 'STUDENT' END,
                   CASE WHEN p.id %% 2 = 1 THEN b.lo + (p.id %% b.n) END
            FROM posts p, (SELECT min(id) AS lo, count(*) AS n FROM batches) b
            WHERE p.limited""")  # fmt: skip
        _sql(conn, "likes", """
            INSERT INTO post_likes (post_id, user_id, created_at)
            SELECT p.lo + floor(random() * p.n)::bigint, u.lo + floor(random() * u.n)::bigint,
                   now()
            FROM generate_series(1, %(l)s) g,
                 (SELECT min(id) AS lo, count(*) AS n FROM posts) p,
                 (SELECT min(id) AS lo, count(*) AS n FROM users) u
            ON CONFLICT DO NOTHING""", l=likes)  # fmt: skip
        _sql(conn, "comments", """
            INSERT INTO comments (post_id, author_id, body_markdown, body_html, created_at)
            SELECT p.lo + floor(random() * p.n)::bigint, u.lo + floor(random() * u.n)::bigint,
                   'A comment ' || g, '<p>A comment ' || g || '</p>',
                   now() - random() * interval '365 days'
            FROM generate_series(1, %(c)s) g,
                 (SELECT min(id) AS lo, count(*) AS n FROM posts) p,
                 (SELECT min(id) AS lo, count(*) AS n FROM users) u""", c=comments)  # fmt: skip
        _sql(conn, "replies", """
            INSERT INTO comments (post_id, parent_id, author_id, body_markdown, body_html,
                                  created_at)
            SELECT c.post_id, c.id, u.lo + (c.id %% u.n), 'A reply', '<p>A reply</p>',
                   c.created_at + interval '1 hour'
            FROM comments c, (SELECT min(id) AS lo, count(*) AS n FROM users) u
            WHERE c.id %% 10 < 4 AND c.parent_id IS NULL""")  # fmt: skip
        _sql(conn, "like counts", """
            UPDATE posts SET like_count = x.n FROM
              (SELECT post_id, count(*) AS n FROM post_likes GROUP BY post_id) x
            WHERE posts.id = x.post_id""")  # fmt: skip
        _sql(conn, "comment counts", """
            UPDATE posts SET comment_count = x.n FROM
              (SELECT post_id, count(*) AS n FROM comments GROUP BY post_id) x
            WHERE posts.id = x.post_id""")  # fmt: skip
        _sql(conn, "reply counts", """
            UPDATE comments SET reply_count = x.n FROM
              (SELECT parent_id, count(*) AS n FROM comments WHERE parent_id IS NOT NULL
               GROUP BY parent_id) x
            WHERE comments.id = x.parent_id""")  # fmt: skip
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE, "-c",
         "VACUUM ANALYZE"], check=True,
    )  # fmt: skip


def viewers() -> list[tuple[int, str]]:
    """Students and alumni (ids and access tokens), as if they had signed in."""
    from alumnet.config import load_settings
    from alumnet.domain.identity.jwt_tokens import issue_access_token

    settings = load_settings()
    with psycopg.connect(DSN, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO sessions (user_id, created_at) SELECT user_id, now() FROM ("
            " (SELECT user_id FROM user_roles WHERE role = 'STUDENT' ORDER BY user_id"
            "  LIMIT %(half)s) UNION ALL"
            " (SELECT user_id FROM user_roles WHERE role = 'ALUMNUS' ORDER BY user_id DESC"
            "  LIMIT %(half)s)) v RETURNING user_id, id",
            {"half": VIEWERS // 2},
        ).fetchall()
    return [(int(u), issue_access_token(settings, u, s)[0]) for u, s in rows]


def explain(user_id: int) -> str:
    """PostgreSQL's plan for a first page's own query, as the API builds it."""
    from sqlalchemy.dialects import postgresql

    from alumnet.domain.community import feed
    from alumnet.domain.identity.permissions import Role, Viewer

    with psycopg.connect(DSN, autocommit=True) as conn:
        role = conn.execute(
            "SELECT role FROM user_roles WHERE user_id = %s", (user_id,)
        ).fetchone()[0]  # type: ignore[index]
        viewer = Viewer(user_id=user_id, roles=frozenset({Role(role)}))

        def ids(query: Any) -> list[int]:
            compiled = query.compile(
                dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}
            )
            return [r[0] for r in conn.execute(str(compiled)).fetchall()]

        authors = sorted(ids(feed.circle(user_id)))
        conn.execute("SET jit = off")  # as feed.read_page does
        dialect = postgresql.psycopg.dialect()
        query = feed.page(viewer, None, 21, dialect).params(feed_me=user_id, circle=authors)
        compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled)).fetchall()
    return "\n".join(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--likes", type=int, default=5_000_000)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    os.environ.update(base.env())
    if not args.skip_seed:
        started = time.perf_counter()
        seed(args.users, args.posts, args.likes)
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    people = viewers()
    bodies = [{"query": FEED, "variables": {}, "_token": token} for _, token in people]
    server, client = base.serve(args.workers)
    try:
        sample = client.post(
            "/graphql", json={"query": FEED}, headers={"Authorization": f"Bearer {people[0][1]}"}
        ).json()
        if "errors" in sample:
            raise RuntimeError(sample["errors"])
        edges = sample["data"]["feed"]["edges"]
        print(f"sample page: {len(edges)} posts", flush=True)
        base.wrk(bodies, people[0][1], 2, args.connections)  # warm-up
        result = base.wrk(bodies, people[0][1], args.seconds, args.connections)
        print("feed first page", json.dumps(result), flush=True)
    finally:
        base.stop(server)
    print(explain(people[0][0]))


if __name__ == "__main__":
    main()
