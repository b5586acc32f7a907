"""Giving: receipts."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReceiptQuery:
    pass


@strawberry.type
class ReceiptMutation:
    pass
