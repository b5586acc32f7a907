"""The per-request context: viewer, runtime, dataloaders, and the transaction helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from alumnet.domain.cohorts.access import CohortScope, load_scope, missions_within
from alumnet.domain.identity.auth import AuthenticationFailed, authenticate
from alumnet.domain.identity.permissions import ANONYMOUS, Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader, SharedConnection
from alumnet.persistence.uow import Origin, UnitOfWork
from alumnet.schema.loaders import Loaders


@dataclass
class Context:
    runtime: Runtime
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    viewer: Viewer = ANONYMOUS
    origin: Origin = field(default_factory=Origin)
    loaders: Loaders = field(init=False)
    connection_params: dict[str, Any] | None = None
    # Where reads go: one shared connection per HTTP request, the pool otherwise.
    reads: Reader = field(init=False)
    shared: SharedConnection | None = None
    # The credential a WebSocket connection signed in with, checked again before each event.
    bearer: str | None = None
    # The request's deadline (ALUMNET_REQUEST_DEADLINE), while it may still cancel it.
    deadline: asyncio.Timeout | None = None

    def __post_init__(self) -> None:
        self.reads = self.shared or self.runtime.database
        self.loaders = Loaders(self.reads)

    _scope: CohortScope | None = None
    _within: dict[Permission, frozenset[int] | None] = field(default_factory=dict)
    # Resolvers run side by side (two dataloader batches at once): the first to ask loads,
    # the others wait for it rather than load the same again.
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def cohort_scope(self) -> CohortScope:
        """What this viewer is related to in cohorts; loaded once per request."""
        if self._scope is None:
            async with self._loading:
                if self._scope is None:
                    self._scope = await load_scope(self.reads, self.viewer)
        return self._scope

    async def missions_within(self, permission: Permission) -> frozenset[int] | None:
        """The missions the viewer holds ``permission`` for (None: everywhere); loaded once
        per request, and only for holders of a custom role scoped to batches or missions."""
        if permission not in self._within:
            async with self._loading:
                if permission not in self._within:
                    self._within[permission] = await missions_within(
                        self.reads, self.viewer, permission
                    )
        return self._within[permission]

    async def still_signed_in(self) -> bool:
        """For subscriptions: whether the credential given at `connection_init` still works
        (not expired, revoked or suspended). Refreshes the viewer (roles may have changed)."""
        if self.bearer is None:
            return True
        try:
            found = await authenticate(self.runtime, self.runtime.database, self.bearer)
        except AuthenticationFailed:
            return False
        self.viewer = found.viewer
        self._scope = None
        self._within = {}
        return True

    def reset_loaders(self) -> None:
        """Mutations change what loaders may have cached; start afresh after one."""
        self.loaders = Loaders(self.reads)
        self._scope = None
        self._within = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        # A change, once begun, is not cancelled half-way by the request's deadline: it
        # could commit and still be answered TIMEOUT (and retried). Its statements keep
        # their timeout.
        if self.deadline is not None:
            self.deadline.reschedule(None)
            self.deadline = None
        if self.shared is not None:
            # Give the read connection back first: a request holding one connection while
            # waiting for another starves the pool under a rush of mutations. What the
            # request reads afterwards, it reads from the primary (its own write).
            await self.shared.use_primary()
            await self.shared.close()
        async with self.runtime.transaction(
            actor_id=self.viewer.user_id, origin=self.origin
        ) as uow:
            yield uow
        self.reset_loaders()


Info = strawberry.Info[Context, None]


class ReadsFollowWrites(SchemaExtension):
    """With read replicas: a mutation reads from the primary (what it checks before it
    writes, and the payload after), and a signed-in viewer's mutation makes them read from
    the primary for ALUMNET_READ_YOUR_WRITES_SECONDS afterwards, in every API process (a
    signed-out one's, such as signing in, marks whom it audited: Runtime.transaction).
    Listed only when replicas are configured."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        mutation = self.execution_context.operation_type is OperationType.MUTATION
        if mutation and isinstance(context, Context) and context.shared is not None:
            await context.shared.use_primary()
        yield
        replicas = context.runtime.replicas if isinstance(context, Context) else None
        if mutation and replicas is not None and context.viewer.user_id is not None:
            await replicas.wrote(context.viewer.user_id)
