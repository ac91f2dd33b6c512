"""Machine-readable exports of the state database (DESIGN.md, "Export fields")."""

from __future__ import annotations

from datetime import date
from typing import Callable

from sqlalchemy import Connection, and_, or_, select

from dunning.rules.aging import BUCKETS
from dunning.rules.planner import Outcome
from dunning.state.schema import (
    actions, aging_lines, audit_events, debtor_segments, decisions, legal_case_invoices, legal_cases, runs,
)
from dunning.state.store import StateStore

__all__ = ["EXPORTS", "export_rows", "invoice_audit_trail"]

# How a decision shows in the actions export when no ledger row of that date speaks for it.
_DECISION_STATUS = {
    Outcome.send.value: "queued", Outcome.phone_task.value: "queued", Outcome.legal_handoff.value: "queued",
    Outcome.awaiting_approval.value: "awaiting_approval", Outcome.held.value: "skipped",
    Outcome.deferred.value: "deferred", Outcome.superseded.value: "skipped",
}


def _latest_run(conn: Connection, as_of: date | None, live_first: bool = False) -> int:
    """The latest run (for a date); with live_first, a live run wins over a later dry run."""
    query = select(runs.c.id).order_by(runs.c.id.desc()).limit(1)
    if as_of is not None:
        query = query.where(runs.c.as_of == as_of)
    if live_first:
        query = query.order_by(None).order_by(runs.c.dry_run, runs.c.id.desc())
    run_id = conn.execute(query).scalar()
    if run_id is None:
        raise LookupError(f"no run recorded{' for ' + str(as_of) if as_of else ''}: run `dunning run` first")
    return run_id


def _ledger_row(r) -> dict:
    return {"action_id": r.id, "as_of": r.as_of, "debtor_id": r.debtor_id, "invoice_numbers": r.invoice_number,
            "step": r.step, "channel": r.channel, "status": r.status, "reason": r.reason,
            "provider_message_id": r.provider_message_id, "attempts": r.attempts, "sent_at": r.sent_at,
            "amount": r.amount, "currency": r.currency, "message_key": r.message_key, "provider": r.provider,
            "last_error": r.last_error, "document_path": r.document_path, "document_sha256": r.document_sha256,
            "run_id": r.run_id, "delivery_status": r.delivery_status, "delivery_updated_at": r.delivery_updated_at}


def _actions(conn: Connection, as_of: date | None) -> list[dict]:
    """Without a date: the whole ledger. With one: what was done on that date (every run of it),
    then every other decision of that date's latest live run (held back, deferred, ...)."""
    if as_of is None:
        return [_ledger_row(r) for r in conn.execute(select(actions).order_by(actions.c.id))]
    done = [_ledger_row(r) for r in conn.execute(
        select(actions).where(actions.c.as_of == as_of).order_by(actions.c.id))]
    seen = {(r["invoice_numbers"], r["step"]) for r in done}
    run_id = _latest_run(conn, as_of, live_first=True)
    rest = []
    for r in conn.execute(select(decisions).where(decisions.c.run_id == run_id).order_by(decisions.c.id)):
        if (r.invoice_number, r.step) in seen:
            continue
        rest.append({"action_id": None, "as_of": as_of, "debtor_id": r.debtor_id, "invoice_numbers": r.invoice_number,
                     "step": r.step, "channel": r.channel, "status": _DECISION_STATUS[r.outcome],
                     "reason": r.reason, "provider_message_id": None, "attempts": 0, "sent_at": None,
                     "amount": r.amount, "currency": r.currency, "message_key": None, "provider": None,
                     "last_error": None, "document_path": None, "document_sha256": None, "run_id": run_id,
                     "delivery_status": None, "delivery_updated_at": None,
                     "outcome": r.outcome, "prescription_date": r.prescription_date})
    prescriptions = {r.invoice_number: r.prescription_date for r in conn.execute(
        select(decisions.c.invoice_number, decisions.c.prescription_date).where(decisions.c.run_id == run_id))}
    for row in done:
        row["outcome"] = None
        row["prescription_date"] = prescriptions.get(row["invoice_numbers"])
    return done + rest


def _aging(conn: Connection, as_of: date | None) -> list[dict]:
    run_id = _latest_run(conn, as_of)
    columns = ["debtor_id", "debtor_name", "currency", "segment", *BUCKETS, "unapplied_credit", "total_open"]
    query = select(*(aging_lines.c[c] for c in columns)).where(aging_lines.c.run_id == run_id).order_by(
        aging_lines.c.debtor_id, aging_lines.c.currency)
    return [dict(r._mapping) for r in conn.execute(query)]


def _segments(conn: Connection, as_of: date | None) -> list[dict]:
    run_id = _latest_run(conn, as_of)
    query = select(debtor_segments).where(debtor_segments.c.run_id == run_id).order_by(debtor_segments.c.debtor_id)
    return [{"debtor_id": r.debtor_id, "segment": r.segment, "rule": r.rule, "score": r.score, "run_id": run_id}
            for r in conn.execute(query)]


def _legal_queue(conn: Connection, as_of: date | None) -> list[dict]:
    query = select(legal_cases).order_by(legal_cases.c.id)
    if as_of is not None:
        query = query.where(legal_cases.c.opened_on <= as_of)
    numbers: dict[int, list[str]] = {}
    for r in conn.execute(select(legal_case_invoices).order_by(legal_case_invoices.c.invoice_number)):
        numbers.setdefault(r.case_id, []).append(r.invoice_number)
    return [{"case_id": r.id, "debtor_id": r.debtor_id, "debtor_name": r.debtor_name,
             "invoice_numbers": ", ".join(numbers.get(r.id, [])), "principal": r.principal,
             "penalties": r.penalties, "indemnity": r.indemnity, "currency": r.currency, "opened_on": r.opened_on,
             "status": r.status, "resolution": r.resolution, "closed_on": r.closed_on, "procedure": r.procedure,
             "penalties_to": r.penalties_to, "dossier_path": r.dossier_path, "evidence": r.evidence}
            for r in conn.execute(query)]


def _audit(conn: Connection, as_of: date | None) -> list[dict]:
    return _audit_rows(conn, *([runs.c.as_of == as_of] if as_of is not None else []))


def invoice_audit_trail(store: StateStore, invoice_number: str) -> list[dict]:
    """Every audit event about one invoice, oldest first: its decisions, holds and disputes, each of
    its actions (claimed, sent, failed, recovered, delivery events, operator resolutions) and the
    legal case it joined."""
    with store.engine.connect() as conn:
        invoice_ids = set(conn.execute(select(decisions.c.invoice_id).where(
            decisions.c.invoice_number == invoice_number)).scalars())
        invoice_ids |= set(conn.execute(select(actions.c.invoice_id).where(
            actions.c.invoice_number == invoice_number)).scalars())
        if not invoice_ids:
            raise LookupError(f"invoice {invoice_number} is in no decision or action of the state database")
        action_ids = conn.execute(select(actions.c.id).where(actions.c.invoice_id.in_(invoice_ids))).scalars().all()
        case_ids = conn.execute(select(legal_case_invoices.c.case_id).where(
            legal_case_invoices.c.invoice_id.in_(invoice_ids))).scalars().all()
        subjects = or_(and_(audit_events.c.subject_type == "invoice", audit_events.c.subject_id.in_(invoice_ids)),
                       and_(audit_events.c.subject_type == "action",
                            audit_events.c.subject_id.in_([str(a) for a in action_ids])),
                       and_(audit_events.c.subject_type == "case",
                            audit_events.c.subject_id.in_([str(c) for c in case_ids])))
        return _audit_rows(conn, subjects)


def _audit_rows(conn: Connection, *conditions) -> list[dict]:
    query = select(audit_events, runs.c.as_of).select_from(
        audit_events.outerjoin(runs, audit_events.c.run_id == runs.c.id)).where(*conditions).order_by(audit_events.c.id)
    return [{"event_id": r.id, "occurred_at": r.occurred_at, "as_of": r.as_of, "run_id": r.run_id,
             "flow_run_id": r.flow_run_id, "task_run_id": r.task_run_id, "actor": r.actor, "event": r.event,
             "subject_type": r.subject_type, "subject_id": r.subject_id, "message": r.message,
             "details": r.details} for r in conn.execute(query)]


EXPORTS: dict[str, Callable[[Connection, date | None], list[dict]]] = {
    "actions": _actions, "aging": _aging, "segments": _segments, "legal-queue": _legal_queue, "audit": _audit,
}


def export_rows(store: StateStore, what: str, as_of: date | None) -> list[dict]:
    with store.engine.connect() as conn:
        return EXPORTS[what](conn, as_of)
