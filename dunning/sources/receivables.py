"""Validation of what the accounting database returned.

Rows that make no sense are quarantined with a reason instead of being dropped or crashing the
run; everything else comes out typed: Decimal money, `date` business dates, real booleans.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Collection

import pandas as pd
from babel.numbers import list_currencies

from dunning.config import EMAIL_PATTERN
from dunning.rules.messages import Debtor
from dunning.rules.money import MoneyError, to_money
from dunning.rules.paid_late import PaidLateInvoice

__all__ = [
    "RECEIVABLE_COLUMNS",
    "QUARANTINE_COLUMNS",
    "HISTORY_COLUMNS",
    "ValidatedReceivables",
    "validate_receivables",
    "normalize_credits",
    "split_history",
    "normalize_history",
    "to_date",
    "PAYMENT_COLUMNS",
    "split_payments",
    "late_payments",
    "quarantine_note",
    "paid_late_invoices",
]

RECEIVABLE_COLUMNS = [
    "invoice_id", "number", "debtor_id", "debtor_name", "email", "language", "is_consumer",
    "siren", "address_line", "postal_code", "city", "country", "credit_limit", "strategic",
    "status", "issue_date", "due_date", "currency", "amount_total", "residual", "disputed",
    "disputed_reason",
]
QUARANTINE_COLUMNS = ["source", "source_id", "number", "debtor_id", "kind", "reason"]
_EMAIL = re.compile(EMAIL_PATTERN)
_STATUSES = {"draft", "posted", "cancelled"}
# Control characters (NUL, CR, LF, ...), and the lone surrogates a text that was not UTF-8 decodes to
# (dunning.sources.accounting reads SQLite text with surrogateescape): neither may reach a message or the state.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What the state database and a message can hold: ids and numbers are String(64) columns, an email
# String(320) (RFC 5321 allows 254), a name or an address line is printed on a letter.
_TEXT_LIMITS = {"invoice_id": 64, "number": 64, "debtor_id": 64, "debtor_name": 200, "email": 254,
                "language": 8, "siren": 14, "address_line": 200, "postal_code": 16, "city": 100, "country": 2,
                "status": 16, "currency": 3, "kind": 16, "disputed_reason": 500}
_CREDIT_TEXT = {"debtor_id": 64, "debtor_name": 200, "reference": 64, "currency": 3}
_HISTORY_TEXT = {"debtor_id": 64, "invoice_id": 64, "number": 64}
# Money columns are NUMERIC(14, 2): 12 digits before the point.
MAX_AMOUNT = Decimal("999999999999.99")


class _Invalid(ValueError):
    """One reason a row is quarantined: a stable kind for counting, and the detail."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        super().__init__(f"{kind}: {detail}" if detail else kind)


@dataclass(frozen=True)
class ValidatedReceivables:
    invoices: pd.DataFrame     # RECEIVABLE_COLUMNS, typed
    quarantined: pd.DataFrame  # QUARANTINE_COLUMNS


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def to_date(value: object) -> date | None:
    """A date from a DATE column (PostgreSQL) or ISO text (SQLite); None when empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        shown = repr(value)
        # The reason is logged and recorded: a long junk text is measured, not quoted.
        raise _Invalid("unreadable date", shown if len(shown) <= 40 else f"a text of {len(str(value))} "
                       "characters") from exc


def _printable(value: object) -> str | None:
    """A text as it may be recorded and logged: None when it holds what _check_text refuses."""
    text = _text(value)
    if text is None or _UNPRINTABLE.search(text) or len(text) > 64:
        return None
    return text


def _shown_id(value: object) -> str:
    """A row's id as it may be recorded and logged, even when the id itself is junk."""
    return _printable(value) or f"(unreadable id of {len(str(value))} characters)"


def _present(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT)


def _text(value: object) -> str | None:
    return str(value).strip() if _present(value) and str(value).strip() else None


def _flag(value: object) -> bool:
    if not _present(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "yes", "y"}
    return bool(value)


def _money(value: object, what: str) -> Decimal:
    try:
        amount = to_money(value if _present(value) else None)
    except MoneyError as exc:
        raise _Invalid(f"unreadable {what}", str(exc)) from exc
    if abs(amount) > MAX_AMOUNT:
        raise _Invalid("amount out of range", f"{what} has more than 12 digits before the decimal point")
    return amount


def _check_text(row: dict, limits: dict[str, int] = _TEXT_LIMITS) -> None:
    """Every text column decodable, printable and within its length. The reason names the column and
    the position, never the text: it may be anything, and it is logged."""
    for column, limit in limits.items():
        value = row.get(column)
        if not isinstance(value, str):
            continue
        bad = _UNPRINTABLE.search(value)
        if bad is not None:
            what = "text that is not valid UTF-8" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
            raise _Invalid("unreadable text", f"{column} holds {what} at position {bad.start() + 1}")
        if len(value.strip()) > limit:
            raise _Invalid("text too long", f"{column} has {len(value.strip())} characters, at most {limit}")


def _invoice(row: dict, as_of: date) -> dict:
    """Type one raw receivable row or raise _Invalid with the first reason it makes no sense."""
    _check_text(row)
    if _text(row["kind"]) != "invoice":
        # The query brings every document but credit notes, so nothing unexpected goes unseen.
        raise _Invalid("unknown document kind", repr(row["kind"]))
    issue_date = to_date(row["issue_date"])
    if issue_date is not None and issue_date > as_of:
        # Not chased: on its as-of date it did not exist yet (a backfill), or the books hold a
        # mistyped date (a nightly run). Either way it is counted and audited, not dropped unseen.
        raise _Invalid("issued after the as-of date", f"issued on {issue_date}, as of {as_of}")
    if not _present(row["customer_id"]):
        raise _Invalid("unknown customer", str(row["debtor_id"]))
    status = _text(row["status"])
    if status not in _STATUSES:
        raise _Invalid("unknown invoice status", repr(row["status"]))
    due_date = to_date(row["due_date"])
    if due_date is None:
        raise _Invalid("missing due date")
    currency = (_text(row["currency"]) or "").upper()
    if currency not in _currencies():
        raise _Invalid("unknown currency code", repr(row["currency"]))
    total = _money(row["amount_total"], "amount total")
    if total <= 0:
        raise _Invalid("amount total not positive", str(total))
    residual = _money(row["residual_now"], "residual") + _money(row["paid_after_as_of"], "later payments")
    if residual < 0:
        raise _Invalid("negative residual", str(residual))
    if residual > total:
        raise _Invalid("residual above the invoice total", f"{residual} > {total}")
    email = _text(row["email"])
    if email is not None and not _EMAIL.match(email):
        raise _Invalid("malformed customer email", str(row["debtor_id"]))
    credit_limit = _money(row["credit_limit"], "credit limit") if _present(row["credit_limit"]) else None
    language = (_text(row["language"]) or "fr").lower()
    return {
        "invoice_id": str(row["invoice_id"]),
        "number": str(row["number"]),
        "debtor_id": str(row["debtor_id"]),
        "debtor_name": _text(row["debtor_name"]) or str(row["debtor_id"]),
        "email": email,
        "language": language if language in {"fr", "en"} else "fr",
        "is_consumer": _flag(row["is_consumer"]),
        "siren": _text(row["siren"]),
        "address_line": _text(row["address_line"]),
        "postal_code": _text(row["postal_code"]),
        "city": _text(row["city"]),
        "country": _text(row["country"]) or "FR",
        "credit_limit": credit_limit,
        "strategic": _flag(row["strategic"]),
        "status": status,
        "issue_date": issue_date,
        "due_date": due_date,
        "currency": currency,
        "amount_total": total,
        "residual": residual,
        "disputed": _flag(row["disputed"]),
        "disputed_reason": _text(row["disputed_reason"]),
    }


def validate_receivables(raw: pd.DataFrame, as_of: date) -> ValidatedReceivables:
    """The open receivables of sql/open_receivables.sql as of `as_of`, typed, and what makes no sense."""
    clean, quarantined = [], []

    def quarantine(row: dict, reason: _Invalid) -> None:
        quarantined.append({
            "source": "invoice",
            "source_id": _shown_id(row["invoice_id"]),
            "number": _printable(row["number"]),
            "debtor_id": _printable(row["debtor_id"]),
            "kind": reason.kind,
            "reason": str(reason),
        })

    rows = raw.to_dict("records")
    # One number, one invoice: an operator names invoices by number, and two would both be chased.
    ids_of: dict[str, list[str]] = {}
    for row in rows:
        if _printable(row["number"]) is not None:
            ids_of.setdefault(_printable(row["number"]), []).append(_shown_id(row["invoice_id"]))
    for row in rows:
        shared = ids_of.get(_printable(row["number"]) or "", [])
        if len(shared) > 1:
            others = ", ".join(i for i in shared if i != _shown_id(row["invoice_id"]))
            quarantine(row, _Invalid("duplicate invoice number", f"also invoice id {others}"))
            continue
        try:
            clean.append(_invoice(row, as_of))
        except _Invalid as reason:
            quarantine(row, reason)
    return ValidatedReceivables(
        invoices=pd.DataFrame(clean, columns=RECEIVABLE_COLUMNS, dtype=object),
        quarantined=pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS, dtype=object),
    )


def _credit_amount(row: dict) -> Decimal:
    amount = _money(row["amount"], "credit amount")
    # A consumed credit note (0) is harmless; a negative one is a debt in disguise, not credit.
    if row["source"] == "credit_note" and amount < 0:
        raise _Invalid("negative credit", str(amount))
    if row["source"] == "payment" and amount <= 0:
        raise _Invalid("non-positive unallocated payment", str(amount))
    return amount


PAYMENT_COLUMNS = ["payment_id", "invoice_id", "paid_on", "amount"]
_PAYMENT_TEXT = {"payment_id": 64, "invoice_id": 64}


def _lettered_payment(row: dict, invoice_ids: Collection[str]) -> dict:
    """Type one payment lettered to an invoice, or raise _Invalid: a payment of an invoice the books do
    not have, or one whose date or amount cannot be read, says nothing about what was paid when."""
    invoice_id = _printable(row["invoice_id"])
    if invoice_id is None or invoice_id not in invoice_ids:
        raise _Invalid("payment of an unknown invoice", f"invoice id {_shown_id(row['invoice_id'])}")
    try:
        _check_text(row, _PAYMENT_TEXT)
        paid_on = to_date(row["paid_on"])
        if paid_on is None:
            raise _Invalid("missing payment date")
        amount = _money(row["amount"], "payment amount")
    except _Invalid as cause:
        raise _Invalid("unreadable payment", f"invoice id {invoice_id}, {cause}") from cause
    return {"payment_id": str(row["payment_id"]), "invoice_id": invoice_id, "paid_on": paid_on, "amount": amount}


def split_payments(raw: pd.DataFrame, invoice_ids: Collection[str]) -> ValidatedReceivables:
    """Payments lettered to `invoice_ids` (raw: payment_id, invoice_id, paid_on, amount and, for the
    history's payments, debtor_id), typed (PAYMENT_COLUMNS) in `.invoices`; the others in `.quarantined`
    (source 'payment', by payment id), so that a caller logs or records each one."""
    clean, quarantined = [], []
    for row in raw.to_dict("records"):
        try:
            clean.append(_lettered_payment(row, invoice_ids))
        except _Invalid as reason:
            quarantined.append({
                "source": "payment", "source_id": _shown_id(row["payment_id"]), "number": None,
                "debtor_id": _printable(row.get("debtor_id")), "kind": reason.kind, "reason": str(reason),
            })
    return ValidatedReceivables(
        invoices=pd.DataFrame(clean, columns=PAYMENT_COLUMNS, dtype=object),
        quarantined=pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS, dtype=object),
    )


def late_payments(payments: pd.DataFrame, invoices: dict[str, dict]) -> dict[str, list[tuple[date, Decimal]]]:
    """Payments received after each invoice's due date, by invoice number: interest ran on the larger
    balance until each of them (payments: the typed `.invoices` of split_payments)."""
    late: dict[str, list[tuple[date, Decimal]]] = {}
    for row in payments.to_dict("records"):
        invoice = invoices.get(row["invoice_id"])
        if invoice is not None and row["paid_on"] > invoice["due_date"] and row["amount"] > 0:
            late.setdefault(invoice["number"], []).append((row["paid_on"], row["amount"]))
    return late


def quarantine_note(row: dict) -> str:
    """One quarantined row as a log line: its source, number or id, and reason; never its text."""
    return f"{row['source']} {row['number'] or row['source_id']}: {row['reason']}"


def normalize_credits(raw: pd.DataFrame, company_currency: str) -> ValidatedReceivables:
    """Unapplied credits as positive Decimal amounts; payments take the company currency.

    Negative credit notes and non-positive unallocated payments are quarantined, not netted.
    """
    clean, quarantined = [], []
    for row in raw.to_dict("records"):
        try:
            _check_text(row, _CREDIT_TEXT)
            currency = (_text(row["currency"]) or company_currency).upper()
            if currency not in _currencies():
                raise _Invalid("unknown currency code", repr(row["currency"]))
            posted_on = to_date(row.get("posted_on"))
            if posted_on is None:
                raise _Invalid("credit without a date", "no issue or payment date: it cannot be set off on a day")
            clean.append({
                "debtor_id": str(row["debtor_id"]),
                "debtor_name": _text(row["debtor_name"]) or str(row["debtor_id"]),
                "currency": currency,
                "amount": _credit_amount(row),
                "source": row["source"],
                "reference": str(row["reference"]),
                "posted_on": posted_on,
            })
        except _Invalid as reason:
            quarantined.append({
                "source": row["source"], "source_id": _shown_id(row["reference"]),
                "number": _printable(row["reference"]), "debtor_id": _printable(row["debtor_id"]),
                "kind": reason.kind, "reason": str(reason),
            })
    columns = ["debtor_id", "debtor_name", "currency", "amount", "source", "reference", "posted_on"]
    return ValidatedReceivables(
        invoices=pd.DataFrame(clean, columns=columns, dtype=object),
        quarantined=pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS, dtype=object),
    )


HISTORY_COLUMNS = ["debtor_id", "invoice_id", "due_date", "last_paid_on", "amount_total", "paid_amount"]


def _paid_invoice(row: dict) -> dict:
    """Type one history row or raise _Invalid: without both dates there is no lateness to measure."""
    try:
        _check_text(row, _HISTORY_TEXT)
        due_date, paid_on = to_date(row["due_date"]), to_date(row["last_paid_on"])
        if due_date is None:
            raise _Invalid("missing due date")
        if paid_on is None:
            raise _Invalid("missing payment date")
        return {
            "debtor_id": str(row["debtor_id"]),
            "invoice_id": str(row["invoice_id"]),
            "due_date": due_date,
            "last_paid_on": paid_on,
            "amount_total": _money(row["amount_total"], "amount total"),
            "paid_amount": _money(row["paid_amount"], "paid amount"),
        }
    except _Invalid as cause:
        # One kind for counting; the cause stays in the reason.
        raise _Invalid("no lateness evidence", str(cause)) from cause


def split_history(raw: pd.DataFrame) -> ValidatedReceivables:
    """Paid-invoice history (HISTORY_COLUMNS) in `.invoices`; rows that cannot count as evidence of
    how a debtor pays in `.quarantined` (QUARANTINE_COLUMNS, source 'history'), to log and count."""
    rows, excluded = [], []
    for row in raw.to_dict("records"):
        try:
            rows.append(_paid_invoice(row))
        except _Invalid as reason:
            excluded.append({
                "source": "history", "source_id": _shown_id(row["invoice_id"]), "number": _printable(row["number"]),
                "debtor_id": _printable(row["debtor_id"]), "kind": reason.kind, "reason": str(reason),
            })
    return ValidatedReceivables(
        invoices=pd.DataFrame(rows, columns=HISTORY_COLUMNS, dtype=object),
        quarantined=pd.DataFrame(excluded, columns=QUARANTINE_COLUMNS, dtype=object),
    )


def normalize_history(raw: pd.DataFrame) -> pd.DataFrame:
    """The history frame of split_history alone (kept for callers that do not report exclusions)."""
    return split_history(raw).invoices


def paid_late_invoices(raw: pd.DataFrame) -> tuple[list[PaidLateInvoice], list[tuple[str, str, str, str]]]:
    """The invoices of sql/paid_late_payments.sql (one row per payment), and the (invoice id, number,
    debtor id, why) of those whose rows cannot be read: they are not claimed, and the reason says so."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for row in raw.to_dict("records"):
        rows[str(row["invoice_id"])].append(row)
    found, unreadable = [], []
    for invoice_id, payments in rows.items():
        first = payments[0]
        try:
            due = to_date(first["due_date"])
            paid = tuple((to_date(p["paid_on"]), to_money(p["amount"])) for p in payments)
            if due is None or any(d is None for d, _ in paid):
                raise ValueError("a date is missing")
            total = to_money(first["amount_total"])
        except (ValueError, MoneyError) as error:
            unreadable.append((invoice_id, str(first["number"]), str(first["debtor_id"]), f"unreadable row: {error}"))
            continue
        debtor = Debtor(id=str(first["debtor_id"]), name=str(first["debtor_name"]), email=_text(first["email"]),
                        language=_text(first["language"]) or "fr", is_consumer=_flag(first["is_consumer"]),
                        address_line=_text(first["address_line"]), postal_code=_text(first["postal_code"]),
                        city=_text(first["city"]), country=_text(first["country"]))
        found.append(PaidLateInvoice(invoice_id=invoice_id, number=str(first["number"]), due_date=due,
                                     currency=str(first["currency"]).upper(), amount_total=total,
                                     disputed=_flag(first["disputed"]), debtor=debtor, payments=paid))
    return found, unreadable
