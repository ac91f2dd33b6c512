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
from typing import Callable, Collection

import pandas as pd
from babel.numbers import list_currencies

from dunning.config import EMAIL_PATTERN
from dunning.rules.frames import records
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


def _text_of(column: str, limit: int, value: object) -> None:
    """Raise _Invalid unless a text value is decodable, printable and within its length. The reason
    names the column and the position, never the text: it may be anything, and it is logged."""
    if not isinstance(value, str):
        return
    bad = _UNPRINTABLE.search(value)
    if bad is not None:
        what = "text that is not valid UTF-8" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise _Invalid("unreadable text", f"{column} holds {what} at position {bad.start() + 1}")
    if len(value.strip()) > limit:
        raise _Invalid("text too long", f"{column} has {len(value.strip())} characters, at most {limit}")


def _check_text(row: dict, limits: dict[str, int]) -> None:
    """Every text column of one row checked by _text_of, in the order of `limits`."""
    for column, limit in limits.items():
        _text_of(column, limit, row.get(column))


def _read_column(values: list, read: Callable[[object], object]) -> list:
    """`read` of each value, or the _Invalid it raised, worked out once per distinct value: a night's
    rows share a few hundred dates, a few currencies and statuses, and each customer's texts."""
    seen: dict = {}
    typed = []
    for value in values:
        key = (value.__class__, value)   # 1, 1.0 and True are equal keys but not the same value
        try:
            typed.append(seen[key])
            continue
        except KeyError:
            pass
        except TypeError:                # unhashable: read every time
            key = None
        try:
            result = read(value)
        except _Invalid as reason:
            result = reason
        if key is not None:
            seen[key] = result
        typed.append(result)
    return typed


def _kind(value: object) -> None:
    # The query brings every document but credit notes, so nothing unexpected goes unseen.
    if _text(value) != "invoice":
        raise _Invalid("unknown document kind", repr(value))


def _status(value: object) -> str:
    status = _text(value)
    if status not in _STATUSES:
        raise _Invalid("unknown invoice status", repr(value))
    return status


def _due_date(value: object) -> date:
    due_date = to_date(value)
    if due_date is None:
        raise _Invalid("missing due date")
    return due_date


def _currency(value: object) -> str:
    currency = (_text(value) or "").upper()
    if currency not in _currencies():
        raise _Invalid("unknown currency code", repr(value))
    return currency


def _total(value: object) -> Decimal:
    total = _money(value, "amount total")
    if total <= 0:
        raise _Invalid("amount total not positive", str(total))
    return total


def _email(value: object) -> str | None:
    email = _text(value)
    if email is not None and not _EMAIL.match(email):
        raise _Invalid("malformed customer email")
    return email


def _credit_limit(value: object) -> Decimal | None:
    return _money(value, "credit limit") if _present(value) else None


def _language(value: object) -> str:
    language = (_text(value) or "fr").lower()
    return language if language in {"fr", "en"} else "fr"


def validate_receivables(raw: pd.DataFrame, as_of: date) -> ValidatedReceivables:
    """The open receivables of sql/open_receivables.sql as of `as_of`, typed, and what makes no sense.

    Checked column by column, each distinct value once; a row keeps the first reason it fails, in
    the order of the checks: a shared number, unreadable or overlong text, the document kind, the
    issue date, the customer, the status, the due date, the currency, the amounts, the email and the
    credit limit.
    """
    columns = {column: raw[column].tolist() for column in raw.columns}
    count = len(raw)
    reasons: list[_Invalid | None] = [None] * count

    def refuse(i: int, reason: _Invalid) -> None:
        if reasons[i] is None:
            reasons[i] = reason

    def read(column: str, reader: Callable[[object], object]) -> list:
        typed = _read_column(columns[column], reader)
        for i, value in enumerate(typed):
            if isinstance(value, _Invalid):
                refuse(i, value)
        return typed

    ids = [_shown_id(value) for value in columns["invoice_id"]]
    numbers = [_printable(value) for value in columns["number"]]
    debtors = columns["debtor_id"]
    # One number, one invoice: an operator names invoices by number, and two would both be chased.
    ids_of: dict[str, list[str]] = defaultdict(list)
    for i, number in enumerate(numbers):
        if number is not None:
            ids_of[number].append(ids[i])
    for i, number in enumerate(numbers):
        shared = ids_of.get(number, ()) if number is not None else ()
        if len(shared) > 1:
            others = ", ".join(other for other in shared if other != ids[i])
            refuse(i, _Invalid("duplicate invoice number", f"also invoice id {others}"))
    for column, limit in _TEXT_LIMITS.items():
        if column in columns:
            read(column, lambda value, column=column, limit=limit: _text_of(column, limit, value))
    read("kind", _kind)
    issue_dates = read("issue_date", to_date)
    for i, issued in enumerate(issue_dates):
        if isinstance(issued, date) and issued > as_of:
            # Not chased: on its as-of date it did not exist yet (a backfill), or the books hold a
            # mistyped date (a nightly run). Either way it is counted and audited, not dropped unseen.
            refuse(i, _Invalid("issued after the as-of date", f"issued on {issued}, as of {as_of}"))
    for i, customer in enumerate(columns["customer_id"]):
        if not _present(customer):
            refuse(i, _Invalid("unknown customer", str(debtors[i])))
    statuses = read("status", _status)
    due_dates = read("due_date", _due_date)
    currencies = read("currency", _currency)
    totals = read("amount_total", _total)
    residuals_now = read("residual_now", lambda value: _money(value, "residual"))
    paid_later = read("paid_after_as_of", lambda value: _money(value, "later payments"))
    residuals: list[Decimal | None] = [None] * count
    for i in range(count):
        if reasons[i] is None:
            residual = residuals_now[i] + paid_later[i]
            if residual < 0:
                refuse(i, _Invalid("negative residual", str(residual)))
            elif residual > totals[i]:
                refuse(i, _Invalid("residual above the invoice total", f"{residual} > {totals[i]}"))
            residuals[i] = residual
    emails = _read_column(columns["email"], _email)
    for i, email in enumerate(emails):
        if isinstance(email, _Invalid):
            refuse(i, _Invalid(email.kind, str(debtors[i])))
    credit_limits = read("credit_limit", _credit_limit)

    kept = [i for i in range(count) if reasons[i] is None]

    def pick(values: list, convert: Callable[[object], object] | None = None) -> list:
        chosen = [values[i] for i in kept]
        return _read_column(chosen, convert) if convert is not None else chosen

    texts = {column: pick(columns[column], _text) for column in
             ("debtor_name", "siren", "address_line", "postal_code", "city", "country", "disputed_reason")}
    debtor_ids = pick(debtors, str)
    invoices = pd.DataFrame({
        "invoice_id": pick(columns["invoice_id"], str),
        "number": pick(columns["number"], str),
        "debtor_id": debtor_ids,
        "debtor_name": [name or debtor for name, debtor in zip(texts["debtor_name"], debtor_ids)],
        "email": pick(emails),
        "language": pick(columns["language"], _language),
        "is_consumer": pick(columns["is_consumer"], _flag),
        "siren": texts["siren"],
        "address_line": texts["address_line"],
        "postal_code": texts["postal_code"],
        "city": texts["city"],
        "country": [country or "FR" for country in texts["country"]],
        "credit_limit": pick(credit_limits),
        "strategic": pick(columns["strategic"], _flag),
        "status": pick(statuses),
        "issue_date": pick(issue_dates),
        "due_date": pick(due_dates),
        "currency": pick(currencies),
        "amount_total": pick(totals),
        "residual": pick(residuals),
        "disputed": pick(columns["disputed"], _flag),
        "disputed_reason": texts["disputed_reason"],
    }, columns=RECEIVABLE_COLUMNS, dtype=object)
    quarantined = [{
        "source": "invoice",
        "source_id": ids[i],
        "number": numbers[i],
        "debtor_id": _printable(debtors[i]),
        "kind": reason.kind,
        "reason": str(reason),
    } for i, reason in enumerate(reasons) if reason is not None]
    return ValidatedReceivables(
        invoices=invoices,
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
    for row in records(raw):
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
    for row in records(payments):
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
    for row in records(raw):
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
    for row in records(raw):
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
    for row in records(raw):
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
