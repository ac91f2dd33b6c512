"""The operator's levers in the state database: disputes, promises to pay, payment plans, holds.

Each lever is one transaction that also appends its audit event, naming who acted (Trace.actor)
and why (the note or reason), so the trail can never disagree with what the planner reads.
Audit subjects are whom the lever affects: the invoice of a dispute or of an invoice hold, the
debtor of a promise, a plan or a debtor hold; the lever's own id is in the event's details.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Sequence

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from dunning.config import Step
from dunning.rules.arrangements import (
    Dispute, DisputeOutcome, DisputeReason, HoldKind, Installment, PaymentPlan, PlanStatus, Promise,
    PromiseStatus, claim_declaration_deadline,
)
from dunning.rules.calendar import paris_today, utc_now
from dunning.rules.legal_queue import CaseRequest
from dunning.rules.money import ZERO, to_money
from dunning.rules.planner import LedgerStatus
from dunning.state.legal_queue import LegalQueueStore
from dunning.state.schema import (
    actions, disputes, holds, payment_plans, plan_installments, plan_invoices, promise_invoices, promises,
)
from dunning.state.store import Trace

__all__ = ["LeverStore", "LeverRefused", "OPERATOR", "ACCOUNTING"]

OPERATOR, ACCOUNTING = "operator", "accounting"        # where a dispute comes from
_RUN_OUTCOMES = {DisputeOutcome.flag_cleared}           # recorded by the run, never chosen by an operator


class LeverRefused(ValueError):
    """A lever the rules do not allow: a second open dispute, a plan that does not add up..."""


def _say_why(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise LeverRefused(f"say why: {what} is recorded with its reason")
    return text.strip()


class LeverStore(LegalQueueStore):
    """The state store plus the arrangements an operator records (and the nightly run settles)."""

    # -- disputes ----------------------------------------------------------------------------
    def open_dispute(self, trace: Trace, invoice_id: str, invoice_number: str, debtor_id: str,
                     reason: DisputeReason, note: str, on: date, source: str = OPERATOR) -> int:
        """Open a dispute on an invoice: no reminder goes out on it while it is open."""
        reason = DisputeReason(reason)
        if source not in (OPERATOR, ACCOUNTING):
            raise ValueError(f"a dispute comes from {OPERATOR!r} or {ACCOUNTING!r}, not {source!r}")
        if (source == ACCOUNTING) != (reason is DisputeReason.accounting_flag):
            raise LeverRefused(f"the reason {DisputeReason.accounting_flag.value} is for disputes opened from the "
                               f"accounting system's flag, and only for them")
        note = _say_why(note, "a dispute")
        try:
            with self.engine.begin() as conn:
                return self._open_dispute(conn, trace, invoice_id, invoice_number, debtor_id, reason, note, on, source)
        except IntegrityError:
            # Another writer opened one between our check and our insert: the partial index refused it.
            raise LeverRefused(f"invoice {invoice_number} already has an open dispute") from None

    def _open_dispute(self, conn: Connection, trace: Trace, invoice_id: str, invoice_number: str, debtor_id: str,
                      reason: DisputeReason, note: str, on: date, source: str) -> int:
        current = conn.execute(select(disputes).where(disputes.c.invoice_id == invoice_id,
                                                      disputes.c.closed_at.is_(None))).first()
        if current is not None:
            raise LeverRefused(f"invoice {invoice_number} already has an open dispute ({current.id}, {current.reason}, "
                               f"opened on {current.opened_on} by {current.opened_by}): close it before opening another")
        dispute_id = conn.execute(insert(disputes).values(
            invoice_id=invoice_id, invoice_number=invoice_number, debtor_id=debtor_id, reason=reason.value,
            note=note, source=source, opened_on=on, opened_by=trace.actor, opened_at=utc_now(),
        ).returning(disputes.c.id)).scalar_one()
        self._append_audit(conn, trace, [(
            "dispute.opened", "invoice", invoice_id,
            f"Dispute {dispute_id} opened on invoice {invoice_number} of debtor {debtor_id} by {trace.actor} "
            f"({reason.value}): {note}",
            {"dispute_id": dispute_id, "invoice_number": invoice_number, "debtor_id": debtor_id,
             "reason": reason, "note": note, "source": source, "opened_on": on})])
        return dispute_id

    def close_dispute(self, trace: Trace, invoice_id: str, outcome: DisputeOutcome, note: str, on: date) -> int:
        """Close the invoice's open dispute with its outcome: collection resumes at the step due by then."""
        outcome = DisputeOutcome(outcome)
        if outcome in _RUN_OUTCOMES:
            raise LeverRefused(f"the outcome {outcome.value} is recorded by the nightly run when the accounting "
                               f"system clears its flag")
        note = _say_why(note, "closing a dispute")
        with self.engine.begin() as conn:
            current = conn.execute(select(disputes).where(disputes.c.invoice_id == invoice_id,
                                                          disputes.c.closed_at.is_(None))).first()
            if current is None:
                raise LookupError(f"invoice {invoice_id} has no open dispute")
            self._close_dispute(conn, trace, current, outcome, note, on)
            return current.id

    def _close_dispute(self, conn: Connection, trace: Trace, dispute, outcome: DisputeOutcome, note: str,
                       on: date) -> None:
        closed = conn.execute(update(disputes).where(disputes.c.id == dispute.id, disputes.c.closed_at.is_(None))
                              .values(closed_on=on, closed_by=trace.actor, closed_at=utc_now(), outcome=outcome.value,
                                      outcome_note=note)).rowcount
        if not closed:
            raise LeverRefused(f"dispute {dispute.id} on invoice {dispute.invoice_number} was closed meanwhile")
        self._append_audit(conn, trace, [(
            "dispute.closed", "invoice", dispute.invoice_id,
            f"Dispute {dispute.id} on invoice {dispute.invoice_number} closed by {trace.actor} ({outcome.value}): "
            f"{note}",
            {"dispute_id": dispute.id, "invoice_number": dispute.invoice_number, "debtor_id": dispute.debtor_id,
             "outcome": outcome, "note": note, "source": dispute.source, "closed_on": on})])

    def open_disputes(self) -> dict[str, Dispute]:
        """The disputes open now, by invoice id."""
        with self.engine.connect() as conn:
            return {r.invoice_id: Dispute(r.id, r.invoice_id, DisputeReason(r.reason), r.opened_on, r.note)
                    for r in conn.execute(select(disputes).where(disputes.c.closed_at.is_(None)))}

    def sync_accounting_disputes(self, trace: Trace, flagged: dict[str, tuple[str, str, str | None]],
                                 on: date) -> tuple[list[str], list[str]]:
        """Follow the accounting system's `disputed` flag: open a dispute for each newly flagged invoice,
        close as flag_cleared each accounting dispute whose invoice is no longer flagged.

        `flagged` maps invoice id -> (number, debtor id, disputed_reason). An invoice that already has
        an open dispute (from an operator, say) keeps it. Returns (opened numbers, closed numbers).
        """
        opened: list[str] = []
        closed: list[str] = []
        with self.engine.begin() as conn:
            current = conn.execute(select(disputes).where(disputes.c.closed_at.is_(None))).all()
            open_on = {r.invoice_id for r in current}
            for invoice_id, (number, debtor_id, why) in sorted(flagged.items(), key=lambda item: item[1][0]):
                if invoice_id in open_on:
                    continue
                note = "flagged as disputed in the accounting system" + (f": {why.strip()}" if why and why.strip()
                                                                         else "")
                self._open_dispute(conn, trace, invoice_id, number, debtor_id, DisputeReason.accounting_flag, note,
                                   on, ACCOUNTING)
                opened.append(number)
            for dispute in sorted(current, key=lambda r: r.invoice_number):
                if dispute.source == ACCOUNTING and dispute.invoice_id not in flagged:
                    self._close_dispute(conn, trace, dispute, DisputeOutcome.flag_cleared,
                                        "the accounting system no longer flags the invoice as disputed", on)
                    closed.append(dispute.invoice_number)
        return opened, closed

    def dispute_stats(self, as_of: date) -> dict[str, tuple[int, int]]:
        """Debtor id -> (disputes open on as_of, age in days of the oldest of them)."""
        oldest = func.min(disputes.c.opened_on)
        query = select(disputes.c.debtor_id, func.count(disputes.c.id), oldest).where(
            disputes.c.opened_on <= as_of,
            or_(disputes.c.closed_on.is_(None), disputes.c.closed_on > as_of),
        ).group_by(disputes.c.debtor_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {debtor_id: (count, (as_of - _as_date(first)).days) for debtor_id, count, first in rows}

    # -- promises to pay ---------------------------------------------------------------------
    def add_promise(self, trace: Trace, debtor_id: str, invoices: Sequence[tuple[str, str]], amount: Decimal,
                    currency: str, promised_on: date, grace_days: int, note: str, on: date) -> int:
        """The debtor promised `amount` by `promised_on` for these invoices: their reminders pause until
        then plus the grace days. An invoice is under one open promise at a time."""
        amount = to_money(amount)
        note = _say_why(note, "a promise to pay")
        if amount <= ZERO:
            raise LeverRefused(f"a promise to pay is for a positive amount, not {amount}")
        if not invoices:
            raise LeverRefused("a promise to pay names the invoices it is for")
        _refuse_repeats([number for _, number in invoices])
        if grace_days < 0:
            raise LeverRefused(f"grace days cannot be negative ({grace_days})")
        if promised_on < on:
            raise LeverRefused(f"the promised date {promised_on} is already past on {on}")
        ids = [invoice_id for invoice_id, _ in invoices]
        with self.engine.begin() as conn:
            taken = conn.execute(
                select(promise_invoices.c.invoice_number, promises.c.id, promises.c.promised_on)
                .join(promises, promises.c.id == promise_invoices.c.promise_id)
                .where(promise_invoices.c.invoice_id.in_(bindparam("ids", expanding=True)),
                       promises.c.status == PromiseStatus.open.value), {"ids": ids}).first()
            if taken is not None:
                raise LeverRefused(f"invoice {taken.invoice_number} is already under open promise {taken.id} "
                                   f"(to pay on {taken.promised_on}): settle that one first")
            promise_id = conn.execute(insert(promises).values(
                debtor_id=debtor_id, amount=amount, currency=currency, promised_on=promised_on,
                grace_days=grace_days, status=PromiseStatus.open.value, made_on=on, made_by=trace.actor,
                made_at=utc_now(), note=note,
            ).returning(promises.c.id)).scalar_one()
            conn.execute(insert(promise_invoices), [
                {"promise_id": promise_id, "invoice_id": invoice_id, "invoice_number": number}
                for invoice_id, number in invoices])
            numbers = ", ".join(number for _, number in invoices)
            self._append_audit(conn, trace, [(
                "promise.added", "debtor", debtor_id,
                f"Promise {promise_id} recorded by {trace.actor}: debtor {debtor_id} pays {amount} {currency} "
                f"on {promised_on} for invoices {numbers} (grace {grace_days} days): {note}",
                {"promise_id": promise_id, "invoices": numbers, "invoice_ids": ids, "amount": amount,
                 "currency": currency, "promised_on": promised_on, "grace_days": grace_days, "note": note,
                 "made_on": on})])
        return promise_id

    def open_promises(self) -> list[Promise]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(promises).where(promises.c.status == PromiseStatus.open.value)
                                .order_by(promises.c.id)).all()
            covered = self._members(conn, promise_invoices.c.promise_id, promise_invoices.c.invoice_id,
                                    [r.id for r in rows])
        return [Promise(id=r.id, debtor_id=r.debtor_id, invoice_ids=frozenset(covered.get(r.id, ())), amount=r.amount,
                        promised_on=r.promised_on, grace_days=r.grace_days, made_on=r.made_on) for r in rows]

    def broken_promises_to_apply(self, as_of: date) -> dict[str, date]:
        """Debtor -> date of a broken promise that no message has followed yet: the next step goes
        one ladder stricter and says the promise was not kept; the first message after it uses it up."""
        pending: dict[str, date] = {}
        with self.engine.connect() as conn:
            broken = conn.execute(select(promises).where(
                promises.c.status == PromiseStatus.broken.value, promises.c.settled_on <= as_of)).all()
            for promise in broken:
                followed = conn.execute(select(actions.c.id).where(
                    actions.c.debtor_id == promise.debtor_id, actions.c.status == "sent",
                    actions.c.as_of > promise.settled_on).limit(1)).first()
                if followed is None:
                    pending[promise.debtor_id] = max(pending.get(promise.debtor_id, promise.promised_on),
                                                     promise.promised_on)
        return pending

    def settle_promise(self, trace: Trace, promise_id: int, status: PromiseStatus, note: str, on: date) -> None:
        """Record that an open promise was kept or broken."""
        status = PromiseStatus(status)
        if status is PromiseStatus.open:
            raise ValueError("a promise is settled as kept or broken")
        note = _say_why(note, "settling a promise")
        with self.engine.begin() as conn:
            promise = self._close_once(conn, promises, promise_id, "promise", PromiseStatus.open.value,
                                       status=status.value, settled_on=on, settled_note=note)
            self._append_audit(conn, trace, [(
                f"promise.{status.value}", "debtor", promise.debtor_id,
                f"Promise {promise_id} of debtor {promise.debtor_id} ({promise.amount} {promise.currency} on "
                f"{promise.promised_on}) {status.value}, recorded by {trace.actor}: {note}",
                {"promise_id": promise_id, "status": status, "note": note, "settled_on": on})])

    @staticmethod
    def _close_once(conn: Connection, table, row_id: int, what: str, open_status: str, **values):
        """Move a row out of its open status exactly once (compare-and-set); returns the row as it was."""
        row = conn.execute(select(table).where(table.c.id == row_id)).first()
        if row is None:
            raise LookupError(f"no {what} {row_id}")
        changed = conn.execute(update(table).where(table.c.id == row_id, table.c.status == open_status)
                               .values(**values)).rowcount
        if not changed:
            raise LeverRefused(f"{what} {row_id} is already {row.status}")
        return row

    # -- payment plans -----------------------------------------------------------------------
    def create_plan(self, trace: Trace, debtor_id: str, currency: str, invoices: Sequence[tuple[str, str, Decimal]],
                    installments: Sequence[Installment], grace_days: int, note: str, on: date) -> int:
        """An échéancier over chosen invoices: the installments must add up to what the invoices owe,
        fall due one after another, and no invoice may already be in an active plan."""
        note = _say_why(note, "a payment plan")
        if not invoices:
            raise LeverRefused("a payment plan names the invoices it covers")
        if not installments:
            raise LeverRefused("a payment plan has at least one installment")
        _refuse_repeats([number for _, number, _ in invoices])
        if grace_days < 0:
            raise LeverRefused(f"grace days cannot be negative ({grace_days})")
        invoices = [(invoice_id, number, to_money(amount)) for invoice_id, number, amount in invoices]
        installments = [Installment(i.seq, i.due_date, to_money(i.amount)) for i in installments]
        _check_installments(invoices, installments, currency, on)
        ids = [invoice_id for invoice_id, _, _ in invoices]
        total = sum((amount for _, _, amount in invoices), ZERO)
        with self.engine.begin() as conn:
            taken = conn.execute(
                select(plan_invoices.c.invoice_number, payment_plans.c.id)
                .join(payment_plans, payment_plans.c.id == plan_invoices.c.plan_id)
                .where(plan_invoices.c.invoice_id.in_(bindparam("ids", expanding=True)),
                       payment_plans.c.status == PlanStatus.active.value), {"ids": ids}).first()
            if taken is not None:
                raise LeverRefused(f"invoice {taken.invoice_number} is already in active payment plan {taken.id}")
            plan_id = conn.execute(insert(payment_plans).values(
                debtor_id=debtor_id, currency=currency, status=PlanStatus.active.value, grace_days=grace_days,
                created_on=on, created_by=trace.actor, created_at=utc_now(), note=note,
            ).returning(payment_plans.c.id)).scalar_one()
            conn.execute(insert(plan_invoices), [
                {"plan_id": plan_id, "invoice_id": invoice_id, "invoice_number": number, "amount": amount}
                for invoice_id, number, amount in invoices])
            conn.execute(insert(plan_installments), [
                {"plan_id": plan_id, "seq": i.seq, "due_date": i.due_date, "amount": i.amount} for i in installments])
            numbers = ", ".join(number for _, number, _ in invoices)
            schedule = ", ".join(f"{i.amount} on {i.due_date}" for i in installments)
            self._append_audit(conn, trace, [(
                "plan.created", "debtor", debtor_id,
                f"Payment plan {plan_id} created by {trace.actor} for debtor {debtor_id}: invoices {numbers} "
                f"({total} {currency}) in {len(installments)} installments ({schedule}), grace {grace_days} days: "
                f"{note}",
                {"plan_id": plan_id, "invoices": numbers, "invoice_ids": ids, "total": total, "currency": currency,
                 "installments": [{"seq": i.seq, "due_date": i.due_date, "amount": i.amount} for i in installments],
                 "grace_days": grace_days, "note": note, "created_on": on})])
        return plan_id

    def active_plans(self) -> list[PaymentPlan]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(payment_plans).where(payment_plans.c.status == PlanStatus.active.value)
                                .order_by(payment_plans.c.id)).all()
            plan_ids = [r.id for r in rows]
            covered = self._members(conn, plan_invoices.c.plan_id, plan_invoices.c.invoice_id, plan_ids)
            schedule: dict[int, list[Installment]] = {}
            if plan_ids:
                for r in conn.execute(select(plan_installments).where(
                        plan_installments.c.plan_id.in_(bindparam("ids", expanding=True)))
                        .order_by(plan_installments.c.plan_id, plan_installments.c.seq), {"ids": plan_ids}):
                    schedule.setdefault(r.plan_id, []).append(Installment(r.seq, r.due_date, r.amount))
        return [PaymentPlan(id=r.id, debtor_id=r.debtor_id, currency=r.currency,
                            invoice_ids=frozenset(covered.get(r.id, ())),
                            installments=tuple(schedule.get(r.id, ())), grace_days=r.grace_days,
                            created_on=r.created_on) for r in rows]

    def plan_detail(self, plan_id: int) -> dict:
        """The plan's row with its `invoices` and `installments`, for the operator."""
        with self.engine.connect() as conn:
            plan = conn.execute(select(payment_plans).where(payment_plans.c.id == plan_id)).first()
            if plan is None:
                raise LookupError(f"no payment plan {plan_id}")
            invoices = [dict(r._mapping) for r in conn.execute(select(plan_invoices).where(
                plan_invoices.c.plan_id == plan_id).order_by(plan_invoices.c.invoice_number))]
            installments = [dict(r._mapping) for r in conn.execute(select(plan_installments).where(
                plan_installments.c.plan_id == plan_id).order_by(plan_installments.c.seq))]
        total = sum((i["amount"] for i in invoices), ZERO)
        return {**dict(plan._mapping), "total": total, "invoices": invoices, "installments": installments}

    def end_plan(self, trace: Trace, plan_id: int, status: PlanStatus, note: str, on: date) -> None:
        """An active plan ends: completed (all paid), broken (an installment missed beyond grace) or cancelled."""
        status = PlanStatus(status)
        if status is PlanStatus.active:
            raise ValueError("a plan ends as completed, broken or cancelled")
        note = _say_why(note, "ending a payment plan")
        with self.engine.begin() as conn:
            plan = self._close_once(conn, payment_plans, plan_id, "payment plan", PlanStatus.active.value,
                                    status=status.value, ended_on=on, ended_note=note)
            self._append_audit(conn, trace, [(
                f"plan.{status.value}", "debtor", plan.debtor_id,
                f"Payment plan {plan_id} of debtor {plan.debtor_id} {status.value}, recorded by {trace.actor}: {note}",
                {"plan_id": plan_id, "status": status, "note": note, "ended_on": on})])

    # -- small claims --------------------------------------------------------------------------
    def hand_over_anyway(self, trace: Trace, as_of: date, request: CaseRequest, note: str) -> tuple[int, bool]:
        """An operator sends a small claim (below legal.min_principal) to the legal queue after all.

        Its legal_handoff row waits 'awaiting_approval'; it becomes the handoff, and the invoice joins
        the debtor's open case (or a new one) in the same transaction. The next run writes the dossier.
        """
        note = _say_why(note, "a handoff below the small-claim threshold")
        [decision] = request.decisions
        now = utc_now()
        with self.engine.begin() as conn:
            moved = conn.execute(update(actions).where(
                actions.c.invoice_id == decision.invoice_id, actions.c.step == Step.legal_handoff.value,
                actions.c.status == LedgerStatus.awaiting_approval.value,
            ).values(status=LedgerStatus.queued.value, reason=f"{decision.reason}; handed over anyway by "
                     f"{trace.actor}: {note}", amount=decision.residual, as_of=as_of, updated_at=now)).rowcount
            if not moved:
                raise LeverRefused(f"invoice {decision.invoice_number} is not waiting for a small-claim decision "
                                   "(no legal_handoff row awaiting approval): the nightly run decides its handoff")
            self._append_audit(conn, trace, [(
                "action.handed_over", "invoice", decision.invoice_id,
                f"Invoice {decision.invoice_number} ({decision.residual} {decision.currency}, a small claim waiting "
                f"for a decision) handed to the legal queue anyway by {trace.actor}: {note}",
                {"invoice_number": decision.invoice_number, "amount": decision.residual,
                 "currency": decision.currency, "note": note})])
            return self._join_case(conn, trace, as_of, request, now)

    # -- holds -------------------------------------------------------------------------------
    def add_hold(self, trace: Trace, *, debtor_id: str | None = None, invoice_id: str | None = None,
                 until: date | None = None, reason: str, kind: HoldKind = HoldKind.manual,
                 bodacc_published_on: date | None = None, on: date, invoice_number: str | None = None) -> int:
        """Pause a debtor or one invoice (until a date, or until released).

        A collective procedure (procédure collective) holds the debtor, needs the date the opening
        judgment was published in the BODACC, and records the claim declaration deadline.
        """
        kind = HoldKind(kind)
        reason = _say_why(reason, "a hold")
        if (debtor_id is None) == (invoice_id is None):
            raise LeverRefused("a hold is on a debtor or on one invoice: give exactly one of them")
        if until is not None and until < on:
            raise LeverRefused(f"a hold until {until} would already be over on {on}")
        claim_deadline = None
        if kind is HoldKind.collective_procedure:
            if debtor_id is None:
                raise LeverRefused("a collective procedure concerns the debtor: hold the debtor, not one invoice")
            if bodacc_published_on is None:
                raise LeverRefused("a collective procedure hold needs the date the judgment was published in the "
                                   "BODACC: the claim declaration deadline runs from it")
            if bodacc_published_on > on:
                raise LeverRefused(f"the BODACC publication date {bodacc_published_on} is after {on}")
            claim_deadline = claim_declaration_deadline(bodacc_published_on)
        elif bodacc_published_on is not None:
            raise LeverRefused("a BODACC publication date goes with a collective procedure hold only")
        subject_type, subject_id = ("debtor", debtor_id) if debtor_id is not None else ("invoice", invoice_id)
        target = f"debtor {debtor_id}" if debtor_id is not None else f"invoice {invoice_number or invoice_id}"
        with self.engine.begin() as conn:
            hold_id = conn.execute(insert(holds).values(
                debtor_id=debtor_id, invoice_id=invoice_id, until=until, reason=reason, kind=kind.value,
                bodacc_published_on=bodacc_published_on, claim_deadline=claim_deadline,
                created_by=trace.actor, created_at=utc_now(),
            ).returning(holds.c.id)).scalar_one()
            span = f" until {until}" if until else " until released"
            if kind is HoldKind.collective_procedure:
                message = (f"Hold {hold_id} on {target}{span} by {trace.actor}: collective procedure (BODACC "
                           f"{bodacc_published_on}); declare the claim to the mandataire judiciaire by "
                           f"{claim_deadline}: {reason}")
                self._suspend_or_resume(conn, trace, debtor_id, True, f"collective procedure (hold {hold_id}, "
                                        f"BODACC {bodacc_published_on}): no injonction de payer; declare the claim "
                                        f"to the mandataire judiciaire by {claim_deadline}", on)
            else:
                message = f"Hold {hold_id} on {target}{span} by {trace.actor}: {reason}"
            self._append_audit(conn, trace, [(
                "hold.added", subject_type, subject_id, message,
                {"hold_id": hold_id, "kind": kind, "until": until, "reason": reason, "invoice_number": invoice_number,
                 "bodacc_published_on": bodacc_published_on, "claim_deadline": claim_deadline, "on": on})])
        return hold_id

    def release_hold(self, trace: Trace, hold_id: int, note: str, on: date | None = None) -> list[int]:
        """Collection resumes; a collective procedure's suspended cases go back to the legal queue (their ids)."""
        note = _say_why(note, "releasing a hold")
        with self.engine.begin() as conn:
            hold = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
            if hold is None:
                raise LookupError(f"no hold {hold_id}")
            released = conn.execute(update(holds).where(holds.c.id == hold_id, holds.c.released_at.is_(None))
                                    .values(released_at=utc_now(), released_by=trace.actor)).rowcount
            if not released:
                raise LeverRefused(f"hold {hold_id} was already released by {hold.released_by} "
                                   f"on {hold.released_at:%Y-%m-%d}")
            subject_type, subject_id = ("debtor", hold.debtor_id) if hold.debtor_id else ("invoice", hold.invoice_id)
            self._append_audit(conn, trace, [(
                "hold.released", subject_type, subject_id,
                f"Hold {hold_id} on {subject_type} {subject_id} ({hold.reason}) released by {trace.actor}: {note}",
                {"hold_id": hold_id, "kind": hold.kind, "note": note})])
            if hold.kind != HoldKind.collective_procedure.value:
                return []
            return self._suspend_or_resume(conn, trace, hold.debtor_id, False, f"collective procedure hold {hold_id} "
                                           f"released: {note}", on or paris_today())

    def active_holds_with_kind(self, as_of: date) -> list[dict]:
        """The holds in force on as_of, with their kind and, for a collective procedure, the claim deadline.

        Keys: id, debtor_id, invoice_id, until, reason, kind (HoldKind), bodacc_published_on,
        claim_deadline, created_by, created_at.
        """
        query = select(holds).where(holds.c.released_at.is_(None),
                                    or_(holds.c.until.is_(None), holds.c.until >= as_of)).order_by(holds.c.id)
        with self.engine.connect() as conn:
            return [{"id": r.id, "debtor_id": r.debtor_id, "invoice_id": r.invoice_id, "until": r.until,
                     "reason": r.reason, "kind": HoldKind(r.kind), "bodacc_published_on": r.bodacc_published_on,
                     "claim_deadline": r.claim_deadline, "created_by": r.created_by, "created_at": r.created_at}
                    for r in conn.execute(query)]

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _members(conn: Connection, owner, member, owner_ids: list[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        if owner_ids:
            for owner_id, member_id in conn.execute(select(owner, member).where(
                    owner.in_(bindparam("ids", expanding=True))), {"ids": owner_ids}):
                found.setdefault(owner_id, []).append(member_id)
        return found


def _as_date(value) -> date:
    # SQLite hands MIN() over a DATE column back as text.
    return value if isinstance(value, date) else date.fromisoformat(value)


def _refuse_repeats(numbers: Sequence[str]) -> None:
    repeated = sorted(n for n, times in Counter(numbers).items() if times > 1)
    if repeated:
        raise LeverRefused(f"invoice {', '.join(repeated)} given more than once")


def _check_installments(invoices: Sequence[tuple[str, str, Decimal]], installments: Sequence[Installment],
                        currency: str, on: date) -> None:
    if [i.seq for i in installments] != list(range(1, len(installments) + 1)):
        raise LeverRefused("installments are numbered 1, 2, 3... in order")
    for i in installments:
        if i.amount <= ZERO:
            raise LeverRefused(f"installment {i.seq} is for {i.amount}: each installment is a positive amount")
    for earlier, later in zip(installments, installments[1:]):
        if later.due_date <= earlier.due_date:
            raise LeverRefused(f"installment {later.seq} falls due on {later.due_date}, not after installment "
                               f"{earlier.seq} on {earlier.due_date}: due dates must increase")
    if installments[0].due_date < on:
        raise LeverRefused(f"the first installment falls due on {installments[0].due_date}, before the plan ({on})")
    owed = sum((amount for _, _, amount in invoices), ZERO)
    scheduled = sum((i.amount for i in installments), ZERO)
    if scheduled != owed:
        raise LeverRefused(f"the installments add up to {scheduled} {currency} but the invoices owe {owed} {currency}: "
                           f"they must be equal")
