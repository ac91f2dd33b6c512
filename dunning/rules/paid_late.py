"""Invoices paid in full but late still owe their penalties: the monthly statement that claims them.

Code de commerce L441-10 II: between professionals, late-payment interest runs from the day after
the due date without any reminder, and D441-5 adds a flat 40 EUR recovery indemnity per invoice
paid late. A payment in full after the due date settles the principal, not what the delay cost:
with `policy.claim_paid_late: statement` such invoices are claimed in a statement (relevé de
pénalités de retard), computed by dunning.law_fr.penalties exactly as the reminders compute theirs.

Pure, like the planner. The statement is a step of its own (Step.paid_late_statement), outside the
ladder: it is never escalated (no formal notice, no legal handoff follows it) and it never counts as
a reminder of an open invoice. Its rules, each recorded as a reason when it holds something back:

- businesses only: a consumer owes no such penalties (the query leaves them out; checked again here);
- each invoice is claimed once: its ledger row (invoice, paid_late_statement) is final once queued,
  a failed one is planned again;
- at most one statement per debtor (and currency) per calendar month of the as-of date;
- disputed invoices (in the accounting system or in our disputes) and held ones are not claimed;
- an invoice whose interest and indemnity come to 0.00 or less than `policy.paid_late_min_amount`
  is not claimed; while the rate tables lack tonight's half-year, nothing is;
- rule 10: the statement counts as one message towards the debtor's daily limit, after tonight's
  reminders; over the limit it is deferred to the next night.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence

from dunning.config import CompanyIdentity, Policy, Step
from dunning.law_fr.penalties import LegalTables, invoice_penalty
from dunning.law_fr.statement import InvoicePenalty, PenaltyStatement
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.ladder import Channel, LedgerEntry, LedgerStatus
from dunning.rules.messages import Debtor, InvoiceLine, MessageContext
from dunning.rules.money import ZERO
from dunning.rules.planner import Decision, Hold, Outcome

__all__ = ["PaidLateInvoice", "invoice_claim", "plan_statements", "statement_context",
           "STEP"]

STEP = Step.paid_late_statement
# A row in one of these states claims its invoice for good (queued: planned, about to go out).
_CLAIMED = (LedgerStatus.sent, LedgerStatus.sending, LedgerStatus.queued, LedgerStatus.awaiting_approval)


@dataclass(frozen=True)
class PaidLateInvoice:
    """One invoice paid in full, late, with every payment it received up to the as-of date."""

    invoice_id: str
    number: str
    due_date: date
    currency: str
    amount_total: Decimal
    disputed: bool
    debtor: Debtor
    payments: tuple[tuple[date, Decimal], ...]

    @property
    def late_payments(self) -> tuple[tuple[date, Decimal], ...]:
        return tuple((paid_on, amount) for paid_on, amount in self.payments if paid_on > self.due_date)

    @property
    def paid_on(self) -> date:
        """The day it was settled: its last payment."""
        return max(paid_on for paid_on, _ in self.payments)


def invoice_claim(legal: LegalTables, invoice: PaidLateInvoice, as_of: date,
                  contractual_rate: Decimal | None = None) -> InvoicePenalty:
    """Interest day by day on each day's balance until each late payment, plus the 40 EUR (D441-5):
    the engine's own figures for an invoice whose open principal is now 0.00."""
    return invoice_penalty(legal, number=invoice.number, principal=ZERO, due_date=invoice.due_date, to_date=as_of,
                           is_consumer=False, contractual_rate=contractual_rate, currency=invoice.currency,
                           debtor_id=invoice.debtor.id, payments=invoice.late_payments)


def _claimed_total(claim: InvoicePenalty) -> Decimal:
    return claim.interest + claim.indemnity + claim.separate_eur_indemnity


def plan_statements(invoices: Sequence[PaidLateInvoice], ledger: Sequence[LedgerEntry], holds: Sequence[Hold],
                    disputed_ids: set[str], messages_tonight: Mapping[str, int], as_of: date, policy: Policy,
                    legal: LegalTables, contract_rates: Mapping[str, Decimal],
                    address_flags: Sequence[AddressFlag] = (), rates_missing: str | None = None) -> list[Decision]:
    """Tonight's decisions on the invoices paid late that no statement has claimed yet."""
    claimed = {e.invoice_id: e for e in ledger if e.step is STEP and e.status in _CLAIMED}
    this_month: dict[str, date] = {}
    debtor_of = {i.invoice_id: i.debtor.id for i in invoices}
    for e in claimed.values():
        if (e.as_of.year, e.as_of.month) == (as_of.year, as_of.month) and e.invoice_id in debtor_of:
            this_month[debtor_of[e.invoice_id]] = max(e.as_of, this_month.get(debtor_of[e.invoice_id], e.as_of))
    sent_tonight: dict[str, int] = defaultdict(int, messages_tonight)
    groups_tonight: set[str] = set()
    limit = policy.limits.max_messages_per_debtor_per_day
    decisions = []
    for invoice in sorted(invoices, key=lambda i: (i.debtor.id, i.due_date, i.number)):
        if invoice.invoice_id in claimed:
            continue   # claimed by the statement of that row's date: never again
        debtor = invoice.debtor

        def decide(outcome: Outcome, reason: str, claim: Decimal = ZERO, channel: Channel | None = None,
                   group_key: str | None = None) -> Decision:
            return Decision(invoice_id=invoice.invoice_id, invoice_number=invoice.number, debtor_id=debtor.id,
                            currency=invoice.currency, residual=claim, due_date=invoice.due_date, outcome=outcome,
                            reason=reason, step=STEP, channel=channel, step_date=as_of, group_key=group_key)

        late = f"paid in full on {invoice.paid_on}, after its due date {invoice.due_date}"
        hold = next((h for h in holds if h.covers(debtor.id, invoice.invoice_id, as_of)), None)
        if debtor.is_consumer:
            why = "a consumer owes no late-payment penalties (L441-10 II C. com. is between professionals)"
        elif invoice.disputed or invoice.invoice_id in disputed_ids:
            why = "disputed: its penalties are not claimed while the dispute is open"
        elif hold is not None:
            why = f"on hold ({hold.reason}): its penalties are not claimed"
        elif rates_missing:
            why = f"held until the rate tables are updated: {rates_missing.rstrip('.')}"
        elif debtor.id in this_month:
            why = (f"a penalty statement went to this debtor on {this_month[debtor.id]}: at most one a month, "
                   f"this invoice waits for next month's")
        else:
            why = ""
        if why:
            decisions.append(decide(Outcome.held, f"{late}; {why}"))
            continue
        try:
            claim = invoice_claim(legal, invoice, as_of, contract_rates.get(debtor.id))
        except ValueError as error:   # a rate table that does not reach back to its due date (ConfigError)
            decisions.append(decide(Outcome.held, f"{late}; its penalties cannot be computed: {error}"))
            continue
        owed = _claimed_total(claim)
        if owed == 0:
            decisions.append(decide(Outcome.held, f"{late}; nothing is owed on it: not claimed"))
            continue
        if owed < policy.paid_late_min_amount:
            decisions.append(decide(Outcome.held, f"{late}; its penalties ({owed}) are below "
                                                  f"policy.paid_late_min_amount ({policy.paid_late_min_amount}): "
                                                  f"not claimed"))
            continue
        flagged = any(f.debtor_id == debtor.id and f.matches(debtor.email) for f in address_flags)
        channel = Channel.email if debtor.email and not flagged else Channel.letter
        key = f"{debtor.id}|{STEP.value}|{invoice.currency}|{channel.value}"
        reason = (f"{late}: interest {claim.interest} {invoice.currency} and recovery indemnity "
                  f"{claim.indemnity or claim.separate_eur_indemnity} are owed (L441-10 II, D441-5 C. com.); "
                  f"claimed in this month's penalty statement, never escalated")
        if channel is Channel.letter:
            reason += "; no usable email address: sent as a letter (print queue)"
        if key not in groups_tonight:
            if sent_tonight[debtor.id] >= limit:
                decisions.append(decide(Outcome.deferred, f"{STEP.value} deferred to the next run: at most {limit} "
                                                          f"messages to one debtor per day (rule 10)", owed))
                continue
            sent_tonight[debtor.id] += 1
            groups_tonight.add(key)
        decisions.append(decide(Outcome.send, reason, owed, channel, key))
    return decisions


def statement_context(decisions: Sequence[Decision], invoices: Mapping[str, PaidLateInvoice],
                      company: CompanyIdentity, as_of: date, legal: LegalTables,
                      contract_rates: Mapping[str, Decimal]) -> MessageContext:
    """The statement's content: each invoice, the day it was settled, and its interest and indemnity."""
    claimed = [invoices[d.invoice_id] for d in decisions]
    first = claimed[0]
    lines = tuple(InvoiceLine(number=i.number, issue_date=None, due_date=i.due_date, amount_total=i.amount_total,
                              residual=ZERO, days_overdue=(i.paid_on - i.due_date).days) for i in claimed)
    penalties = PenaltyStatement(computed_to=as_of, currency=first.currency, lines=tuple(
        invoice_claim(legal, i, as_of, contract_rates.get(i.debtor.id)) for i in claimed))
    return MessageContext(step=STEP.value, as_of=as_of, company=company, debtor=first.debtor, invoices=lines,
                          currency=first.currency, penalties=penalties)
