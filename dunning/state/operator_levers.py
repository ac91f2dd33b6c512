"""The operator's levers from what an operator types to what the state store records.

Operators name invoices by number; the accounting database says which invoice, which debtor,
which currency and what is still open. The CLI and the lever flows both call these functions,
so a lever behaves the same wherever it is pulled. No Prefect here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Sequence

from dunning.config import Step
from dunning.rules.arrangements import (
    DisputeOutcome, DisputeReason, HoldKind, Installment, claim_declaration_deadline,
)
from dunning.rules.frames import records
from dunning.rules.legal_queue import CaseRequest
from dunning.rules.money import ZERO, to_money
from dunning.rules.planner import Channel, Decision, Outcome
from dunning.sources.accounting import AccountingSource
from dunning.state.levers import LeverRefused, LeverStore
from dunning.state.store import Trace

__all__ = [
    "OperatorDisputeReason", "OperatorDisputeOutcome", "InvoiceRef", "LeverResult", "LeverRefused", "UnknownInvoice",
    "UnknownDebtor", "parse_amount", "parse_date", "parse_installment", "split_numbers", "resolve_invoices",
    "open_dispute", "close_dispute", "add_promise", "create_plan", "add_hold", "release_hold", "hand_over_small_claim",
]


# The reasons and outcomes an operator may choose: the domain's, less the two only a run records
# (a dispute the accounting system flagged, and the flag cleared). One list: dunning.rules.arrangements.
OperatorDisputeReason = Enum("OperatorDisputeReason", {
    reason.name: reason.value for reason in DisputeReason if reason is not DisputeReason.accounting_flag}, type=str)
OperatorDisputeOutcome = Enum("OperatorDisputeOutcome", {
    outcome.name: outcome.value for outcome in DisputeOutcome if outcome is not DisputeOutcome.flag_cleared}, type=str)


class UnknownInvoice(LookupError):
    """An invoice number the accounting database does not know."""


class UnknownDebtor(LookupError):
    """A debtor id the accounting database does not know."""


@dataclass(frozen=True)
class InvoiceRef:
    """One invoice as the accounting database has it now."""

    invoice_id: str
    number: str
    debtor_id: str
    currency: str
    residual: Decimal
    kind: str
    status: str
    due_date: date | None = None


@dataclass(frozen=True)
class LeverResult:
    """What a lever recorded: its id and the sentence that tells the operator."""

    id: int
    message: str
    claim_deadline: date | None = None     # collective procedure: declare the claim by then


# -- what an operator types ------------------------------------------------------------------
def parse_amount(value: str | Decimal | int, what: str = "amount") -> Decimal:
    """A positive amount with at most two decimals, never through float."""
    text = value if isinstance(value, Decimal) else str(value).strip()
    try:
        # No comma at all: "1,200" could be 1200 or 1.20, and a wrong guess is a wrong promise.
        amount = Decimal(text) if "," not in str(text) else None
    except InvalidOperation:
        amount = None
    if amount is None:
        raise ValueError(f"{what} must be an amount such as 1200.00 (a dot before the cents, no thousands "
                         f"separator), got {value!r}")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{what} must be a positive amount such as 1200.00, got {value!r}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{what} has more than two decimals: {value!r}")
    return to_money(amount)


def parse_date(value: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from None


def parse_installment(value: str) -> tuple[date, Decimal]:
    """'2026-04-30:600.00' -> (due date, amount)."""
    due, sep, amount = value.partition(":")
    if not sep:
        raise ValueError(f"an installment is DATE:AMOUNT such as 2026-04-30:600.00, got {value!r}")
    return parse_date(due, "an installment's date"), parse_amount(amount, "an installment's amount")


def split_numbers(value: str | Sequence[str]) -> list[str]:
    """'FA-1, FA-2' or ['FA-1', 'FA-2'] -> ['FA-1', 'FA-2']."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    numbers = [p.strip() for p in parts if p and p.strip()]
    if not numbers:
        raise ValueError("name at least one invoice number")
    return numbers


# -- the accounting database ------------------------------------------------------------------
def resolve_invoices(source: AccountingSource, numbers: Sequence[str]) -> list[InvoiceRef]:
    """The invoices these numbers name, in the order given; an unknown number is an error."""
    rows = source.invoices_by_number(list(dict.fromkeys(numbers)))
    shared = rows[rows["number"].duplicated(keep=False)]
    if not shared.empty:
        number = shared["number"].iloc[0]
        ids = ", ".join(str(i) for i in shared.loc[shared["number"] == number, "invoice_id"])
        raise LeverRefused(f"invoice number {number} names several documents in the accounting database (ids "
                           f"{ids}): correct the numbering there first; nothing was recorded")
    found = {
        r["number"]: InvoiceRef(invoice_id=str(r["invoice_id"]), number=r["number"], debtor_id=str(r["customer_id"]),
                                currency=r["currency"], residual=to_money(r["amount_residual"]), kind=r["kind"],
                                status=r["status"], due_date=_day(r["due_date"]))
        for r in records(rows)
    }
    unknown = [n for n in numbers if n not in found]
    if unknown:
        raise UnknownInvoice(f"unknown invoice number{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                             f"not in the accounting database")
    return [found[n] for n in numbers]


def _day(value) -> date | None:
    """A date column as the driver gives it (SQLite: text), or None."""
    if value is None or (isinstance(value, float) and value != value):   # NULL, or NaN from pandas
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _one_invoice(source: AccountingSource, number: str) -> InvoiceRef:
    [invoice] = resolve_invoices(source, [number.strip()])
    if invoice.kind != "invoice":
        raise LeverRefused(f"{invoice.number} is a {invoice.kind}, not an invoice")
    return invoice


def _debtors_open_invoices(source: AccountingSource, debtor_id: str, numbers: Sequence[str]) -> list[InvoiceRef]:
    """The debtor's posted invoices with something left to pay, all in one currency."""
    invoices = resolve_invoices(source, numbers)
    for invoice in invoices:
        if invoice.debtor_id != debtor_id:
            raise LeverRefused(f"invoice {invoice.number} is debtor {invoice.debtor_id}'s, not {debtor_id}'s")
        if invoice.kind != "invoice" or invoice.status != "posted":
            raise LeverRefused(f"{invoice.number} is a {invoice.status} {invoice.kind}: only posted invoices are owed")
        if invoice.residual <= ZERO:
            raise LeverRefused(f"invoice {invoice.number} has nothing left to pay")
    currencies = sorted({i.currency for i in invoices})
    if len(currencies) > 1:
        raise LeverRefused(f"the invoices are in {' and '.join(currencies)}: one currency per promise or plan")
    return invoices


# -- the levers --------------------------------------------------------------------------------
def open_dispute(store: LeverStore, source: AccountingSource, trace: Trace, number: str,
                 reason: OperatorDisputeReason, note: str, on: date) -> LeverResult:
    invoice = _one_invoice(source, number)
    reason = DisputeReason(OperatorDisputeReason(reason).value)
    dispute_id = store.open_dispute(trace, invoice.invoice_id, invoice.number, invoice.debtor_id, reason, note, on)
    return LeverResult(dispute_id, f"Dispute {dispute_id} opened on invoice {invoice.number} ({reason.value}): "
                                   f"no reminder goes out on it until the dispute is closed.")


def close_dispute(store: LeverStore, source: AccountingSource, trace: Trace, number: str,
                  outcome: OperatorDisputeOutcome, note: str, on: date) -> LeverResult:
    invoice = _one_invoice(source, number)
    outcome = DisputeOutcome(OperatorDisputeOutcome(outcome).value)
    try:
        dispute_id = store.close_dispute(trace, invoice.invoice_id, outcome, note, on)
    except LookupError:
        raise LookupError(f"invoice {invoice.number} has no open dispute") from None
    return LeverResult(dispute_id, f"Dispute {dispute_id} on invoice {invoice.number} closed ({outcome.value}): "
                                   f"collection resumes at the step due by now.")


def add_promise(store: LeverStore, source: AccountingSource, trace: Trace, debtor_id: str, numbers: Sequence[str],
                amount: Decimal | str, promised_on: date, grace_days: int, note: str, on: date) -> LeverResult:
    amount = parse_amount(amount)
    invoices = _debtors_open_invoices(source, debtor_id, split_numbers(numbers))
    owed = sum((i.residual for i in invoices), ZERO)
    currency = invoices[0].currency
    if amount > owed:
        raise LeverRefused(f"the promise ({amount} {currency}) is more than the invoices still owe ({owed} {currency})")
    promise_id = store.add_promise(trace, debtor_id, [(i.invoice_id, i.number) for i in invoices], amount, currency,
                                   promised_on, grace_days, note, on)
    return LeverResult(promise_id, f"Promise {promise_id}: debtor {debtor_id} pays {amount} {currency} on "
                                   f"{promised_on} for {', '.join(i.number for i in invoices)}; reminders on them wait "
                                   f"until {promised_on} + {grace_days} days.")


def create_plan(store: LeverStore, source: AccountingSource, trace: Trace, debtor_id: str, numbers: Sequence[str],
                installments: Sequence[tuple[date, Decimal]], grace_days: int, note: str, on: date) -> LeverResult:
    """The plan covers what the invoices still owe today, per the accounting database."""
    invoices = _debtors_open_invoices(source, debtor_id, split_numbers(numbers))
    schedule = [Installment(seq, due, parse_amount(amount, "an installment's amount"))
                for seq, (due, amount) in enumerate(installments, start=1)]
    currency = invoices[0].currency
    plan_id = store.create_plan(trace, debtor_id, currency, [(i.invoice_id, i.number, i.residual) for i in invoices],
                                schedule, grace_days, note, on)
    total = sum((i.residual for i in invoices), ZERO)
    return LeverResult(plan_id, f"Payment plan {plan_id} for debtor {debtor_id}: {total} {currency} over "
                                f"{len(schedule)} installments, first {schedule[0].amount} on {schedule[0].due_date}; "
                                f"invoices {', '.join(i.number for i in invoices)} are held while it is honoured.")


def add_hold(store: LeverStore, source: AccountingSource, trace: Trace, *, debtor_id: str | None = None,
             invoice_number: str | None = None, until: date | None = None, reason: str,
             collective_procedure: bool = False, bodacc_published_on: date | None = None, on: date) -> LeverResult:
    if (debtor_id is None) == (invoice_number is None):
        raise LeverRefused("hold a debtor or one invoice: give exactly one of them")
    invoice = None
    if invoice_number is not None:
        [invoice] = resolve_invoices(source, [invoice_number.strip()])
    elif source.customers_by_id([debtor_id]).empty:
        raise UnknownDebtor(f"unknown debtor {debtor_id}: not a customer in the accounting database")
    kind = HoldKind.collective_procedure if collective_procedure else HoldKind.manual
    hold_id = store.add_hold(trace, debtor_id=debtor_id, invoice_id=invoice.invoice_id if invoice else None,
                             invoice_number=invoice.number if invoice else None, until=until, reason=reason,
                             kind=kind, bodacc_published_on=bodacc_published_on, on=on)
    target = f"debtor {debtor_id}" if invoice is None else f"invoice {invoice.number}"
    span = f" until {until}" if until else " until released"
    if kind is not HoldKind.collective_procedure:
        return LeverResult(hold_id, f"Hold {hold_id} on {target}{span}.")
    deadline = claim_declaration_deadline(bodacc_published_on)   # as the store recorded it
    late = (" That date is past: ask the juge-commissaire to be relieved of the time bar (relevé de forclusion)."
            if deadline < on else "")
    suspended = store.suspended_cases(debtor_id)
    cases = (f" Legal case(s) {', '.join(map(str, suspended))} suspended: the next run writes the claim declaration "
             "instead of the injonction de payer dossier." if suspended else "")
    return LeverResult(hold_id, f"Hold {hold_id} on {target}{span}: collective procedure, no reminder and no legal "
                                f"handoff. Declare the claim to the mandataire judiciaire by {deadline} (two months "
                                f"from the BODACC publication of {bodacc_published_on}).{late}{cases}",
                       claim_deadline=deadline)


def hand_over_small_claim(store: LeverStore, source: AccountingSource, trace: Trace, number: str, note: str,
                          on: date) -> LeverResult:
    """Hand an invoice below legal.min_principal to the legal queue anyway: the operator's call (rule 13)."""
    invoice = _one_invoice(source, number)
    if invoice.status != "posted" or invoice.residual <= ZERO or invoice.due_date is None:
        raise LeverRefused(f"invoice {invoice.number} has nothing left to claim ({invoice.status}, "
                           f"{invoice.residual} {invoice.currency} open)")
    [customer] = records(source.customers_by_id([invoice.debtor_id]))
    decision = Decision(invoice_id=invoice.invoice_id, invoice_number=invoice.number, debtor_id=invoice.debtor_id,
                        currency=invoice.currency, residual=invoice.residual, due_date=invoice.due_date,
                        outcome=Outcome.legal_handoff, step=Step.legal_handoff, channel=Channel.legal,
                        reason=f"small claim of {invoice.residual} {invoice.currency}")
    request = CaseRequest(debtor_id=invoice.debtor_id, debtor_name=customer["name"], currency=invoice.currency,
                          decisions=(decision,), is_consumer=bool(customer["is_consumer"]))
    case_id, opened = store.hand_over_anyway(trace, on, request, note)
    return LeverResult(case_id, f"Invoice {invoice.number} ({invoice.residual} {invoice.currency}) handed to legal "
                                f"case {case_id} ({'opened' if opened else 'extended'}); its dossier is written by "
                                f"the next run.")


def release_hold(store: LeverStore, trace: Trace, hold_id: int, note: str) -> LeverResult:
    resumed = store.release_hold(trace, hold_id, note)
    cases = f" Legal case(s) {', '.join(map(str, resumed))} back in the legal queue." if resumed else ""
    return LeverResult(hold_id, f"Hold {hold_id} released: collection resumes at the step due by now.{cases}")
