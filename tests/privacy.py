"""No personal data left in Redis after the suite: at the end of each test process (each
xdist worker), every key of its queue prefix, and every RQ job of its queues, is read
(key and value: strings, hashes, lists, sets, sorted sets, streams; RQ's compressed job
payloads unpacked) and searched for the e-mail addresses and names the suite created."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

# The names of the people tests create (tests/conftest.py `Api.create_user` adds them).
SUITE_NAMES: set[str] = set()
# The queue prefixes of the apps those people were created in.
SUITE_PREFIXES: set[str] = set()
EMAIL = re.compile(rb"[\w.+-]+@example\.(?:org|com|net)", re.IGNORECASE)


def _values(client: Any, key: bytes) -> list[bytes]:
    kind = client.type(key).decode()
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "hash":
        return [b for pair in client.hgetall(key).items() for b in pair]
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return list(client.zrange(key, 0, -1))
    if kind == "stream":
        return [b for _, fields in client.xrange(key) for pair in fields.items() for b in pair]
    return []


def _readable(value: bytes) -> bytes:
    """RQ keeps a job's call (arguments included) as a zlib-compressed pickle."""
    try:
        return value + zlib.decompress(value)
    except zlib.error:
        return value


def personal_data_in_redis(redis_url: str, prefix: str) -> list[str]:
    """Each key (of this prefix, or an RQ job of its queues) that holds personal data."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    names = [n.encode() for n in SUITE_NAMES if " " in n and len(n) >= 6]
    found: list[str] = []
    try:
        for key in client.scan_iter(count=1000):
            values = _values(client, key)
            # Outside the prefix, an RQ job or result is ours if it came from our queues.
            ours = prefix.encode() in key or (
                key.startswith(b"rq:") and any(prefix.encode() in v for v in values)
            )
            if not ours:
                continue
            text = key + b"\n" + b"\n".join(_readable(v) for v in values)
            emails = sorted({m.decode() for m in EMAIL.findall(text)})
            named = [n.decode() for n in names if n in text]
            if emails or named:
                found.append(f"{key.decode(errors='replace')}: {emails[:3] + named[:3]}")
    finally:
        client.close()
    return found


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_redis() -> Iterator[None]:
    yield
    from tests.conftest import TEST_REDIS_URL

    if not TEST_REDIS_URL:
        return
    found = [f for p in sorted(SUITE_PREFIXES) for f in personal_data_in_redis(TEST_REDIS_URL, p)]
    assert not found, "personal data left in Redis after the suite:\n" + "\n".join(found)
