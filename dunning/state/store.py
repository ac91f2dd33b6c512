"""Reads and writes of the state database: runs, the actions ledger, decisions, audit, holds (the legal
queue is dunning.state.legal_queue, the levers dunning.state.levers).

Every write that changes what happens to a debtor also appends an audit event in the same
transaction, so the trail can never disagree with the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Iterator, Sequence

import pandas as pd
from sqlalchemy import Connection, Engine, String, bindparam, cast, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dunning.config import Step
from dunning.rules.calendar import utc_now
from dunning.rules.frames import records
from dunning.rules.planner import (
    MESSAGE_CHANNELS, Channel, Decision, Hold, LedgerEntry, LedgerStatus, Outcome,
)
from dunning.rules.recovery import ACCEPTANCE_EVENTS, InterruptedSend, Recovery, Verdict
from dunning.state.database import (
    STATE_URL_ENV, StateSchemaError, StateUnavailable, check_migrated, state_database, state_engine,
    state_url, upgrade_database,
)
from dunning.state.schema import (
    actions, aging_lines, audit_events, debtor_segments, decisions, delivery_events, disputes, holds,
    quarantine, runs,
)
from dunning.state.types import jsonable

__all__ = ["Trace", "StateStore", "SentReminder", "REMINDER_STEPS", "dialect_insert", "insert_unless_present",
           "PlannedMessage", "AlreadyHandled", "StateSchemaError", "StateUnavailable", "STATE_URL_ENV",
           "state_database", "state_url", "state_engine", "upgrade_database", "check_migrated"]

_CHUNK = 900  # stays under SQLite's bound-parameter limit


class AlreadyHandled(Exception):
    """Another run claimed or finished these ledger rows first: this run leaves them alone."""


@dataclass(frozen=True)
class Trace:
    """Who did something: the run, the Prefect flow run and task run, and the actor."""

    run_id: int | None = None
    flow_run_id: str | None = None
    task_run_id: str | None = None
    actor: str = "nightly-run"


@dataclass(frozen=True)
class PlannedMessage:
    """The ledger rows one message covers, as recorded before anything is sent."""

    message_key: str
    action_ids: tuple[int, ...]
    decisions: tuple[Decision, ...] = field(compare=False)
    run_id: int | None = None     # the run that planned it (set when read back from the queue)
    as_of: date | None = None


# What a later message may call "notre rappel": a reminder of an overdue invoice, posted or emailed.
# Not pre_due (a courtesy notice before the due date), not a phone task (a call leaves the debtor no
# dated reminder to find), not the formal notice (a mise en demeure, not a reminder).
REMINDER_STEPS = (Step.reminder_1, Step.reminder_2, Step.reminder_3)
_WRITTEN = (Channel.email, Channel.letter)
# SendGrid's word that an email never reached the debtor: it cannot be quoted to them. A soft bounce
# (blocked) is not retried by SendGrid either; only a deferral is.
_UNDELIVERED = ("bounce", "blocked", "dropped")


@dataclass(frozen=True)
class SentReminder:
    """A reminder the ledger records as gone out for an invoice, on the business date it went out."""

    invoice_id: str
    step: Step
    sent_on: date    # the row's as_of once sent: the date the letter carries (mark_sent's `on`)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def dialect_insert(conn: Connection, table):
    """INSERT in the connection's dialect (PostgreSQL or SQLite), which knows ON CONFLICT."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_unless_present(conn: Connection, table):
    """INSERT ... ON CONFLICT DO NOTHING: a row a concurrent writer has just inserted (two runs of one
    night) is left as it is, and no row comes back for it."""
    return dialect_insert(conn, table).on_conflict_do_nothing()


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- audit -------------------------------------------------------------------------------
    @staticmethod
    def _audit_rows(trace: Trace, events: Iterable[tuple[str, str, str, str, dict | None]]) -> list[dict]:
        now = utc_now()
        return [
            {"occurred_at": now, "run_id": trace.run_id, "flow_run_id": trace.flow_run_id,
             "task_run_id": trace.task_run_id, "actor": trace.actor, "event": event,
             "subject_type": subject_type, "subject_id": subject_id, "message": message,
             "details": jsonable(details) if details else None}
            for event, subject_type, subject_id, message, details in events
        ]

    def _append_audit(self, conn: Connection, trace: Trace, events: list[tuple]) -> None:
        rows = self._audit_rows(trace, events)
        for chunk in _chunks(rows, 500):
            conn.execute(insert(audit_events), list(chunk))

    def audit(self, trace: Trace, event: str, subject_type: str, subject_id: str, message: str,
              details: dict | None = None) -> None:
        with self.engine.begin() as conn:
            self._append_audit(conn, trace, [(event, subject_type, subject_id, message, details)])

    # -- runs --------------------------------------------------------------------------------
    def open_run(self, as_of: date, dry_run: bool, trace: Trace) -> int:
        with self.engine.begin() as conn:
            run_id = conn.execute(
                insert(runs).values(as_of=as_of, flow_run_id=trace.flow_run_id, dry_run=dry_run,
                                    status="running", started_at=utc_now()).returning(runs.c.id)
            ).scalar_one()
            mode = "dry run (nothing sent, ledger untouched)" if dry_run else "live run"
            self._append_audit(conn, Trace(run_id, trace.flow_run_id, trace.task_run_id, trace.actor), [
                ("run.started", "run", str(run_id), f"Collection run {run_id} for {as_of} started: {mode}.",
                 {"as_of": as_of, "dry_run": dry_run})])
        return run_id

    def finish_run(self, trace: Trace, status: str, counts: dict, message: str, summary: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == trace.run_id).values(
                status=status, finished_at=utc_now(), counts=jsonable(counts), message=message, summary=summary))
            self._append_audit(conn, trace, [(f"run.{status}", "run", str(trace.run_id), message, counts)])

    def fail_unfinished_run(self, flow_run_id: str, reason: str) -> int | None:
        """Close a run its flow left 'running' (crash, cancellation, an error before the end)."""
        with self.engine.begin() as conn:
            run = conn.execute(select(runs).where(runs.c.flow_run_id == flow_run_id, runs.c.status == "running")
                               .order_by(runs.c.id.desc())).first()
            if run is None:
                return None
            conn.execute(update(runs).where(runs.c.id == run.id).values(
                status="failed", finished_at=utc_now(), message=reason))
            self._append_audit(conn, Trace(run.id, flow_run_id, None, "nightly-run"), [
                ("run.failed", "run", str(run.id), f"Collection run {run.id} for {run.as_of} stopped before its end: "
                 f"{reason}", None)])
            return run.id

    def has_sent_through(self, provider: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(actions.c.id).where(actions.c.provider == provider).limit(1)).first() is not None

    def run_for_flow_run(self, flow_run_id: str):
        with self.engine.connect() as conn:
            return conn.execute(select(runs).where(runs.c.flow_run_id == flow_run_id)
                                .order_by(runs.c.id.desc())).first()

    def handled_elsewhere(self, run_id: int) -> dict[int, int]:
        """Messages this run decided to send that another run of the same night handled first: run -> count."""
        mine = select(runs.c.as_of).where(runs.c.id == run_id).scalar_subquery()
        query = select(actions.c.run_id, func.count(func.distinct(func.coalesce(actions.c.message_key, cast(actions.c.id, String))))
                       ).join(decisions, (decisions.c.invoice_id == actions.c.invoice_id)
                              & (decisions.c.step == actions.c.step)).where(
            decisions.c.run_id == run_id, decisions.c.outcome == Outcome.send.value, actions.c.as_of == mine,
            actions.c.run_id != run_id).group_by(actions.c.run_id)
        with self.engine.connect() as conn:
            return {other: n for other, n in conn.execute(query)}

    # -- planner inputs ----------------------------------------------------------------------
    def ledger_for(self, invoice_ids: Sequence[str]) -> list[LedgerEntry]:
        entries = []
        query = select(actions.c.invoice_id, actions.c.step, actions.c.status, actions.c.channel,
                       actions.c.as_of).where(actions.c.invoice_id.in_(bindparam("ids", expanding=True)))
        with self.engine.connect() as conn:
            for chunk in _chunks(list(invoice_ids)):
                for row in conn.execute(query, {"ids": list(chunk)}):
                    entries.append(LedgerEntry(row.invoice_id, Step(row.step), LedgerStatus(row.status),
                                               Channel(row.channel), row.as_of))
        return entries

    def earlier_reminders(self, invoice_ids: Sequence[str], before: date,
                          excluding: Sequence[int] = ()) -> list[SentReminder]:
        """The reminders that went out for these invoices before `before`, oldest first: what a message
        may quote (DESIGN.md rule 14). `excluding` names the ledger rows of the message itself."""
        query = select(actions.c.id, actions.c.invoice_id, actions.c.step, actions.c.as_of).where(
            actions.c.invoice_id.in_(bindparam("ids", expanding=True)),
            actions.c.status == LedgerStatus.sent.value,
            actions.c.step.in_([s.value for s in REMINDER_STEPS]),
            actions.c.channel.in_([c.value for c in _WRITTEN]),
            or_(actions.c.delivery_status.is_(None), actions.c.delivery_status.not_in(_UNDELIVERED)),
            actions.c.as_of < before)
        found = []
        with self.engine.connect() as conn:
            for chunk in _chunks(list(invoice_ids)):
                found += [SentReminder(r.invoice_id, Step(r.step), r.as_of)
                          for r in conn.execute(query, {"ids": list(chunk)}) if r.id not in excluding]
        return sorted(found, key=lambda r: (r.sent_on, r.step.rank, r.invoice_id))

    def active_holds(self, as_of: date) -> list[Hold]:
        query = select(holds).where(holds.c.released_at.is_(None),
                                    or_(holds.c.until.is_(None), holds.c.until >= as_of))
        with self.engine.connect() as conn:
            return [Hold(reason=r.reason, until=r.until, debtor_id=r.debtor_id, invoice_id=r.invoice_id)
                    for r in conn.execute(query)]

    # -- what a run found --------------------------------------------------------------------
    def record_segments(self, trace: Trace, segments: pd.DataFrame) -> None:
        rows = [{"run_id": trace.run_id, **row} for row in records(segments)]
        with self.engine.begin() as conn:
            for chunk in _chunks(rows, 500):
                conn.execute(insert(debtor_segments), list(chunk))

    def record_aging(self, trace: Trace, aging_with_segments: pd.DataFrame) -> None:
        rows = [{"run_id": trace.run_id, **row} for row in records(aging_with_segments)]
        with self.engine.begin() as conn:
            for chunk in _chunks(rows, 500):
                conn.execute(insert(aging_lines), list(chunk))

    def record_quarantine(self, trace: Trace, rows: pd.DataFrame) -> None:
        quarantined = [{"run_id": trace.run_id, **row} for row in records(rows)]
        if not quarantined:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(quarantine), quarantined)
            self._append_audit(conn, trace, [
                ("row.quarantined", r["source"], r["source_id"],
                 f"{r['source']} {r['number'] or r['source_id']} quarantined: {r['reason']}.", None)
                for r in quarantined])

    # -- the plan ----------------------------------------------------------------------------
    def record_plan(self, trace: Trace, as_of: date, plan: Sequence[Decision], dry_run: bool,
                    languages: dict[str, str]) -> list[PlannedMessage]:
        """Store every decision; unless dry_run, write the ledger rows before anything is sent."""
        now = utc_now()
        action_ids: dict[tuple[str, str], int] = {}
        with self.engine.begin() as conn:
            if not dry_run:
                action_ids = self._write_ledger(conn, trace, as_of, plan, now, languages)
            rows = [{
                "run_id": trace.run_id, "invoice_id": d.invoice_id, "invoice_number": d.invoice_number,
                "debtor_id": d.debtor_id, "segment": d.segment, "step": d.step.value if d.step else None,
                "step_date": d.step_date, "prescription_date": d.prescription_date, "outcome": d.outcome.value,
                "channel": d.channel.value if d.channel else None, "reason": d.reason,
                "amount": d.residual, "currency": d.currency,
                "action_id": action_ids.get((d.invoice_id, d.step.value)) if d.step else None,
            } for d in plan]
            for chunk in _chunks(rows, 500):
                conn.execute(insert(decisions), list(chunk))
            self._append_audit(conn, trace, [
                (f"decision.{d.outcome.value}", "invoice", d.invoice_id,
                 f"Invoice {d.invoice_number}: {d.outcome.value.replace('_', ' ')}"
                 f"{' ' + d.step.value if d.step else ''} - {d.reason}.",
                 {"step": d.step, "channel": d.channel, "dry_run": dry_run}) for d in plan])
            messages = self._messages(plan, action_ids)
            # The message key is fixed with the plan, so a later dispatch sends the same grouping.
            keys = [{"row_id": row, "key": message.message_key} for message in messages for row in message.action_ids]
            set_key = update(actions).where(actions.c.id == bindparam("row_id")).values(message_key=bindparam("key"))
            for chunk in _chunks(keys, 1000):
                conn.execute(set_key, list(chunk))
        return messages

    @staticmethod
    def _messages(plan: Sequence[Decision], action_ids: dict[tuple[str, str], int]) -> list[PlannedMessage]:
        groups: dict[str, list[Decision]] = {}
        for d in plan:
            if d.outcome is Outcome.send and (d.invoice_id, d.step.value) in action_ids:
                groups.setdefault(d.group_key, []).append(d)
        messages = []
        for members in groups.values():
            ids = tuple(action_ids[(d.invoice_id, d.step.value)] for d in members)
            messages.append(PlannedMessage(message_key=str(min(ids)), action_ids=ids, decisions=tuple(members)))
        return messages

    _LEDGER_STATUS = {
        Outcome.send: LedgerStatus.queued,
        Outcome.superseded: LedgerStatus.skipped,
        Outcome.phone_task: LedgerStatus.queued,
        Outcome.awaiting_approval: LedgerStatus.awaiting_approval,
        # legal_handoff rows are written with their case, in one transaction (enqueue_legal_case).
    }

    def _write_ledger(self, conn: Connection, trace: Trace, as_of: date, plan: Sequence[Decision], now,
                      languages: dict[str, str]) -> dict[tuple[str, str], int]:
        acting = [d for d in plan if d.outcome in self._LEDGER_STATUS]
        existing: dict[tuple[str, str], int] = {}
        query = select(actions.c.id, actions.c.invoice_id, actions.c.step).where(
            actions.c.invoice_id.in_(bindparam("ids", expanding=True)))
        for chunk in _chunks(sorted({d.invoice_id for d in acting})):
            for row in conn.execute(query, {"ids": list(chunk)}):
                existing[(row.invoice_id, row.step)] = row.id
        ids: dict[tuple[str, str], int] = {}
        new_rows = []
        for d in acting:
            key = (d.invoice_id, d.step.value)
            values = {"channel": (d.channel or Channel.email).value, "status": self._LEDGER_STATUS[d.outcome].value,
                      "reason": d.reason, "amount": d.residual, "currency": d.currency, "as_of": as_of,
                      "run_id": trace.run_id, "updated_at": now, "language": languages.get(d.debtor_id)}
            if key not in existing:
                new_rows.append({"invoice_id": d.invoice_id, "invoice_number": d.invoice_number,
                                 "debtor_id": d.debtor_id, "step": d.step.value, "attempts": 0, "created_at": now,
                                 **values})
            else:
                # Only a row that was never accepted (failed, or queued by a run that stopped) comes back,
                # or one stopped before sending (skipped) that the ladder plans again (dunning.rules.ladder).
                again = [LedgerStatus.failed, LedgerStatus.queued] + (
                    [LedgerStatus.skipped] if d.outcome is not Outcome.superseded else [])
                changed = conn.execute(update(actions).where(
                    actions.c.id == existing[key],
                    actions.c.status.in_([status.value for status in again])).values(**values))
                if changed.rowcount:   # otherwise another run has just handled it: leave it alone
                    ids[key] = existing[key]
        # Multi-row inserts; a row another run of the same night inserted a moment ago stays that run's.
        inserting = insert_unless_present(conn, actions).returning(actions.c.id, actions.c.invoice_id, actions.c.step)
        for chunk in _chunks(new_rows, 1000):
            for row in conn.execute(inserting, list(chunk)):
                ids[(row.invoice_id, row.step)] = row.id
        return ids

    # -- dispatch ----------------------------------------------------------------------------
    def claim(self, trace: Trace, message: PlannedMessage, template: str) -> int:
        """Mark the rows 'sending' before the provider is called; returns the attempt number.

        All or nothing, and only rows this run queued that are still waiting: if another run (a
        double-fired schedule, a manual run) got there first, AlreadyHandled is raised and nothing
        changes, so a message can never be handed over twice by two runs.
        """
        with self.engine.begin() as conn:
            claimed = conn.execute(update(actions).where(
                actions.c.id.in_(message.action_ids), actions.c.run_id == trace.run_id,
                actions.c.status.in_([LedgerStatus.queued.value, LedgerStatus.failed.value]),
            ).values(status=LedgerStatus.sending.value, attempts=actions.c.attempts + 1, template=template,
                     message_key=message.message_key, provider=None, updated_at=utc_now())).rowcount
            if claimed != len(message.action_ids):
                # Raising inside the transaction rolls back the rows that were claimed.
                raise AlreadyHandled(f"message {message.message_key} was handled by another run")
            return conn.execute(select(func.max(actions.c.attempts)).where(
                actions.c.id.in_(message.action_ids))).scalar_one()

    def queued_messages(self, *, failed_only: bool = False, as_of: date | None = None,
                        invoice_numbers: Sequence[str] = ()) -> list[PlannedMessage]:
        """Messages planned but not handed over yet, oldest first: queued by a run outside the sending
        window, or failed (never accepted) and not re-planned since, so a Retry of a dispatch run
        sends again exactly what failed. An operator's targeted resend narrows it to the failed
        messages of one run date, or to those covering the given invoices."""
        statuses = [LedgerStatus.failed.value] + ([] if failed_only else [LedgerStatus.queued.value])
        query = select(actions).where(actions.c.status.in_(statuses),
                                      actions.c.step.in_([s.value for s in Step]),   # installments are re-planned
                                      actions.c.channel.in_([c.value for c in MESSAGE_CHANNELS]),
                                      actions.c.message_key.is_not(None)).order_by(actions.c.id)
        if as_of is not None:
            query = query.where(actions.c.as_of == as_of)
        groups: dict[str, list] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                groups.setdefault(row.message_key, []).append(row)
        if invoice_numbers:
            wanted = set(invoice_numbers)
            groups = {key: rows for key, rows in groups.items() if wanted & {r.invoice_number for r in rows}}
        return [PlannedMessage(message_key=key, action_ids=tuple(r.id for r in rows), decisions=tuple(
            Decision(invoice_id=r.invoice_id, invoice_number=r.invoice_number, debtor_id=r.debtor_id,
                     currency=r.currency, residual=r.amount, due_date=None, outcome=Outcome.send, reason=r.reason,
                     step=Step(r.step), channel=Channel(r.channel), group_key=key) for r in rows),
            run_id=rows[0].run_id, as_of=rows[0].as_of) for key, rows in groups.items()]

    def mark_sent(self, trace: Trace, message: PlannedMessage, provider: str, provider_message_id: str | None,
                  document_path: str | None, summary: str, on: date, last_error: str | None = None) -> None:
        """`on` is the business date the message went out (the date a letter carries): rules 4, 5 and
        9, the legal dossier and consumer interest all count from it."""
        now = utc_now()
        values = {"status": LedgerStatus.sent.value, "provider": provider, "provider_message_id": provider_message_id,
                  "sent_at": now, "updated_at": now, "last_error": last_error, "as_of": on}
        if document_path:
            values["document_path"] = document_path
        with self.engine.begin() as conn:
            conn.execute(update(actions).where(actions.c.id.in_(message.action_ids)).values(**values))
            self._append_audit(conn, trace, [
                ("action.sent", "action", str(action_id), summary,
                 {"provider": provider, "provider_message_id": provider_message_id, "document": document_path})
                for action_id in message.action_ids])

    def record_document(self, message: PlannedMessage, document_path: str, sha256: str) -> None:
        """The document printed for the message, and the hash of its exact bytes (proof of content)."""
        with self.engine.begin() as conn:
            conn.execute(update(actions).where(actions.c.id.in_(message.action_ids)).values(
                document_path=document_path, document_sha256=sha256, updated_at=utc_now()))

    def _record_answer(self, trace: Trace, message: PlannedMessage, values: dict, event: str, sentence: str,
                       details: dict) -> None:
        """The provider's answer (or its silence) on every row of the message, and its audit, at once."""
        with self.engine.begin() as conn:
            conn.execute(update(actions).where(actions.c.id.in_(message.action_ids)).values(
                updated_at=utc_now(), **values))
            self._append_audit(conn, trace, [(event, "action", str(action_id), sentence, details)
                                             for action_id in message.action_ids])

    def mark_failed(self, trace: Trace, message: PlannedMessage, error: str, will_retry: bool) -> None:
        then = "will be retried" if will_retry else "will be tried again by the next run once fixed"
        self._record_answer(trace, message, {"status": LedgerStatus.failed.value, "last_error": error},
                            "action.failed", f"Send failed ({error.rstrip('.')}); {then}.",
                            {"error": error, "will_retry": will_retry})

    def ledger_status_by_number(self, invoice_numbers: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """(step, status) of every ledger row of these invoice numbers: why a resend found nothing."""
        found: dict[str, list[tuple[str, str]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(actions.c.invoice_number, actions.c.step, actions.c.status).where(
                    actions.c.invoice_number.in_(list(invoice_numbers))).order_by(actions.c.id)):
                found.setdefault(row.invoice_number, []).append((row.step, row.status))
        return found

    def steps_done(self, keys: Sequence[str]) -> set[tuple[str, str]]:
        """(invoice or installment key, step) already sent, printed or being sent: never again."""
        with self.engine.connect() as conn:
            return {(r.invoice_id, r.step) for r in conn.execute(select(actions.c.invoice_id, actions.c.step).where(
                actions.c.invoice_id.in_(list(keys)),
                actions.c.status.in_([LedgerStatus.sent.value, LedgerStatus.sending.value])))}

    def latest_live_run(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(runs.c.id)).where(runs.c.dry_run.is_(False))).scalar()

    def open_dispute_numbers(self, invoice_ids: Sequence[str]) -> set[str]:
        """Which of these invoices have a dispute open right now (opened by an operator or a run)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(disputes.c.invoice_id).where(
                disputes.c.invoice_id.in_(list(invoice_ids)), disputes.c.closed_at.is_(None))).scalars())

    def mark_skipped(self, trace: Trace, message: PlannedMessage, reason: str) -> None:
        """A queued message that must not go out after all (its invoice was settled since planning)."""
        with self.engine.begin() as conn:
            skipped = conn.execute(update(actions).where(
                actions.c.id.in_(message.action_ids),
                actions.c.status.in_([LedgerStatus.queued.value, LedgerStatus.failed.value])).values(
                status=LedgerStatus.skipped.value, reason=reason, updated_at=utc_now())).rowcount
            if skipped:
                self._append_audit(conn, trace, [("action.skipped", "action", str(a), f"Not sent: {reason}.", None)
                                                 for a in message.action_ids])

    def mark_unconfirmed(self, trace: Trace, message: PlannedMessage, provider: str, error: str) -> None:
        """The provider answered 2xx without an id: leave it 'sending' for an operator, never resend.
        The provider is recorded, which tells this row from one a killed run left behind."""
        self._record_answer(trace, message, {"provider": provider, "last_error": error}, "action.unconfirmed",
                            f"Send not confirmed ({error.rstrip('.')}); it may have gone out, so it is not resent: "
                            f"an operator checks the provider's activity for dunning_action_id {message.message_key}.",
                            {"error": error})

    def mark_unanswered(self, trace: Trace, message: PlannedMessage, error: str, resend_after_minutes: int) -> None:
        """The request reached the provider, which did not answer: it stays 'sending', with no provider,
        like a send a killed run left behind; the next run settles it (recovery rules)."""
        self._record_answer(trace, message, {"last_error": error}, "action.unanswered",
                            f"Send unanswered ({error.rstrip('.')}). A delivery event from SendGrid settles it as "
                            f"sent; otherwise a reminder is sent again by the first run {resend_after_minutes} min "
                            "from now, and a formal notice waits for an operator.", {"error": error})

    def resolve_unconfirmed(self, trace: Trace, action_id: int, outcome: LedgerStatus, note: str,
                            provider_message_id: str | None = None) -> str:
        """An operator settles a row left 'sending': it did go out (sent) or it did not (failed,
        so the next run sends it). Every row of the same message is settled together."""
        if outcome not in (LedgerStatus.sent, LedgerStatus.failed):
            raise ValueError("an unconfirmed send is resolved as sent or failed")
        now = utc_now()
        with self.engine.begin() as conn:
            row = conn.execute(select(actions).where(actions.c.id == action_id)).first()
            if row is None:
                raise LookupError(f"no action {action_id} in the ledger")
            if row.status != LedgerStatus.sending.value:
                raise LookupError(f"action {action_id} is {row.status}, not sending: nothing to resolve")
            members = [action_id] if row.message_key is None else conn.execute(select(actions.c.id).where(
                actions.c.message_key == row.message_key,
                actions.c.status == LedgerStatus.sending.value)).scalars().all()
            values = {"status": outcome.value, "updated_at": now,
                      "last_error": f"resolved by {trace.actor}: {note}"}
            if outcome is LedgerStatus.sent:
                values.update(sent_at=now, provider_message_id=provider_message_id or row.provider_message_id)
            conn.execute(update(actions).where(actions.c.id.in_(members)).values(**values))
            verdict = "it went out" if outcome is LedgerStatus.sent else "it did not go out; the next run sends it"
            message = f"Unconfirmed {row.step} of invoice {row.invoice_number} resolved by {trace.actor}: {verdict}. {note}"
            self._append_audit(conn, trace, [("action.resolved", "action", str(a), message,
                                              {"outcome": outcome, "note": note,
                                               "provider_message_id": provider_message_id}) for a in members])
        return message

    # -- messages a killed run left 'sending' -----------------------------------------------
    def interrupted_sends(self) -> list[InterruptedSend]:
        """Every message whose rows are 'sending', with the earliest delivery event that names it."""
        groups: dict[str, list] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(actions).where(actions.c.status == LedgerStatus.sending.value)
                                    .order_by(actions.c.id)):
                groups.setdefault(row.message_key or f"action-{row.id}", []).append(row)
            events: dict[str, tuple[str, str | None]] = {}
            query = select(delivery_events.c.message_key, delivery_events.c.event, delivery_events.c.sg_message_id
                           ).where(delivery_events.c.message_key.in_(bindparam("keys", expanding=True)),
                                   delivery_events.c.event.in_(sorted(ACCEPTANCE_EVENTS))
                                   ).order_by(delivery_events.c.occurred_at, delivery_events.c.id)
            for chunk in _chunks(sorted(groups)):
                for event in conn.execute(query, {"keys": list(chunk)}):
                    events.setdefault(event.message_key, (event.event, event.sg_message_id))
        return [InterruptedSend(
            message_key=key, action_ids=tuple(r.id for r in rows), invoice_numbers=tuple(r.invoice_number for r in rows),
            debtor_id=rows[0].debtor_id, step=rows[0].step, channel=rows[0].channel, run_id=rows[0].run_id,
            updated_at=max(r.updated_at for r in rows), provider=rows[0].provider,
            provider_message_id=next((r.provider_message_id for r in rows if r.provider_message_id), None),
            document_path=next((r.document_path for r in rows if r.document_path), None),
            delivery_event=events.get(key)) for key, rows in groups.items()]

    def apply_recovery(self, trace: Trace, send: InterruptedSend, recovery: Recovery) -> bool:
        """Apply a verdict to rows still 'sending' and untouched since they were read (compare-and-set:
        another run may have settled and claimed them again meanwhile); False when nothing changed."""
        if recovery.verdict is Verdict.wait:
            return False
        now = utc_now()
        sending = [actions.c.id.in_(send.action_ids), actions.c.status == LedgerStatus.sending.value,
                   actions.c.updated_at <= send.updated_at]
        if recovery.verdict is Verdict.operator:
            # Said once in the audit trail, however many runs find it still waiting.
            sending.append(or_(actions.c.last_error.is_(None), actions.c.last_error != recovery.reason))
            values, event = {"last_error": recovery.reason}, "action.awaiting_operator"
            message = f"{send.what} was left 'sending' by run {send.run_id}: {recovery.reason}."
        elif recovery.verdict is Verdict.sent:
            values = {"status": LedgerStatus.sent.value, "provider": recovery.provider, "sent_at": now,
                      "provider_message_id": recovery.provider_message_id, "last_error": None}
            event, message = "action.recovered", f"{send.what}, left 'sending' by run {send.run_id}, is sent: " \
                                                 f"{recovery.reason}."
        else:
            values = {"status": LedgerStatus.failed.value, "last_error": f"interrupted: {recovery.reason}"}
            event, message = "action.interrupted", f"{send.what} was left 'sending' by run {send.run_id}: " \
                                                   f"{recovery.reason}."
        with self.engine.begin() as conn:
            changed = conn.execute(update(actions).where(*sending).values(updated_at=now, **values)).rowcount
            if changed:
                self._append_audit(conn, trace, [
                    (event, "action", str(a), message, {"verdict": recovery.verdict, "reason": recovery.reason,
                                                        "provider_message_id": recovery.provider_message_id})
                    for a in send.action_ids])
        return bool(changed)

    def close_abandoned_runs(self, trace: Trace, started_before) -> list[int]:
        """Runs still 'running' long after they started: their process died without closing them."""
        with self.engine.begin() as conn:
            abandoned = conn.execute(select(runs.c.id, runs.c.as_of).where(
                runs.c.status == "running", runs.c.started_at < started_before,
                runs.c.id != trace.run_id)).all()
            for run in abandoned:
                finder = f"run {trace.run_id}" if trace.run_id else trace.actor
                reason = f"interrupted: its process ended without closing it (found by {finder})"
                conn.execute(update(runs).where(runs.c.id == run.id, runs.c.status == "running").values(
                    status="failed", finished_at=utc_now(), message=reason))
                self._append_audit(conn, trace, [("run.failed", "run", str(run.id),
                                                  f"Collection run {run.id} for {run.as_of} {reason}.", None)])
        return [run.id for run in abandoned]

    def document_of(self, message: PlannedMessage) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(actions.c.document_path).where(
                actions.c.id.in_(message.action_ids), actions.c.document_path.is_not(None))).scalars().first()

    def debtor_view(self, debtor_id: str) -> dict:
        """A debtor as the last run saw it: segment and why, each invoice's decision, every action."""
        with self.engine.connect() as conn:
            run_id = conn.execute(select(decisions.c.run_id).join(runs, runs.c.id == decisions.c.run_id).where(
                decisions.c.debtor_id == debtor_id, runs.c.dry_run.is_(False)).order_by(
                decisions.c.run_id.desc()).limit(1)).scalar()
            history = [dict(r._mapping) for r in conn.execute(select(actions).where(
                actions.c.debtor_id == debtor_id).order_by(actions.c.as_of, actions.c.id))]
            if run_id is None and not history:
                raise LookupError(f"no run has seen debtor {debtor_id}")
            run = conn.execute(select(runs).where(runs.c.id == run_id)).first() if run_id else None
            segment = conn.execute(select(debtor_segments).where(
                debtor_segments.c.run_id == run_id, debtor_segments.c.debtor_id == debtor_id)).first()
            latest = [dict(r._mapping) for r in conn.execute(select(decisions).where(
                decisions.c.run_id == run_id, decisions.c.debtor_id == debtor_id).order_by(decisions.c.id))]
            open_disputes = [dict(r._mapping) for r in conn.execute(select(disputes).where(
                disputes.c.debtor_id == debtor_id, disputes.c.closed_at.is_(None)))]
            on_hold = [dict(r._mapping) for r in conn.execute(select(holds).where(
                holds.c.released_at.is_(None), or_(holds.c.debtor_id == debtor_id,
                                                   holds.c.invoice_id.in_([d["invoice_id"] for d in latest]))))]
        return {"debtor_id": debtor_id, "as_of": run.as_of if run else None, "run_id": run_id,
                "segment": dict(segment._mapping) if segment else None, "decisions": latest, "history": history,
                "disputes": open_disputes, "holds": on_hold}
