"""The collection ladder: which step an invoice has reached, and which one may go next.

Pure rules over one invoice's ledger entries; the planner (dunning.rules.planner) turns the step chosen
into a decision with its channel and outcome. Numbered as DESIGN.md's "Planner rules":

- Rule 1: a step's date is the due date plus its days, moved to the next business day; a run on
  date D considers the steps dated on or before D that are not done.
- Rule 2: the ladder is climbed, never jumped. An invoice no reminder ever went out for (a pre_due
  courtesy message is not a reminder) starts at `policy.first_contact_step`, however old it is;
  pre_due goes first while it is not yet due. After that the step is the highest one due today, but
  never beyond the next step of the debtor's current ladder above the highest step done (a step that
  ladder does not have counts as passed; a step stopped before it was sent does not). Due steps left
  below the one chosen are superseded.
- Rule 3: pre_due only while D is before the due date.
- Rule 4: the formal notice needs the ladder's last amicable step to have gone out at least
  `gates.formal_notice_after_reminder_days` before.
- Rule 5: the legal handoff needs the formal notice to have gone out at least
  `gates.legal_handoff_after_formal_notice_days` before.
- Rule 9: durations count in as-of dates of the runs; what a later run recorded (a backfill
  behind it) is done, never redone, but proves nothing yet.
- Rule 11: no new message for an invoice less than `policy.min_days_between_messages` after the
  previous one that went out for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from dunning.config import AMICABLE_STEPS, Gates, SegmentLadder, Step
from dunning.rules.calendar import BusinessCalendar

__all__ = [
    "Channel",
    "LedgerStatus",
    "LedgerEntry",
    "MESSAGE_CHANNELS",
    "StepChoice",
    "step_dates",
    "is_done",
    "finished_steps",
    "went_out",
    "choose_step",
    "gate",
    "spacing",
]


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
    skipped = "skipped"            # superseded, or stopped before sending; never sent
    awaiting_approval = "awaiting_approval"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the actions ledger as the planner needs it."""

    invoice_id: str
    step: Step
    status: LedgerStatus
    channel: Channel
    as_of: date                    # as-of date of the run that last acted on it (rule 9)


def step_dates(due_date: date, ladder: SegmentLadder, calendar: BusinessCalendar) -> dict[Step, date]:
    """Rule 1: due date plus the step's days, moved to the next business day."""
    return {
        step: calendar.next_business_day(due_date + timedelta(days=rule.days))
        for step in Step
        if (rule := ladder.rule(step)) is not None
    }


def is_done(entry: LedgerEntry) -> bool:
    """A step that must never be done again for this invoice (its ledger row is final)."""
    if entry.status in (LedgerStatus.sent, LedgerStatus.skipped, LedgerStatus.awaiting_approval):
        return True
    return entry.status == LedgerStatus.queued and entry.channel not in MESSAGE_CHANNELS


def finished_steps(entries: dict[Step, LedgerEntry]) -> set[Step]:
    """The steps done for good. A skipped row counts only below a step that went out (superseded by
    it): one skipped with nothing sent at or above it was stopped before sending (the invoice was
    disputed or paid since planning), so the debtor never got it and the ladder may plan it again."""
    top_out = max((s.rank for s, e in entries.items() if went_out(e, date.max)), default=-1)
    return {s for s, e in entries.items()
            if is_done(e) and not (e.status is LedgerStatus.skipped and s.rank > top_out)}


def went_out(entry: LedgerEntry | None, by: date) -> bool:
    """The debtor was contacted for this step (a message sent, a phone task given) by a run up to `by`."""
    if entry is None or entry.as_of > by:
        return False
    return entry.status == LedgerStatus.sent or (entry.status == LedgerStatus.queued and entry.channel == Channel.phone)


@dataclass(frozen=True)
class StepChoice:
    """The step that may go today under rules 1-3 and 9, before the gates of rules 4, 5 and 11."""

    target: Step | None                          # None: nothing may go today (`waits` says why, if anything)
    passed: tuple[tuple[Step, str], ...] = ()    # due steps left below the target, with why: superseded
    obsolete: tuple[Step, ...] = ()              # rows never sent below a step already done: superseded
    notes: tuple[str, ...] = ()                  # why this step rather than a higher one, for its reason
    waits: str = ""


def _lowest(steps: list[Step], above: int) -> Step | None:
    return next((s for s in steps if s.rank > above), None)


def choose_step(dates: dict[Step, date], entries: dict[Step, LedgerEntry], as_of: date, due: date,
                first_contact: Step) -> StepChoice:
    """Rules 2, 3 and 9 for one invoice on `dates` (its ladder's steps, rule 1)."""
    ladder = sorted(dates, key=lambda s: s.rank)
    finished = finished_steps(entries)
    top_done = max((s.rank for s in finished), default=-1)
    obsolete = tuple(sorted((s for s in entries if s not in finished and s.rank < top_done), key=lambda s: s.rank))
    due_now = [s for s in ladder if dates[s] <= as_of and s not in finished and s.rank > top_done
               and not (s is Step.pre_due and as_of >= due)]
    # Climbing builds on what runs up to this date did (rule 9); pre_due is a courtesy, not a contact.
    behind = max((s.rank for s in finished if entries[s].as_of <= as_of), default=-1)
    ceiling = _lowest(ladder, behind)
    first = not any(went_out(e, as_of) for s, e in entries.items() if s is not Step.pre_due)
    if first:
        start = _lowest(ladder, first_contact.rank - 1)
        if start is not None and (ceiling is None or start.rank > ceiling.rank):
            ceiling = start
    allowed = [s for s in due_now if ceiling is not None and s.rank <= ceiling.rank]
    if not allowed:
        waits = ""
        if due_now and ceiling is not None and ceiling in finished:
            waits = (f"{due_now[0].value} waits: {ceiling.value} was recorded by the run of "
                     f"{entries[ceiling].as_of}, after this date; a backfill does not build on it (rule 9)")
        return StepChoice(None, obsolete=obsolete, waits=waits)

    target = allowed[-1]
    passed: list[tuple[Step, str]] = []
    for s in allowed[:-1]:
        passed.append((s, f"superseded: first contact starts at {target.value} (rule 2)" if first
                       else f"superseded by {target.value}: it was never sent and the ladder has moved on (rule 2)"))
    if Step.pre_due in dates and Step.pre_due not in finished and Step.pre_due.rank > top_done \
            and as_of >= due and target is not Step.pre_due:
        why = "superseded: pre_due goes out only before the due date (rule 3)"
        passed.insert(0, (Step.pre_due, why + (f"; first contact starts at {target.value} (rule 2)" if first else "")))
    notes = []
    higher = [s for s in due_now if s.rank > target.rank]
    if higher:
        if first and target is not Step.pre_due:
            notes.append(f"first contact: an invoice nothing was sent for starts at {target.value}, however old "
                         f"(rule 2)")
        notes.append(f"one step at a time: {higher[-1].value} is due too, the ladder is climbed one step per "
                     f"message (rule 2)")
    return StepChoice(target, tuple(passed), obsolete, tuple(notes))


def gate(target: Step, dates: dict[Step, date], entries: dict[Step, LedgerEntry], as_of: date,
         gates: Gates) -> tuple[bool, str]:
    """Rules 4 and 5: (may go, why). The formal notice and the legal handoff wait for the step before them."""
    if target is Step.formal_notice:
        return _formal_notice_gate(dates, entries, as_of, gates.formal_notice_after_reminder_days)
    if target is Step.legal_handoff:
        return _legal_handoff_gate(dates, entries, as_of, gates.legal_handoff_after_formal_notice_days)
    return True, ""


def _formal_notice_gate(dates, entries, as_of: date, days: int) -> tuple[bool, str]:
    reminders = [s for s in AMICABLE_STEPS if s in dates and s is not Step.pre_due]
    if not reminders:
        return False, "formal notice waits: this ladder has no amicable reminder to go before it (rule 4)"
    last = reminders[-1]
    entry = entries.get(last)
    if not went_out(entry, as_of):
        state = f"is {entry.status.value} since {entry.as_of}" if entry is not None else "has not gone out"
        return False, f"formal notice waits: the last amicable step ({last.value}) {state} (rule 4)"
    ready = entry.as_of + timedelta(days=days)
    if as_of < ready:
        return False, (f"formal notice waits: the last reminder ({entry.step.value}) was sent on {entry.as_of}; "
                       f"it needs {days} days before the formal notice, so not before {ready} (rule 4)")
    return True, f"last reminder ({entry.step.value}) sent on {entry.as_of}, {days} days or more ago"


def _legal_handoff_gate(dates, entries, as_of: date, days: int) -> tuple[bool, str]:
    if Step.formal_notice not in dates:
        return False, "legal handoff waits: this ladder has no formal notice step (rule 5)"
    notice = entries.get(Step.formal_notice)
    if went_out(notice, as_of):
        ready = notice.as_of + timedelta(days=days)
        if as_of >= ready:
            return True, f"formal notice sent on {notice.as_of}, {days} days or more ago"
        return False, (f"legal handoff waits: the formal notice went out on {notice.as_of}; it needs {days} days "
                       f"(the deadline it gives plus postage), so not before {ready} (rule 5)")
    state = f"{notice.status.value} on {notice.as_of}" if notice is not None else "not sent"
    return False, (f"legal handoff waits: the formal notice ({state}) must have gone out {days} days "
                   f"before (rule 5)")


def spacing(entries: dict[Step, LedgerEntry], as_of: date, min_days: int) -> str | None:
    """Rule 11: why no new message may go yet for this invoice, or None."""
    contacts = [e for e in entries.values() if went_out(e, as_of)]
    if not contacts or min_days == 0:
        return None
    last = max(contacts, key=lambda e: (e.as_of, e.step.rank))
    ready = last.as_of + timedelta(days=min_days)
    if as_of >= ready:
        return None
    what = "phone task" if last.channel is Channel.phone else "message"
    return (f"spacing: the last {what} for this invoice ({last.step.value}) went out on {last.as_of}; "
            f"{min_days} days between two messages (rule 11), so not before {ready}")
