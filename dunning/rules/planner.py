"""The collection planner: which step each invoice is due for today, and why.

A pure function of (receivables, segments, credits, holds, ledger, as_of, policy, calendar).
Every invoice considered gets at least one Decision with a reason an auditor can read, including
the ones held back. The numbered rules are those of DESIGN.md ("Planner rules"):

- Rule 6 (what gets no message), prescription, disputes, holds, plans and promises come first.
- Rules 1-5, 9 and 11 choose the step (dunning.rules.ladder): a first contact starts at
  `policy.first_contact_step` however old the invoice is, then one step at a time, the formal notice
  and the legal handoff behind their gates, at least `policy.min_days_between_messages` between two
  messages (or phone tasks, or approval requests) for one invoice.
- Rule 8: a debtor without a usable email gets letters.
- Rules 10 and 12: at most `limits.max_messages_per_debtor_per_day` messages to a debtor per day; a
  debtor's formal notices of one day and currency are one registered letter (one message).
- Rule 13: an invoice whose open principal is below `legal.min_principal` (company currency), or in
  another currency, is never handed to the legal queue: it awaits an operator's decision.
- With `rates_missing`, the steps that state penalties to a business are held; the rest goes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Iterable, Sequence

import pandas as pd

from dunning.config import PENALTY_STEPS, Policy, Segment, SegmentLadder, Step, StepAction
from dunning.law_fr.penalties import LegalTables, is_prescribed, prescription_approaching, prescription_date
from dunning.rules.arrangements import ESCALATION, Arrangements, HoldKind
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.frames import records
from dunning.rules.ladder import (
    MESSAGE_CHANNELS, Channel, LedgerEntry, LedgerStatus, StepChoice, choose_step, finished_steps, gate,
    spacing, step_dates,
)
from dunning.rules.money import ZERO, to_money

__all__ = [
    "Outcome",
    "Channel",
    "LedgerStatus",
    "LedgerEntry",
    "Hold",
    "Decision",
    "MESSAGE_CHANNELS",
    "AWAITING_OPERATOR",
    "plan_collection",
    "covering_credits",
    "step_dates",
]

# The reason of a small claim's later nights (rule 13), until an operator decides.
AWAITING_OPERATOR = "the legal handoff awaits an operator's decision"


class Outcome(str, Enum):
    send = "send"                            # a message to dispatch (email or letter)
    phone_task = "phone_task"                # a person calls the debtor
    awaiting_approval = "awaiting_approval"  # a manager approves before it goes; an operator decides (rule 13)
    legal_handoff = "legal_handoff"          # the invoice joins the debtor's case in the legal queue
    superseded = "superseded"                # a due step left below the one chosen, never sent (rules 2, 3)
    deferred = "deferred"                    # over the per-debtor daily limit (rule 10)
    held = "held"                            # nothing today; the reason says why


@dataclass(frozen=True)
class Hold:
    reason: str
    until: date | None = None
    debtor_id: str | None = None
    invoice_id: str | None = None
    kind: HoldKind = HoldKind.manual
    claim_deadline: date | None = None      # collective procedure: declare the claim by then

    def covers(self, debtor_id: str, invoice_id: str, as_of: date) -> bool:
        if self.until is not None and as_of > self.until:
            return False
        return self.invoice_id == invoice_id or (self.invoice_id is None and self.debtor_id == debtor_id)


@dataclass(frozen=True)
class Decision:
    invoice_id: str
    invoice_number: str
    debtor_id: str
    currency: str
    residual: Decimal
    due_date: date
    outcome: Outcome
    reason: str
    step: Step | None = None
    channel: Channel | None = None
    step_date: date | None = None
    segment: str | None = None
    prescription_date: date | None = None   # the last day the claim can be brought to court
    broken_promise_on: date | None = None   # the message says the promise of that date was not kept
    group_key: str | None = field(default=None, compare=False)  # decisions sharing it make one message


class _Planner:
    def __init__(self, policy: Policy, calendar: BusinessCalendar, as_of: date, legal: LegalTables | None,
                 address_flags: Sequence[AddressFlag] = (), company_currency: str = "EUR",
                 rates_missing: str | None = None) -> None:
        self.policy, self.calendar, self.as_of, self.legal = policy, calendar, as_of, legal
        self.company_currency, self.rates_missing = company_currency, rates_missing
        self.grouped = policy.limits.group_invoices_per_step
        self.address_flags: dict[str, list[AddressFlag]] = defaultdict(list)
        for flag in address_flags:
            self.address_flags[flag.debtor_id].append(flag)
        # What depends only on the due date (and the ladder, or the kind of debtor) is worked out once
        # per value: a night's invoices share a few hundred due dates.
        self._dates: dict[tuple[date, Segment], dict[Step, date]] = {}
        self._first_choices: dict[tuple[date, Segment], StepChoice] = {}
        self._prescription: dict[tuple[date, bool], tuple[date, bool, bool]] = {}

    def _step_dates(self, due: date, segment: Segment) -> dict[Step, date]:
        key = (due, segment)
        if key not in self._dates:
            self._dates[key] = step_dates(due, self.policy.ladder.for_segment(segment), self.calendar)
        return self._dates[key]

    def _choose(self, dates: dict[Step, date], entries: dict[Step, LedgerEntry], due: date,
                segment: Segment) -> StepChoice:
        """choose_step, once per due date and ladder for the invoices nothing was recorded for yet."""
        if entries:
            return choose_step(dates, entries, self.as_of, due, self.policy.first_contact_step)
        key = (due, segment)
        if key not in self._first_choices:
            self._first_choices[key] = choose_step(dates, entries, self.as_of, due, self.policy.first_contact_step)
        return self._first_choices[key]

    def _prescription_of(self, due: date, is_consumer: bool) -> tuple[date, bool, bool]:
        """(prescription date, prescribed, approaching) of a due date for this kind of debtor."""
        key = (due, is_consumer)
        if key not in self._prescription:
            self._prescription[key] = (prescription_date(due, is_consumer, self.legal),
                                       is_prescribed(due, is_consumer, self.as_of, self.legal),
                                       prescription_approaching(due, is_consumer, self.as_of, self.legal))
        return self._prescription[key]

    def _flagged(self, invoice: dict) -> AddressFlag | None:
        """Rule 8 also covers an address that hard-bounced or was dropped, until it is corrected."""
        return next((f for f in self.address_flags.get(invoice["debtor_id"], ()) if f.matches(invoice["email"])), None)

    def invoice(self, invoice: dict, segment: Segment, entries: dict[Step, LedgerEntry],
                holds: Sequence[Hold], covering_credit: str | None, agreed: Arrangements) -> list[Decision]:
        prescribed_on, prescribed, approaching = (self._prescription_of(invoice["due_date"], invoice["is_consumer"])
                                                  if self.legal is not None else (None, False, False))
        base = dict(invoice_id=invoice["invoice_id"], invoice_number=invoice["number"],
                    debtor_id=invoice["debtor_id"], currency=invoice["currency"],
                    residual=invoice["residual"], due_date=invoice["due_date"], segment=segment.value,
                    prescription_date=prescribed_on)

        def held(reason: str, step: Step | None = None, step_date: date | None = None) -> list[Decision]:
            return [Decision(**base, outcome=Outcome.held, reason=reason, step=step, step_date=step_date)]

        # Rule 6: what gets no message at all.
        if invoice["status"] != "posted":
            return held(f"{invoice['status']} invoice: only posted invoices are chased")
        if invoice["residual"] <= self.policy.tolerance:
            return held(f"residual {invoice['residual']} is at or below the tolerance {self.policy.tolerance}")
        holding = next((h for h in holds if h.covers(invoice["debtor_id"], invoice["invoice_id"], self.as_of)), None)
        if holding is not None and holding.kind is HoldKind.collective_procedure:
            # A procédure collective freezes individual action: no message, no court, a declaration.
            return held(f"collective procedure (procédure collective): no reminder and no legal handoff; declare "
                        f"the claim to the mandataire judiciaire by {holding.claim_deadline} - {holding.reason}")
        if self.legal is not None:
            if prescribed:
                return held(f"prescribed on {prescribed_on}: the claim can no longer be enforced, never dunned again")
            handed_off = entries.get(Step.legal_handoff)
            if handed_off is None and approaching:
                # Losing the claim outweighs the ladder, disputes and holds: a lawyer decides now,
                # or for a small claim an operator (rule 13).
                reason = f"prescription approaching: the claim is prescribed on {prescribed_on}"
                return [self._handoff(base, invoice, reason, self.as_of)]
        dispute = agreed.disputes.get(invoice["invoice_id"])
        if dispute is not None:
            note = f": {dispute.note}" if dispute.note else ""
            return held(f"disputed ({dispute.reason.value}) since {dispute.opened_on}{note}")
        if invoice["disputed"]:
            detail = f": {invoice['disputed_reason']}" if invoice["disputed_reason"] else ""
            return held(f"disputed in the accounting system{detail}")
        if holding is not None:
            until = f" until {holding.until}" if holding.until else ""
            return held(f"on hold{until}: {holding.reason}")
        plan = next((p for p in agreed.plans if invoice["invoice_id"] in p.invoice_ids), None)
        if plan is not None:
            return held(f"in payment plan {plan.id}: held while its installments are honoured")
        promise = next((p for p in agreed.promises if invoice["invoice_id"] in p.invoice_ids
                        and self.as_of <= p.pause_until), None)
        if promise is not None:
            return held(f"promise to pay {promise.amount} {invoice['currency']} on {promise.promised_on}: "
                        f"reminders wait until {promise.pause_until}")
        if covering_credit is not None:
            return held(covering_credit)
        sending = [e for e in entries.values() if e.status == LedgerStatus.sending]
        if sending:
            e = sending[0]
            return held(f"the {e.step.value} send started by the run of {e.as_of} was never confirmed: "
                        f"check with the provider before anything else goes out")

        broken_on = agreed.broken_promises.get(invoice["debtor_id"])
        if broken_on is not None:
            # A broken promise: the next step follows the next stricter ladder, and says so.
            segment = Segment(ESCALATION[segment.value])
            base["broken_promise_on"] = broken_on
        ladder = self.policy.ladder.for_segment(segment)
        dates = self._step_dates(invoice["due_date"], segment)
        return self._ladder(base, invoice, segment, ladder, dates, entries, held)

    def _ladder(self, base, invoice, segment: Segment, ladder: SegmentLadder, dates: dict[Step, date],
                entries: dict[Step, LedgerEntry], held) -> list[Decision]:
        """Rules 1-5, 9 and 11 (dunning.rules.ladder), then the step's channel (rule 8) and outcome.

        First contact at `policy.first_contact_step`, then at most one step above the highest one
        done; due steps left below are superseded with the reason. A formal notice waits for the
        ladder's last amicable step to have gone out (rule 4), a legal handoff for the formal notice
        (rule 5), any new message for the spacing (rule 11). A held step supersedes nothing: it is
        planned again by the next run.
        """
        as_of, due = self.as_of, invoice["due_date"]
        choice = self._choose(dates, entries, due, segment)
        flag = self._flagged(invoice)
        has_email = invoice["email"] is not None and flag is None
        channel = Channel.email if has_email else Channel.letter   # what a superseded step would have used
        obsolete = self._superseded(base, [(s, "superseded: a later step has already been done")
                                           for s in choice.obsolete], dates, channel)
        target = choice.target
        if target is None:
            if choice.waits:
                return obsolete + held(choice.waits)
            return obsolete + held(*self._nothing_due(ladder, dates, entries, due))
        opened, note = gate(target, dates, entries, as_of, self.policy.gates)
        if not opened:
            return obsolete + held(note, target, dates[target])
        if target is not Step.legal_handoff:
            too_soon = spacing(entries, as_of, self.policy.min_days_between_messages)
            if too_soon:
                return obsolete + held(f"{target.value} waits: {too_soon}", target, dates[target])

        rule = ladder.rule(target)
        broken_on = base.get("broken_promise_on")
        used = ESCALATION[base["segment"]] if broken_on else base["segment"]
        reason = (f"{target.value} due on {dates[target]} ({used} ladder: "
                  f"{rule.days:+d} days from the due date {due})")
        if broken_on:
            reason += f"; the promise to pay of {broken_on} was not kept: one segment stricter than {base['segment']}"
        for extra in (*choice.notes, note):
            if extra:
                reason += f"; {extra}"
        passed = self._superseded(base, choice.passed, dates, channel)
        if target is Step.legal_handoff:
            return passed + obsolete + [self._handoff(base, invoice, reason, dates[target])]
        if rule.action is StepAction.phone_task:
            return passed + obsolete + [Decision(**base, outcome=Outcome.phone_task, step=target, channel=Channel.phone,
                                                 step_date=dates[target],
                                                 reason=reason + "; key account: a person calls instead of a message")]
        if target is Step.formal_notice:
            channel = Channel.email_and_letter if has_email else Channel.letter
        if flag is not None:
            reason += (f"; email address flagged after {flag.what} on {flag.flagged_on}: sent as a letter "
                       f"(print queue) until the address is corrected")
        elif not has_email:
            reason += "; no email address: sent as a letter (print queue)"
        outcome = Outcome.send
        if rule.action is StepAction.approval:
            outcome = Outcome.awaiting_approval
            reason += "; key account: waits for a manager's approval"
        if self.rates_missing and target in PENALTY_STEPS and not invoice["is_consumer"]:
            # The message would state penalties no table covers: it waits, and supersedes nothing yet.
            return obsolete + held(f"held until the rate tables are updated: {self.rates_missing.rstrip('.')}; "
                                   f"{target.value} states late-payment penalties to a business", target,
                                   dates[target])
        return passed + obsolete + [Decision(**base, outcome=outcome, reason=reason, step=target,
                                             channel=channel, step_date=dates[target],
                                             group_key=_group_key(base, target, channel, self.grouped)
                                             if outcome is Outcome.send else None)]

    def _handoff(self, base: dict, invoice: dict, reason: str, step_date: date) -> Decision:
        """Rule 13: the legal queue, unless the sum is small or cannot be compared: then an operator decides."""
        decide = "waits for an operator's decision (write-off, payment plan, or handoff anyway)"
        currency, threshold = invoice["currency"], to_money(self.policy.legal.min_principal)
        small = None
        if currency != self.company_currency:
            small = (f"no small-claim threshold applies to {currency}: legal.min_principal is in "
                     f"{self.company_currency} and no exchange rate is kept, so the legal handoff {decide}")
        elif invoice["residual"] < threshold:
            small = (f"small claim: open principal {invoice['residual']} {currency} is below legal.min_principal "
                     f"{threshold} {self.company_currency}: {decide}")
        if small is None:
            return Decision(**base, outcome=Outcome.legal_handoff, channel=Channel.legal, step=Step.legal_handoff,
                            step_date=step_date, reason=reason)
        return Decision(**base, outcome=Outcome.awaiting_approval, channel=Channel.legal, step=Step.legal_handoff,
                        step_date=step_date, reason=f"{small}; {reason}")

    def _superseded(self, base, steps: Iterable[tuple[Step, str]], dates, channel: Channel) -> list[Decision]:
        return [Decision(**base, outcome=Outcome.superseded, reason=why, step=s, step_date=dates.get(s),
                         channel=channel) for s, why in steps]

    def _nothing_due(self, ladder: SegmentLadder, dates: dict[Step, date], entries: dict[Step, LedgerEntry],
                     due: date) -> tuple[str, Step | None, date | None]:
        done = finished_steps(entries)
        handoff = entries.get(Step.legal_handoff)
        if handoff is not None and handoff.status is LedgerStatus.awaiting_approval:
            return (f"{AWAITING_OPERATOR} since {handoff.as_of} (rule 13)", Step.legal_handoff,
                    handoff.as_of)
        upcoming = [(d, s) for s, d in dates.items()
                    if s not in done and d > self.as_of and not (s is Step.pre_due and self.as_of >= due)]
        if upcoming:
            when, step = min(upcoming, key=lambda pair: pair[1].rank)
            return f"nothing due today: next step {step.value} on {when}", step, when
        if ladder.legal_handoff is None and Step.legal_handoff not in done:
            return "ladder complete: this segment is never handed to legal automatically", None, None
        return "ladder complete: every step has been done", None, None


def covering_credits(invoices: pd.DataFrame, credits: pd.DataFrame, as_of: date,
                      tolerance: Decimal) -> dict[tuple[str, str], str]:
    """(debtor, currency) whose unapplied credit covers what they owe, with the reason in words.

    Covered means: the credit pays the whole overdue total, and there is something overdue or the
    credit pays everything open. A small credit note must not silence a courtesy reminder on a
    large invoice not yet due.
    """
    credit: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in records(credits):
        credit[(row["debtor_id"], row["currency"])] += row["amount"]
    overdue: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    open_total: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in records(invoices):
        if row["status"] == "posted" and row["residual"] > tolerance:
            key = (row["debtor_id"], row["currency"])
            open_total[key] += row["residual"]
            if row["due_date"] < as_of:
                overdue[key] += row["residual"]
    covered = {}
    for key, amount in credit.items():
        currency = key[1]
        if amount <= 0 or amount < overdue[key]:
            continue
        if overdue[key] > 0:
            covered[key] = (f"unapplied credit {amount} {currency} covers the overdue total {overdue[key]} "
                            f"{currency}: to be allocated, not chased")
        elif amount >= open_total[key]:
            covered[key] = (f"unapplied credit {amount} {currency} covers everything open ({open_total[key]} "
                            f"{currency}): to be allocated, not chased")
    return covered


def _group_key(base: dict, step: Step, channel: Channel, grouped: bool) -> str:
    """The group_key of a send: decisions sharing one make one message.

    Rule 12, whatever `grouped` says: a debtor's formal notices of one day and currency are one
    registered letter (and one email copy) listing every invoice. Otherwise one message per invoice,
    or per debtor, step, currency and channel when `grouped`.
    """
    if step is Step.formal_notice:
        return f"{base['debtor_id']}|{step.value}|{base['currency']}"
    if grouped:
        return f"{base['debtor_id']}|{step.value}|{base['currency']}|{channel.value}"
    return f"{base['invoice_id']}|{step.value}"


def _one_notice_channel(decisions: list[Decision]) -> list[Decision]:
    """Rule 12: the formal notices of one letter go on one channel, with an email copy if any has one."""
    with_copy = {(d.debtor_id, d.currency) for d in decisions
                 if d.outcome is Outcome.send and d.step is Step.formal_notice and d.channel is Channel.email_and_letter}
    if not with_copy:
        return decisions
    return [replace(d, channel=Channel.email_and_letter)
            if d.outcome is Outcome.send and d.step is Step.formal_notice and d.channel is not Channel.email_and_letter
            and (d.debtor_id, d.currency) in with_copy else d for d in decisions]


def _apply_daily_limit(decisions: list[Decision], ledger: Sequence[LedgerEntry], as_of: date,
                       limit: int, grouped: bool) -> list[Decision]:
    """Rule 10: at most `limit` messages to one debtor per as-of date, oldest due first.

    A group (one group_key) is one message; so are the formal notices already sent today (rule 12).
    """
    already: dict[str, set] = defaultdict(set)
    debtor_of = {d.invoice_id: d.debtor_id for d in decisions}
    for e in ledger:
        if e.as_of == as_of and e.channel in MESSAGE_CHANNELS and e.status in (LedgerStatus.sent, LedgerStatus.sending) \
                and e.invoice_id in debtor_of:
            one_letter = grouped or e.step is Step.formal_notice
            already[debtor_of[e.invoice_id]].add(e.step if one_letter else (e.step, e.invoice_id))
    messages: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for index, d in enumerate(decisions):
        if d.outcome is Outcome.send:
            messages[d.debtor_id].setdefault(d.group_key, []).append(index)
    result = list(decisions)
    for debtor_id, groups in messages.items():
        room = max(limit - len(already[debtor_id]), 0)
        ordered = sorted(groups.values(), key=lambda idx: min((decisions[i].due_date, decisions[i].invoice_number) for i in idx))
        for rank, indexes in enumerate(ordered):
            if rank < room:
                continue
            for i in indexes:
                d = decisions[i]
                result[i] = replace(d, outcome=Outcome.deferred, reason=(
                    f"{d.step.value} deferred to the next run: at most {limit} messages to one debtor per day "
                    f"(rule 10), older invoices first"))
    return result


def plan_collection(
    invoices: pd.DataFrame,
    segments: pd.DataFrame,
    credits: pd.DataFrame,
    holds: Sequence[Hold],
    ledger: Sequence[LedgerEntry],
    as_of: date,
    policy: Policy,
    calendar: BusinessCalendar,
    legal: LegalTables | None = None,
    arrangements: Arrangements | None = None,
    address_flags: Sequence[AddressFlag] = (),
    company_currency: str = "EUR",
    rates_missing: str | None = None,
) -> list[Decision]:
    """Decide today's step for every validated receivable. Pure: reads nothing, writes nothing.

    With `legal` (the French-law tables), prescription comes first: a prescribed invoice is never
    dunned again and one within the approaching window goes to the legal queue whatever its step
    (or, for a small claim, awaits an operator: rule 13, whose threshold is in `company_currency`).
    A debtor whose current email is flagged (hard bounce, drop) is written to instead (rule 8).
    `rates_missing` (why the rate tables do not cover today) holds every message that would state
    penalties to a business; consumers' messages, phone tasks and the legal queue go on.
    """
    segment_of = {row["debtor_id"]: Segment(row["segment"]) for row in records(segments)}
    by_invoice: dict[str, dict[Step, LedgerEntry]] = defaultdict(dict)
    for entry in ledger:
        # A penalty statement (an invoice paid late, reopened since) is not a rung of the ladder.
        if entry.step is not Step.paid_late_statement:
            by_invoice[entry.invoice_id][entry.step] = entry
    covered = covering_credits(invoices, credits, as_of, policy.tolerance)
    planner = _Planner(policy, calendar, as_of, legal, address_flags, company_currency, rates_missing)
    agreed = arrangements or Arrangements()
    grouped = policy.limits.group_invoices_per_step

    decisions: list[Decision] = []
    ordered = invoices.sort_values(["debtor_id", "due_date", "number"], kind="stable")
    for invoice in records(ordered):
        segment = segment_of.get(invoice["debtor_id"], Segment.standard)
        decisions += planner.invoice(invoice, segment, by_invoice.get(invoice["invoice_id"], {}), holds,
                                     covered.get((invoice["debtor_id"], invoice["currency"])), agreed)
    decisions = _one_notice_channel(decisions)
    return _apply_daily_limit(decisions, ledger, as_of, policy.limits.max_messages_per_debtor_per_day, grouped)
