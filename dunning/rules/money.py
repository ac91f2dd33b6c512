"""Money is Decimal, quantized to the cent, end to end."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["CENT", "ZERO", "to_money", "MoneyError"]

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


class MoneyError(ValueError):
    """A value that cannot be read as an amount of money."""


def to_money(value: object) -> Decimal:
    """Read an amount from a database or config value without ever passing through binary float.

    SQLite hands back REAL for NUMERIC columns: its shortest repr is the decimal literal that was
    stored, so going through str() recovers it exactly before quantizing.
    """
    if value is None:
        raise MoneyError("amount is missing")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise MoneyError(f"{value!r} is not an amount")
    elif isinstance(value, (int, float, str)):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise MoneyError(f"{value!r} is not an amount") from exc
    else:
        raise MoneyError(f"{value!r} is not an amount")
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    try:
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:   # more digits than Decimal's precision: no real amount looks like it
        raise MoneyError(f"{value!r} is out of range") from exc
