"""The collection planner: which step each invoice is due for today, and why.

A pure function of (receivables, segments, credits, holds, ledger, as_of, policy, calendar).
Every invoice considered gets at least one Decision with a reason an auditor can read, including
the ones held back. The numbered rules are those of DESIGN.md ("Planner rules").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from typing import Iterable, Sequence

import pandas as pd

from .calendar import BusinessCalendar
from .arrangements import ESCALATION, Arrangements, HoldKind
from .config import AMICABLE_STEPS, Policy, Segment, SegmentLadder, Step, StepAction
from .delivery_events import AddressFlag
from .legal_fr import LegalTables, is_prescribed, prescription_approaching, prescription_date
from .money import ZERO

__all__ = [
    "Outcome",
    "Channel",
    "LedgerStatus",
    "LedgerEntry",
    "Hold",
    "Decision",
    "MESSAGE_CHANNELS",
    "plan_collection",
    "covering_credits",
    "step_dates",
]


class Outcome(str, Enum):
    send = "send"                            # a message to dispatch (email or letter)
    phone_task = "phone_task"                # a person calls the debtor
    awaiting_approval = "awaiting_approval"  # a manager approves before it goes
    legal_handoff = "legal_handoff"          # the invoice joins the debtor's case in the legal queue
    superseded = "superseded"                # a lower step left behind by catch-up (rule 2)
    deferred = "deferred"                    # over the per-debtor daily limit (rule 10)
    held = "held"                            # nothing today; the reason says why


class Channel(str, Enum):
    email = "email"
    letter = "letter"                        # print queue: debtor without email (rule 8)
    email_and_letter = "email_and_letter"    # formal notice: registered letter plus an email copy
    phone = "phone"
    legal = "legal"


MESSAGE_CHANNELS = frozenset({Channel.email, Channel.letter, Channel.email_and_letter})


class LedgerStatus(str, Enum):
    queued = "queued"              # recorded, not yet handed to the provider (or an operator's task)
    sending = "sending"            # handed to the provider, answer not recorded yet
    sent = "sent"                  # accepted by the provider, or placed in the print queue
    failed = "failed"              # refused or never accepted: tried again by the next run
    skipped = "skipped"            # superseded; never sent
    awaiting_approval = "awaiting_approval"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the actions ledger as the planner needs it."""

    invoice_id: str
    step: Step
    status: LedgerStatus
    channel: Channel
    as_of: date                    # as-of date of the run that last acted on it (rule 9)


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


def step_dates(due_date: date, ladder: SegmentLadder, calendar: BusinessCalendar) -> dict[Step, date]:
    """Rule 1: due date plus the step's days, moved to the next business day."""
    return {
        step: calendar.next_business_day(due_date + timedelta(days=rule.days))
        for step in Step
        if (rule := ladder.rule(step)) is not None
    }


def _done(entry: LedgerEntry) -> bool:
    """A step that must never be done again for this invoice."""
    if entry.status in (LedgerStatus.sent, LedgerStatus.skipped, LedgerStatus.awaiting_approval):
        return True
    return entry.status == LedgerStatus.queued and entry.channel not in MESSAGE_CHANNELS


def _went_out(entry: LedgerEntry | None, by: date) -> bool:
    if entry is None or entry.as_of > by:
        return False
    return entry.status == LedgerStatus.sent or (entry.status == LedgerStatus.queued and entry.channel == Channel.phone)


class _Planner:
    def __init__(self, policy: Policy, calendar: BusinessCalendar, as_of: date, legal: LegalTables | None,
                 address_flags: Sequence[AddressFlag] = ()) -> None:
        self.policy, self.calendar, self.as_of, self.legal = policy, calendar, as_of, legal
        self.address_flags: dict[str, list[AddressFlag]] = defaultdict(list)
        for flag in address_flags:
            self.address_flags[flag.debtor_id].append(flag)

    def _flagged(self, invoice: dict) -> AddressFlag | None:
        """Rule 8 also covers an address that hard-bounced or was dropped, until it is corrected."""
        return next((f for f in self.address_flags.get(invoice["debtor_id"], ()) if f.matches(invoice["email"])), None)

    def invoice(self, invoice: dict, segment: Segment, entries: dict[Step, LedgerEntry],
                holds: Sequence[Hold], covering_credit: str | None, agreed: Arrangements) -> list[Decision]:
        base = dict(invoice_id=invoice["invoice_id"], invoice_number=invoice["number"],
                    debtor_id=invoice["debtor_id"], currency=invoice["currency"],
                    residual=invoice["residual"], due_date=invoice["due_date"], segment=segment.value,
                    prescription_date=prescription_date(invoice["due_date"], invoice["is_consumer"], self.legal)
                    if self.legal is not None else None)

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
            prescribed_on = base["prescription_date"]
            if is_prescribed(invoice["due_date"], invoice["is_consumer"], self.as_of, self.legal):
                return held(f"prescribed on {prescribed_on}: the claim can no longer be enforced, never dunned again")
            handed_off = entries.get(Step.legal_handoff)
            if handed_off is None and prescription_approaching(invoice["due_date"], invoice["is_consumer"],
                                                               self.as_of, self.legal):
                # Losing the claim outweighs the ladder, disputes and holds: a lawyer decides now.
                return [Decision(**base, outcome=Outcome.legal_handoff, channel=Channel.legal,
                                 step=Step.legal_handoff, step_date=self.as_of,
                                 reason=f"prescription approaching: the claim is prescribed on {prescribed_on}")]
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
        dates = step_dates(invoice["due_date"], ladder, self.calendar)
        return self._ladder(base, invoice, ladder, dates, entries, held)

    def _ladder(self, base, invoice, ladder, dates, entries, held) -> list[Decision]:
        as_of, due = self.as_of, invoice["due_date"]
        done = {step for step, e in entries.items() if _done(e)}
        top_done = max((s.rank for s in done), default=-1)
        # A step recorded by a later run (a backfill behind it) is done but proves nothing yet (rule 9).
        obsolete = [s for s, e in entries.items() if s not in done and s.rank < top_done]
        candidates = [
            s for s, d in dates.items()
            if d <= as_of and s not in done and s.rank > top_done and not (s is Step.pre_due and as_of >= due)
        ]
        flag = self._flagged(invoice)
        has_email = invoice["email"] is not None and flag is None
        channel = Channel.email if has_email else Channel.letter   # what a superseded step would have used
        if not candidates:
            return self._superseded(base, obsolete, None, dates, channel) + held(
                *self._nothing_due(ladder, dates, done, due))

        target, note = self._gate(max(candidates, key=lambda s: s.rank), candidates, entries, dates)
        if target is None:
            return self._superseded(base, obsolete, None, dates, channel) + held(note, None, None)
        left_behind = [s for s in candidates if s.rank < target.rank]
        if Step.pre_due in dates and Step.pre_due not in done and as_of >= due and Step.pre_due.rank > top_done \
                and target is not Step.pre_due:
            left_behind.append(Step.pre_due)
        decisions = self._superseded(base, sorted(set(obsolete + left_behind), key=lambda s: s.rank), target, dates,
                                     channel)

        rule = ladder.rule(target)
        broken_on = base.get("broken_promise_on")
        used = ESCALATION[base["segment"]] if broken_on else base["segment"]
        reason = (f"{target.value} due on {dates[target]} ({used} ladder: "
                  f"{rule.days:+d} days from the due date {due})")
        if broken_on:
            reason += f"; the promise to pay of {broken_on} was not kept: one segment stricter than {base['segment']}"
        if note:
            reason += f"; {note}"
        if left_behind:
            reason += "; catch-up: only the highest due step is sent"
        if target is Step.legal_handoff:
            outcome, channel = Outcome.legal_handoff, Channel.legal
        elif rule.action is StepAction.phone_task:
            outcome, channel = Outcome.phone_task, Channel.phone
            reason += "; key account: a person calls instead of a message"
        else:
            if target is Step.formal_notice:
                channel = Channel.email_and_letter if has_email else Channel.letter
            else:
                channel = Channel.email if has_email else Channel.letter
            if flag is not None:
                reason += (f"; email address flagged after {flag.what} on {flag.flagged_on}: sent as a letter "
                           f"(print queue) until the address is corrected")
            elif not has_email:
                reason += "; no email address: sent as a letter (print queue)"
            outcome = Outcome.send
            if rule.action is StepAction.approval:
                outcome = Outcome.awaiting_approval
                reason += "; key account: waits for a manager's approval"
        return decisions + [Decision(**base, outcome=outcome, reason=reason, step=target,
                                     channel=channel, step_date=dates[target])]

    def _gate(self, target: Step, candidates: list[Step], entries: dict[Step, LedgerEntry],
              dates: dict[Step, date]) -> tuple[Step | None, str]:
        """Rules 4 and 5: the formal notice and the legal handoff wait for the step before them."""
        gates = self.policy.gates
        note = ""
        if target is Step.legal_handoff:
            notice = entries.get(Step.formal_notice)
            ready = self.as_of - timedelta(days=gates.legal_handoff_after_formal_notice_days)
            if _went_out(notice, ready):
                return target, f"formal notice sent on {notice.as_of}, {gates.legal_handoff_after_formal_notice_days} days or more ago"
            if notice is not None and _done(notice):
                return None, (f"legal handoff waits: the formal notice ({notice.status.value} on {notice.as_of}) "
                              f"must have gone out {gates.legal_handoff_after_formal_notice_days} days before")
            if Step.formal_notice not in dates:
                return None, "legal handoff waits: this ladder has no formal notice step"
            target, note = Step.formal_notice, "legal handoff needs a formal notice first"
        if target is Step.formal_notice:
            ready = self.as_of - timedelta(days=gates.formal_notice_after_reminder_days)
            reminders = [entries.get(s) for s in AMICABLE_STEPS if s is not Step.pre_due]
            last = max((e for e in reminders if _went_out(e, self.as_of)), key=lambda e: e.as_of, default=None)
            if last is not None and last.as_of <= ready:
                return target, note or (f"last reminder ({last.step.value}) sent on {last.as_of}, "
                                        f"{gates.formal_notice_after_reminder_days} days or more ago")
            amicable = [s for s in candidates if s in AMICABLE_STEPS and s is not Step.pre_due]
            if amicable:
                step = max(amicable, key=lambda s: s.rank)
                return step, (f"the formal notice needs a reminder sent {gates.formal_notice_after_reminder_days} "
                              f"days before it, so {step.value} goes first")
            since = f"last reminder sent on {last.as_of}" if last else "no reminder has gone out"
            return None, (f"formal notice waits: {since}; it needs one sent "
                          f"{gates.formal_notice_after_reminder_days} days before")
        return target, note

    def _superseded(self, base, steps: Iterable[Step], target: Step | None, dates,
                    channel: Channel) -> list[Decision]:
        why = f"superseded by {target.value} (catch-up: only the highest due step is sent)" if target \
            else "superseded: a later step has already been done"
        return [Decision(**base, outcome=Outcome.superseded, reason=why, step=s, step_date=dates.get(s),
                         channel=channel) for s in steps]

    def _nothing_due(self, ladder: SegmentLadder, dates: dict[Step, date], done: set[Step],
                     due: date) -> tuple[str, Step | None, date | None]:
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
    for row in credits.to_dict("records"):
        credit[(row["debtor_id"], row["currency"])] += row["amount"]
    overdue: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    open_total: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in invoices.to_dict("records"):
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


def _apply_daily_limit(decisions: list[Decision], ledger: Sequence[LedgerEntry], as_of: date,
                       limit: int, grouped: bool) -> list[Decision]:
    """Rule 10: at most `limit` messages to one debtor per as-of date, oldest due first."""
    already: dict[str, set] = defaultdict(set)
    debtor_of = {d.invoice_id: d.debtor_id for d in decisions}
    for e in ledger:
        if e.as_of == as_of and e.channel in MESSAGE_CHANNELS and e.status in (LedgerStatus.sent, LedgerStatus.sending) \
                and e.invoice_id in debtor_of:
            already[debtor_of[e.invoice_id]].add((e.step, e.invoice_id) if not grouped else e.step)
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
) -> list[Decision]:
    """Decide today's step for every validated receivable. Pure: reads nothing, writes nothing.

    With `legal` (the French-law tables), prescription comes first: a prescribed invoice is never
    dunned again and one within the approaching window goes to the legal queue whatever its step.
    A debtor whose current email is flagged (hard bounce, drop) is written to instead (rule 8).
    """
    segment_of = {row["debtor_id"]: Segment(row["segment"]) for row in segments.to_dict("records")}
    by_invoice: dict[str, dict[Step, LedgerEntry]] = defaultdict(dict)
    for entry in ledger:
        by_invoice[entry.invoice_id][entry.step] = entry
    covered = covering_credits(invoices, credits, as_of, policy.tolerance)
    planner = _Planner(policy, calendar, as_of, legal, address_flags)
    agreed = arrangements or Arrangements()
    grouped = policy.limits.group_invoices_per_step

    decisions: list[Decision] = []
    ordered = invoices.sort_values(["debtor_id", "due_date", "number"], kind="stable")
    for invoice in ordered.to_dict("records"):
        segment = segment_of.get(invoice["debtor_id"], Segment.standard)
        for d in planner.invoice(invoice, segment, by_invoice.get(invoice["invoice_id"], {}), holds,
                                 covered.get((invoice["debtor_id"], invoice["currency"])), agreed):
            if d.outcome is Outcome.send:
                key = f"{d.debtor_id}|{d.step.value}|{d.currency}|{d.channel.value}" if grouped \
                    else f"{d.invoice_id}|{d.step.value}"
                d = replace(d, group_key=key)
            decisions.append(d)
    return _apply_daily_limit(decisions, ledger, as_of, policy.limits.max_messages_per_debtor_per_day, grouped)
