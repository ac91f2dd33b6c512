"""Builders for small, named domain scenarios: typed frames in the shapes the domain functions take.

Every builder fills in a plausible default for what a scenario does not care about, so a test
names only what makes its scenario what it is ("a debtor without email", "an invoice 91 days
overdue"). Money is Decimal and dates are `date`, exactly as dunning.sources.receivables outputs them.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from dunning.config import Policy, Step
from dunning.rules.planner import Channel, LedgerEntry, LedgerStatus
from dunning.sources.config_files import load_settings
from dunning.sources.receivables import RECEIVABLE_COLUMNS

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
OPEN_RECEIVABLES_SQL = REPO / "sql" / "open_receivables.sql"

CREDIT_COLUMNS = ["debtor_id", "debtor_name", "currency", "amount", "source", "reference", "posted_on"]
HISTORY_COLUMNS = ["debtor_id", "invoice_id", "due_date", "last_paid_on", "amount_total", "paid_amount"]
SEGMENT_COLUMNS = ["debtor_id", "segment", "rule", "score"]


def shipped_policy() -> Policy:
    """The policy in config/policy.yaml, as the nightly run loads it."""
    return load_settings(CONFIG_DIR).policy


def eur(amount: str) -> Decimal:
    """Money from its decimal text, never from a float."""
    return Decimal(amount)


def days_before(day: date, days: int) -> date:
    return day - timedelta(days=days)


def days_after(day: date, days: int) -> date:
    return day + timedelta(days=days)


# -- validated receivables (the output of validate_receivables) --------------------------------

def invoice(
    invoice_id: str,
    *,
    due_date: date,
    debtor_id: str = "C-DUPONT",
    number: str | None = None,
    residual: Decimal | str = "1200.00",
    amount_total: Decimal | str | None = None,
    currency: str = "EUR",
    status: str = "posted",
    email: str | None = "compta@dupont-sa.fr",
    debtor_name: str | None = None,
    language: str = "fr",
    is_consumer: bool = False,
    credit_limit: Decimal | str | None = None,
    strategic: bool = False,
    disputed: bool = False,
    disputed_reason: str | None = None,
    issue_date: date | None = None,
) -> dict:
    """One validated receivable row; the total defaults to the residual (nothing paid yet)."""
    residual = Decimal(residual)
    return {
        "invoice_id": invoice_id,
        "number": number or f"F-{invoice_id}",
        "debtor_id": debtor_id,
        "debtor_name": debtor_name or f"{debtor_id} SARL",
        "email": email,
        "language": language,
        "is_consumer": is_consumer,
        "siren": "552100554",
        "address_line": "3 rue des Lilas",
        "postal_code": "69003",
        "city": "Lyon",
        "country": "FR",
        "credit_limit": Decimal(credit_limit) if credit_limit is not None else None,
        "strategic": strategic,
        "status": status,
        "issue_date": issue_date or days_before(due_date, 30),
        "due_date": due_date,
        "currency": currency,
        "amount_total": Decimal(amount_total) if amount_total is not None else residual,
        "residual": residual,
        "disputed": disputed,
        "disputed_reason": disputed_reason,
    }


def receivables(*rows: dict) -> pd.DataFrame:
    """A frame shaped like validate_receivables(...).invoices (object columns, Decimal money)."""
    return pd.DataFrame(list(rows), columns=RECEIVABLE_COLUMNS, dtype=object)


# -- unapplied credits (the output of normalize_credits) ---------------------------------------

def credit_note(debtor_id: str, amount: Decimal | str, *, currency: str = "EUR", reference: str = "AV-0001",
                debtor_name: str | None = None, posted_on: date = date(2026, 1, 1)) -> dict:
    return {"debtor_id": debtor_id, "debtor_name": debtor_name or f"{debtor_id} SARL", "currency": currency,
            "amount": Decimal(amount), "source": "credit_note", "reference": reference, "posted_on": posted_on}


def unallocated_payment(debtor_id: str, amount: Decimal | str, *, currency: str = "EUR",
                        reference: str = "PAY-0001", debtor_name: str | None = None) -> dict:
    return {**credit_note(debtor_id, amount, currency=currency, reference=reference, debtor_name=debtor_name),
            "source": "payment"}


def credits(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=CREDIT_COLUMNS, dtype=object)


def no_credits() -> pd.DataFrame:
    return credits()


# -- payment history (the output of normalize_history) -----------------------------------------

def paid_invoice(debtor_id: str, invoice_id: str, *, due_date: date, days_late: int,
                 amount_total: Decimal | str = "1000.00", paid_amount: Decimal | str | None = None) -> dict:
    """An invoice of the history, last paid `days_late` days after its due date (negative: early)."""
    total = Decimal(amount_total)
    return {"debtor_id": debtor_id, "invoice_id": invoice_id, "due_date": due_date,
            "last_paid_on": days_after(due_date, days_late), "amount_total": total,
            "paid_amount": Decimal(paid_amount) if paid_amount is not None else total}


def paid_on_time_history(debtor_id: str, count: int, *, paid_on_or_before: date, days_late: int = 0,
                         prefix: str = "H") -> list[dict]:
    """`count` invoices fully paid `days_late` days after due, the last one paid on `paid_on_or_before`."""
    return [paid_invoice(debtor_id, f"{prefix}-{debtor_id}-{n}",
                         due_date=days_before(paid_on_or_before, days_late + 20 * n), days_late=days_late)
            for n in range(count)]


def history(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=HISTORY_COLUMNS, dtype=object)


def no_history() -> pd.DataFrame:
    return history()


# -- segments (the output of segment_debtors) --------------------------------------------------

def segment(debtor_id: str, name: str, rule: str = "assigned by the scenario", score: int = 0) -> dict:
    return {"debtor_id": debtor_id, "segment": name, "rule": rule, "score": score}


def segments(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=SEGMENT_COLUMNS, dtype=object)


def everyone_in(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Each debtor of a receivables frame in one segment."""
    return segments(*(segment(debtor_id, name) for debtor_id in sorted(set(frame["debtor_id"]))))


# -- the actions ledger ------------------------------------------------------------------------

_MESSAGE_CHANNEL = {Step.formal_notice: Channel.email_and_letter, Step.legal_handoff: Channel.legal}


def ledger_entry(invoice_id: str, step: Step, status: LedgerStatus, as_of: date,
                 channel: Channel | None = None) -> LedgerEntry:
    return LedgerEntry(invoice_id=invoice_id, step=step, status=status,
                       channel=channel or _MESSAGE_CHANNEL.get(step, Channel.email), as_of=as_of)


def sent(invoice_id: str, step: Step, as_of: date, channel: Channel | None = None) -> LedgerEntry:
    return ledger_entry(invoice_id, step, LedgerStatus.sent, as_of, channel)


def skipped(invoice_id: str, step: Step, as_of: date) -> LedgerEntry:
    return ledger_entry(invoice_id, step, LedgerStatus.skipped, as_of)


def failed(invoice_id: str, step: Step, as_of: date) -> LedgerEntry:
    return ledger_entry(invoice_id, step, LedgerStatus.failed, as_of)


# -- raw accounting rows (what sql/open_receivables.sql returns) -------------------------------

def open_receivables_columns() -> list[str]:
    """The aliases of the SELECT list of sql/open_receivables.sql, in order."""
    sql = OPEN_RECEIVABLES_SQL.read_text(encoding="utf-8")
    select_list = sql.split("SELECT", 1)[1].split("\nFROM", 1)[0]
    return re.findall(r"\bAS\s+(\w+)\s*,?\s*$", select_list, flags=re.MULTILINE)


def raw_receivable(invoice_id: str = "INV-1", **overrides: object) -> dict:
    """A row as the accounting database hands it back (SQLite flavour: text dates, REAL money, 0/1 flags)."""
    row = {
        "invoice_id": invoice_id,
        "number": f"F-{invoice_id}",
        "kind": "invoice",
        "debtor_id": "C-DUPONT",
        "status": "posted",
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "currency": "EUR",
        "amount_total": 1200.0,
        "residual_now": 1200.0,
        "paid_after_as_of": 0,
        "disputed": 0,
        "disputed_reason": None,
        "customer_id": "C-DUPONT",
        "debtor_name": "Dupont SA",
        "email": "compta@dupont-sa.fr",
        "language": "fr",
        "is_consumer": 0,
        "siren": "552100554",
        "address_line": "3 rue des Lilas",
        "postal_code": "69003",
        "city": "Lyon",
        "country": "FR",
        "credit_limit": None,
        "strategic": 0,
    }
    unknown = set(overrides) - set(row)
    if unknown:
        raise KeyError(f"not a column of open_receivables.sql: {sorted(unknown)}")
    return {**row, **overrides}


def raw_receivables(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=open_receivables_columns())
