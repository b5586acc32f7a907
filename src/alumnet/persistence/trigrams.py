"""pg_trgm's measures in Python, for SQLite: the same numbers PostgreSQL gives, so that a
misspelt search finds the same people on both databases.

A string's trigrams are pg_trgm's: each word (letters and digits) in lower case, padded
with two spaces before and one after, cut into every run of three characters
("Amara" gives "  a", " am", "ama", "mar", "ara", "ra "). ``similarity`` is the share of
trigrams two strings have in common (of all the trigrams either has); ``word_similarity``
is how well a query word fits the best stretch of a text (pg_trgm's ``<%``), a port of
``iterate_word_similarity`` in contrib/pg_trgm/trgm_op.c.

``register`` adds them to a SQLite connection as deterministic SQL functions
(``similarity``, ``word_similarity`` and ``best_word_similarity``, which takes the best of
the text's words one at a time; see ``domain.people.directory``).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=65_536)
def trigram_list(text: str) -> tuple[str, ...]:
    """The text's trigrams in order, repeats kept (what word similarity walks)."""
    found: list[str] = []
    for word in WORD.findall(text.lower()):
        padded = f"  {word} "
        found.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return tuple(found)


@lru_cache(maxsize=65_536)
def trigrams(text: str) -> frozenset[str]:
    return frozenset(trigram_list(text))


def least_shared(text: str, threshold: float) -> int:
    """How many of ``text``'s trigrams another string must have, at the least, to reach
    ``threshold`` by either measure (shared / (mine + theirs - shared) >= threshold and
    theirs >= shared give shared >= threshold * mine)."""
    return max(1, math.ceil(threshold * len(trigrams(text)) - 1e-9))


def similarity(a: str | None, b: str | None) -> float:
    if a is None or b is None:
        return 0.0
    left, right = trigrams(a), trigrams(b)
    if not left or not right:
        return 0.0
    shared = len(left & right)
    return shared / (len(left) + len(right) - shared)


def word_similarity(query: str | None, text: str | None) -> float:
    """pg_trgm's ``word_similarity(query, text)`` (not the strict one)."""
    if query is None or text is None:
        return 0.0
    wanted = trigrams(query)
    ordered = trigram_list(text)
    return _iterate(wanted, ordered) if wanted and ordered else 0.0


def _iterate(found: frozenset[str], ordered: tuple[str, ...]) -> float:
    ulen1 = len(found)
    lastpos: dict[str, int] = {}
    ulen2 = count = 0
    lower = -1
    best = 0.0
    for i, trigram in enumerate(ordered):
        present = trigram in found
        if lower >= 0 or present:
            if trigram not in lastpos:
                ulen2 += 1
                if present:
                    count += 1
            lastpos[trigram] = i
        if not present:
            continue
        upper = i
        if lower == -1:
            lower = i
            ulen2 = 1
        current = count / (ulen1 + ulen2 - count)
        tmp_count, tmp_ulen2, prev_lower = count, ulen2, lower
        for tmp_lower in range(lower, upper + 1):
            candidate = tmp_count / (ulen1 + tmp_ulen2 - tmp_count)
            if candidate > current:
                current, ulen2, lower, count = candidate, tmp_ulen2, tmp_lower, tmp_count
            gone = ordered[tmp_lower]
            if lastpos.get(gone) == tmp_lower:
                tmp_ulen2 -= 1
                if gone in found:
                    tmp_count -= 1
        best = max(best, current)
        for tmp_lower in range(prev_lower, lower):
            gone = ordered[tmp_lower]
            if lastpos.get(gone) == tmp_lower:
                del lastpos[gone]
    return best


@lru_cache(maxsize=262_144)
def _word_pair(query: str, word: str) -> float:
    return word_similarity(query, word)


def best_word_similarity(query: str | None, text: str | None) -> float:
    """The best ``word_similarity`` of ``query`` with one word of ``text`` at a time.

    On a single word it is pg_trgm's own; taken word by word it never bridges two words
    (PostgreSQL's ``<%`` over a whole text may, rarely scoring a little higher). Pairs are
    remembered: a search compares one query word with the same few thousand words again and
    again, so a row costs a split and a few lookups."""
    if query is None or text is None:
        return 0.0
    return max((_word_pair(query, w) for w in WORD.findall(text.lower())), default=0.0)


def register(dbapi_connection: Any) -> None:
    """The measures as SQL functions of a SQLite connection (sqlite3 or aiosqlite's)."""
    for name, function in (
        ("similarity", similarity),
        ("word_similarity", word_similarity),
        ("best_word_similarity", best_word_similarity),
    ):
        dbapi_connection.create_function(name, 2, function, deterministic=True)
