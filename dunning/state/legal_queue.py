"""The legal queue in the state database: cases, their invoices, evidence, dossiers and moves.

A handoff's ledger rows and its case are written in one transaction, and every change of a case
appends its audit event in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, insert, select, update

from dunning.rules.arrangements import HoldKind
from dunning.rules.calendar import utc_now
from dunning.rules.legal_queue import (
    CASE_MOVES, OPEN_STATUSES, SUSPENDABLE, CaseRequest, CaseStatus, Resolution,
)
from dunning.rules.planner import Channel, LedgerStatus
from dunning.state.schema import actions, holds, legal_case_events, legal_case_invoices, legal_cases
from dunning.state.store import StateStore, Trace, insert_unless_present
from dunning.state.types import jsonable

__all__ = ["LegalQueueStore"]


class LegalQueueStore(StateStore):
    """The state store plus the legal queue (DESIGN.md rule 5, French rules: injonction de payer)."""

    def enqueue_legal_case(self, trace: Trace, as_of: date, request: CaseRequest) -> tuple[int | None, bool]:
        """Hand invoices to the debtor's open case (or open one) with the evidence. Returns (case_id, opened);
        no case when another run of the same night handed them all over first.

        The legal_handoff ledger rows and the case are written in one transaction: an invoice is in
        the legal queue exactly when its handoff is recorded.
        """
        now = utc_now()
        with self.engine.begin() as conn:
            handed = set(conn.execute(insert_unless_present(conn, actions).returning(actions.c.invoice_id), [
                {"invoice_id": d.invoice_id, "invoice_number": d.invoice_number, "debtor_id": d.debtor_id,
                 "step": d.step.value, "channel": Channel.legal.value, "status": LedgerStatus.queued.value,
                 "reason": d.reason, "amount": d.residual, "currency": d.currency, "as_of": as_of,
                 "run_id": trace.run_id, "attempts": 0, "created_at": now, "updated_at": now}
                for d in request.decisions]).scalars())
            # A run of the same night that handed an invoice over a moment ago keeps it.
            request = replace(request, decisions=tuple(d for d in request.decisions if d.invoice_id in handed))
            if not request.decisions:
                return None, False
            return self._join_case(conn, trace, as_of, request, now)

    def _join_case(self, conn: Connection, trace: Trace, as_of: date, request: CaseRequest, now) -> tuple[int, bool]:
        """Add the request's invoices, whose legal_handoff rows are written, to the debtor's open case or a new one."""
        invoice_ids = [d.invoice_id for d in request.decisions]
        evidence = [
            {"invoice_number": r.invoice_number, "step": r.step, "as_of": r.as_of, "channel": r.channel,
             "provider": r.provider, "provider_message_id": r.provider_message_id, "document": r.document_path,
             "document_sha256": r.document_sha256}
            for r in conn.execute(select(actions).where(
                actions.c.invoice_id.in_(invoice_ids), actions.c.status == LedgerStatus.sent.value
            ).order_by(actions.c.as_of, actions.c.id))
        ]
        case = conn.execute(select(legal_cases).where(
            legal_cases.c.debtor_id == request.debtor_id, legal_cases.c.currency == request.currency,
            legal_cases.c.status.in_([s.value for s in OPEN_STATUSES]))).first()
        opened = case is None
        if opened:
            case_id = conn.execute(insert(legal_cases).values(
                debtor_id=request.debtor_id, debtor_name=request.debtor_name, currency=request.currency,
                status="queued", principal=Decimal("0"), opened_on=as_of, opened_by_run=trace.run_id,
                is_consumer=request.is_consumer, evidence=[], updated_at=now,
                # Refined by the dossier (venue, form, small claims) right after this transaction.
                procedure="injonction de payer - " + ("tribunal judiciaire" if request.is_consumer
                                                      else "tribunal de commerce"),
            ).returning(legal_cases.c.id)).scalar_one()
            previous_evidence: list = []
        else:
            case_id, previous_evidence = case.id, list(case.evidence or [])
        conn.execute(insert(legal_case_invoices), [
            {"case_id": case_id, "invoice_id": d.invoice_id, "invoice_number": d.invoice_number,
             "amount": d.residual, "added_on": as_of} for d in request.decisions])
        principal = conn.execute(select(legal_case_invoices.c.amount).where(
            legal_case_invoices.c.case_id == case_id)).scalars().all()
        # An extended case's dossier no longer states its whole claim: the run writes it again.
        conn.execute(update(legal_cases).where(legal_cases.c.id == case_id).values(
            principal=sum(principal, Decimal("0")), evidence=previous_evidence + jsonable(evidence),
            dossier_path=None, updated_at=now))
        numbers = ", ".join(d.invoice_number for d in request.decisions)
        verb = "opened" if opened else "extended"
        self._append_audit(conn, trace, [(f"case.{verb}", "case", str(case_id),
                                          f"Legal case {case_id} {verb} for debtor {request.debtor_id}: "
                                          f"invoices {numbers}.", {"invoices": numbers})])
        return case_id, opened

    def record_case_dossier(self, trace: Trace, case_id: int, procedure: str, principal: Decimal,
                            penalties: Decimal, indemnity: Decimal, computed_to: date, dossier_path: str) -> None:
        """The amounts as the dossier states them, all to the same date (principal still open included)."""
        with self.engine.begin() as conn:
            conn.execute(update(legal_cases).where(legal_cases.c.id == case_id).values(
                procedure=procedure, principal=principal, penalties=penalties, indemnity=indemnity,
                penalties_to=computed_to, dossier_path=dossier_path, updated_at=utc_now()))
            self._append_audit(conn, trace, [("case.dossier", "case", str(case_id),
                                              f"Dossier of legal case {case_id} written: principal {principal}, "
                                              f"penalties {penalties}, indemnity {indemnity} to {computed_to}; "
                                              f"{procedure}.",
                                              {"dossier": dossier_path})])

    # -- life of a legal case ----------------------------------------------------------------
    def move_case(self, trace: Trace, case_id: int, verb: str, note: str, on: date,
                  resolution: Resolution | None = None) -> str:
        """ack, file or resolve a case; refuses a move its status does not allow."""
        move = CASE_MOVES[verb]
        if move.to is CaseStatus.resolved and resolution is None:
            raise ValueError("resolving a case needs a resolution: paid, settled, written_off or abandoned")
        if not note.strip():
            raise ValueError("say why: every change of a legal case is recorded with its reason")
        with self.engine.begin() as conn:
            case = conn.execute(select(legal_cases).where(legal_cases.c.id == case_id)).first()
            if case is None:
                raise LookupError(f"no legal case {case_id}")
            if CaseStatus(case.status) not in move.allowed_from:
                allowed = ", ".join(s.value for s in move.allowed_from)
                raise LookupError(f"case {case_id} is {case.status}: `{verb}` applies to a case that is {allowed}")
            self._move(conn, trace, case, move.to, note, resolution, on)
        return f"Case {case_id}: {case.status} -> {move.to.value}" + (f" ({resolution.value})" if resolution else "")

    def _move(self, conn: Connection, trace: Trace, case, to, note: str, resolution, on: date) -> None:
        now = utc_now()
        values = {"status": to.value, "updated_at": now}
        if resolution is not None:
            values.update(resolution=resolution.value, closed_on=on)
        conn.execute(update(legal_cases).where(legal_cases.c.id == case.id).values(**values))
        conn.execute(insert(legal_case_events).values(
            case_id=case.id, occurred_at=now, actor=trace.actor, from_status=case.status, to_status=to.value,
            resolution=resolution.value if resolution else None, note=note, amount=case.principal))
        outcome = f" as {resolution.value}" if resolution else ""
        self._append_audit(conn, trace, [(f"case.{to.value}", "case", str(case.id),
                                          f"Legal case {case.id} of debtor {case.debtor_id} moved from {case.status} "
                                          f"to {to.value}{outcome} by {trace.actor}: {note}",
                                          {"from": case.status, "to": to.value, "resolution": resolution,
                                           "note": note})])

    def _suspend_or_resume(self, conn: Connection, trace: Trace, debtor_id: str, suspend: bool, note: str,
                           on: date) -> list[int]:
        """A collective procedure hold suspends the debtor's open cases; its release resumes them, queued.
        Either way the dossier is written again by the next run: a claim declaration, or the injonction."""
        frm, to = (SUSPENDABLE, CaseStatus.suspended) if suspend else ((CaseStatus.suspended,), CaseStatus.queued)
        cases = conn.execute(select(legal_cases).where(
            legal_cases.c.debtor_id == debtor_id, legal_cases.c.status.in_([s.value for s in frm]))).all()
        for case in cases:
            self._move(conn, trace, case, to, note, None, on)
            conn.execute(update(legal_cases).where(legal_cases.c.id == case.id).values(dossier_path=None))
        return [case.id for case in cases]

    def collective_procedure(self, debtor_id: str) -> tuple[date, date] | None:
        """(BODACC publication, claim deadline) of the debtor's collective procedure hold in force, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(holds.c.bodacc_published_on, holds.c.claim_deadline).where(
                holds.c.debtor_id == debtor_id, holds.c.kind == HoldKind.collective_procedure.value,
                holds.c.released_at.is_(None)).order_by(holds.c.id.desc()).limit(1)).first()
        return (row.bodacc_published_on, row.claim_deadline) if row else None

    def suspended_cases(self, debtor_id: str) -> list[int]:
        with self.engine.connect() as conn:
            return conn.execute(select(legal_cases.c.id).where(
                legal_cases.c.debtor_id == debtor_id, legal_cases.c.status == CaseStatus.suspended.value
            ).order_by(legal_cases.c.id)).scalars().all()

    def open_case_invoices(self, as_of: date) -> set[str]:
        """Invoices of the cases still open (and opened by as_of): the ones to check for payment."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(legal_case_invoices.c.invoice_id).join(
                legal_cases, legal_cases.c.id == legal_case_invoices.c.case_id).where(
                legal_cases.c.status.in_([s.value for s in OPEN_STATUSES]),
                legal_cases.c.opened_on <= as_of)).scalars())

    def close_paid_cases(self, trace: Trace, as_of: date, paid_invoice_ids: set[str]) -> list[int]:
        """Open cases every invoice of which is proved paid are resolved as paid."""
        closed = []
        with self.engine.begin() as conn:
            cases = conn.execute(select(legal_cases).where(
                legal_cases.c.status.in_([s.value for s in OPEN_STATUSES]), legal_cases.c.opened_on <= as_of)).all()
            for case in cases:
                invoice_ids = conn.execute(select(legal_case_invoices.c.invoice_id).where(
                    legal_case_invoices.c.case_id == case.id)).scalars().all()
                if invoice_ids and set(invoice_ids) <= paid_invoice_ids:
                    self._move(conn, trace, case, CaseStatus.resolved,
                               f"every invoice of the case is paid in the accounting system as of {as_of}",
                               Resolution.paid, as_of)
                    closed.append(case.id)
        return closed

    def cases_without_dossier(self) -> list[int]:
        """Open cases without a dossier stating their whole claim: not written yet (failed, or held for the
        rates), or extended since. Each run writes them."""
        with self.engine.connect() as conn:
            return conn.execute(select(legal_cases.c.id).where(
                legal_cases.c.dossier_path.is_(None),
                legal_cases.c.status.in_([s.value for s in OPEN_STATUSES])).order_by(legal_cases.c.id)).scalars().all()

    def case_detail(self, case_id: int) -> dict:
        with self.engine.connect() as conn:
            case = conn.execute(select(legal_cases).where(legal_cases.c.id == case_id)).first()
            if case is None:
                raise LookupError(f"no legal case {case_id}")
            invoices = [dict(r._mapping) for r in conn.execute(select(legal_case_invoices).where(
                legal_case_invoices.c.case_id == case_id).order_by(legal_case_invoices.c.invoice_number))]
            events = [dict(r._mapping) for r in conn.execute(select(legal_case_events).where(
                legal_case_events.c.case_id == case_id).order_by(legal_case_events.c.id))]
        return {**dict(case._mapping), "invoices": invoices, "events": events}
