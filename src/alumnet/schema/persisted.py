"""Persisted operations: a client sends a document's SHA-256 instead of its text.

- **Automatic persisted queries** (Apollo's APQ protocol): a request carries
  ``extensions: {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}``. Without the
  text, the document is looked up by its hash; unknown, the answer is the error
  ``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``) and the client sends the
  hash again with the text, which is checked against the hash and kept (in this process,
  once it has parsed and validated; at most ``AUTOMATIC_MAX`` documents of at most
  ``AUTOMATIC_DOCUMENT_MAX`` characters, the least recently used forgotten first). Works
  over POST and GET (``/graphql?extensions=…&variables=…``, cacheable by browsers and
  CDNs for signed-out reads). Over WebSocket, Strawberry does not pass a subscription's
  ``extensions`` on: subscriptions send their text (registered-only mode checks it).
- **Registered operations**: documents registered with ``alumnet operations register``
  (the ``persisted_operations`` table) are found by hash on every process. With
  ``ALUMNET_PERSISTED_ONLY``, only those run, by hash or by their exact text; anything
  else answers ``OPERATION_NOT_REGISTERED``; ``bulkQueryRun`` takes registered queries
  only. Registering is additive: a registered document stays until its row is deleted
  and the API processes restart.

Either way a document is parsed, validated (against today's schema: a registered
document that no longer validates answers its validation errors) and cost-checked as
any other; the caches of parsing and validation are keyed by its text.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError
from prometheus_client import Counter
from strawberry.extensions import SchemaExtension

from alumnet.config import Settings
from alumnet.domain.ops import operations
from alumnet.persistence.db import Reader

# Documents sent by clients kept per process, and the longest kept (16 MB at most).
AUTOMATIC_MAX = 500
AUTOMATIC_DOCUMENT_MAX = 32 * 1024
# Registered documents kept per process once read.
REGISTERED_MAX = 2000
# What runs, to be refused at validation, when a persisted operation cannot be resolved.
STAND_IN = "{ __typename }"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_REGISTERED = "OPERATION_NOT_REGISTERED"
BAD_REQUEST = "BAD_REQUEST"
CODES = frozenset({NOT_FOUND, HASH_MISMATCH, NOT_REGISTERED, BAD_REQUEST})

LOOKUPS = Counter(
    "alumnet_persisted_operations_total",
    "Documents asked for by hash, by where they were found (automatic, registered) or "
    "what was answered (not_found, mismatch, not_registered).",
    ["outcome"],
)


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class _Lru:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class OperationStore:
    """This process's documents by hash: those clients sent, and those registered."""

    def __init__(self) -> None:
        self.automatic = _Lru(AUTOMATIC_MAX)
        self.registered = _Lru(REGISTERED_MAX)

    async def find_registered(self, reader: Reader, sha256: str) -> str | None:
        found = self.registered.get(sha256)
        if found is not None:
            return found
        found = await operations.document(reader, sha256)
        if found is not None:
            self.registered.put(sha256, found)
        return found


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def not_registered() -> GraphQLError:
    return _error(
        "Only registered operations run on this server: register this document with "
        "`alumnet operations register`, then send its SHA-256 hash "
        "(extensions.persistedQuery.sha256Hash).",
        NOT_REGISTERED,
    )


class PersistedOperations(SchemaExtension):
    """Resolves ``extensions.persistedQuery`` to a document before it is parsed, and
    enforces registered-operations mode. Listed after the other validation steps."""

    def __init__(self, settings: Settings, store: OperationStore) -> None:
        self.only_registered = settings.persisted_only
        self.store = store
        self.error: GraphQLError | None = None
        self._to_keep: tuple[str, str] | None = None

    async def on_operation(self) -> AsyncIterator[None]:
        if getattr(self.execution_context.context, "request", None) is None:
            yield  # alumnet's own execution (a bulk query's pages, checked when asked)
            return
        self.error = await self._resolve()
        if self.error is not None:
            # Strawberry's HTTP and WebSocket paths both answer validation errors as a
            # GraphQL error; an exception here would end a WebSocket operation without
            # saying why. So a stand-in document goes through (its one anonymous
            # operation), and its validation answers this error instead (see
            # on_validate), before anything runs.
            self.execution_context.query = STAND_IN
            # The name sent names nothing in the stand-in (Strawberry has no setter).
            self.execution_context._provided_operation_name = None
        yield

    def on_validate(self) -> Iterator[None]:
        # Listed after the validation cache and the cost check, this comes after theirs.
        context = self.execution_context
        if self.error is not None:
            context.pre_execution_errors = [self.error]
        elif self._to_keep is not None and not context.pre_execution_errors:
            # Only a document that parsed and validated is kept.
            self.store.automatic.put(*self._to_keep)
        yield

    async def _resolve(self) -> GraphQLError | None:
        context = self.execution_context
        reader: Reader = context.context.reads
        extensions = context.operation_extensions or {}
        persisted = extensions.get("persistedQuery")
        query = context.query
        if persisted is None:
            if not self.only_registered or not query:
                return None
            if await self.store.find_registered(reader, sha256_of(query)) is None:
                LOOKUPS.labels(outcome="not_registered").inc()
                return not_registered()
            LOOKUPS.labels(outcome="registered").inc()
            return None
        if (
            not isinstance(persisted, dict)
            or persisted.get("version") != 1
            or not isinstance(persisted.get("sha256Hash"), str)
        ):
            return _error(
                'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<the '
                "document's SHA-256, 64 hexadecimal digits>\"}.",
                BAD_REQUEST,
            )
        wanted = persisted["sha256Hash"].lower()
        if not SHA256_HEX.match(wanted):
            return _error("sha256Hash must be 64 hexadecimal digits.", BAD_REQUEST)
        if query:
            if sha256_of(query) != wanted:
                LOOKUPS.labels(outcome="mismatch").inc()
                return _error(
                    "The sha256Hash sent is not the SHA-256 of the document sent with it "
                    "(hash the exact text, UTF-8).",
                    HASH_MISMATCH,
                )
            if self.only_registered:
                if await self.store.find_registered(reader, wanted) is None:
                    LOOKUPS.labels(outcome="not_registered").inc()
                    return not_registered()
                LOOKUPS.labels(outcome="registered").inc()
                return None
            if len(query) <= AUTOMATIC_DOCUMENT_MAX:
                self._to_keep = (wanted, query)
            return None
        document = None if self.only_registered else self.store.automatic.get(wanted)
        if document is not None:
            LOOKUPS.labels(outcome="automatic").inc()
        else:
            document = await self.store.find_registered(reader, wanted)
            if document is not None:
                LOOKUPS.labels(outcome="registered").inc()
        if document is None:
            if self.only_registered:
                LOOKUPS.labels(outcome="not_registered").inc()
                return not_registered()
            LOOKUPS.labels(outcome="not_found").inc()
            # The message is the protocol's: clients resend with the text on seeing it.
            return _error("PersistedQueryNotFound", NOT_FOUND)
        context.query = document
        return None


def operation_names(document: Any) -> list[str]:
    """The names of a parsed document's operations."""
    return [
        d.name.value
        for d in getattr(document, "definitions", ())
        if getattr(d, "operation", None) is not None and d.name is not None
    ]
