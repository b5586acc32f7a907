"""Money: ISO 4217 currencies and exact amounts.

Amounts are kept as integers in the currency's minor units (cents; yen have none; dinars
have thousandths) and given and shown as exact decimals in major units. No amount ever
passes through a float. The currencies and the digits of their minor units are ISO 4217's
(the ``iso4217`` package); codes without a minor unit (gold, test and special drawing
codes) are not currencies one can give or pay in.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from iso4217 import Currency

AMOUNT_DIGITS = 15  # no amount has more digits before the point


@cache
def digits(currency: str) -> int | None:
    """The digits of ``currency``'s minor unit (USD 2, JPY 0, KWD 3); None if it is not
    an ISO 4217 currency one can pay in."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return None
    return exponent if isinstance(exponent, int) else None


def known(currency: str) -> bool:
    return digits(currency) is not None


def minor_units(amount: Decimal, currency: str) -> int | None:
    """An amount in major units as an integer of minor units; None if the currency is
    unknown or the amount is not a finite amount of at most 15 digits before the point and
    at most the currency's digits after it (trailing zeros aside). Exact, and cheap
    whatever the exponent given: the digits are never scaled by the exponent itself."""
    places = digits(currency)
    if places is None or not amount.is_finite():
        return None
    sign, figures, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    if not any(figures):
        return 0
    if amount.adjusted() >= AMOUNT_DIGITS:
        return None
    shift = exponent + places
    if shift >= 0:
        value = int("".join(map(str, figures)) or "0") * 10**shift
    else:
        cut = -shift
        if any(figures[-cut:]):
            return None  # finer than the currency's minor unit
        kept = figures[: len(figures) - cut] if cut < len(figures) else ()
        value = int("".join(map(str, kept)) or "0")
    return int(-value if sign else value)


def major_units(minor: int | None, currency: str | None) -> Decimal | None:
    """Minor units as an exact decimal in major units with the currency's digits."""
    if minor is None or currency is None:
        return None
    places = digits(currency)
    places = 2 if places is None else places
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))
