"""The operator's levers, stored and audited: disputes, promises to pay, payment plans, holds.

Each scenario runs on SQLite and PostgreSQL (the `backend` fixture), through the store, the CLI
and the lever flows on the real Prefect engine.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from dunning.documents.exports import export_rows
from dunning.rules.arrangements import (
    DisputeOutcome, DisputeReason, HoldKind, Installment, PlanStatus, PromiseStatus,
    claim_declaration_deadline,
)
from dunning.rules.calendar import paris_today, utc_now
from dunning.state.levers import LeverRefused, LeverStore
from dunning.state.schema import disputes
from dunning.state.store import Trace, state_engine

AS_OF = date(2026, 3, 18)
ALICE = Trace(actor="alice")
TODAY = paris_today()


@pytest.fixture
def levers(backend) -> LeverStore:
    return LeverStore(state_engine(backend.state_url))


@pytest.fixture
def books(backend):
    """Debtor DUPONT owes two invoices (600 + 600 EUR); MARTIN owes one in EUR and one in USD."""
    accounting = backend.accounting
    accounting.customer("DUPONT")
    accounting.invoice("D1", "DUPONT", due=date(2026, 2, 1), total="600.00")
    accounting.invoice("D2", "DUPONT", due=date(2026, 2, 15), total="900.00", residual="600.00")
    accounting.customer("MARTIN")
    accounting.invoice("M1", "MARTIN", due=date(2026, 2, 1), total="250.00")
    accounting.invoice("M2", "MARTIN", due=date(2026, 2, 1), total="100.00", currency="USD")
    accounting.invoice("AV1", "MARTIN", due=None, total="50.00", kind="credit_note")
    return accounting


def audit(levers: LeverStore, event: str) -> list[dict]:
    return [r for r in export_rows(levers, "audit", None) if r["event"] == event]


# -- disputes ----------------------------------------------------------------------------------
def test_dispute_opened_stops_reminders_on_the_invoice_and_is_audited(levers):
    dispute_id = levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.pricing,
                                     "unit price differs from the quote", AS_OF)
    [dispute] = levers.open_disputes().values()
    assert (dispute.id, dispute.invoice_id, dispute.reason, dispute.opened_on) == (
        dispute_id, "D1", DisputeReason.pricing, AS_OF)
    [event] = audit(levers, "dispute.opened")
    assert event["actor"] == "alice" and (event["subject_type"], event["subject_id"]) == ("invoice", "D1")
    assert "unit price differs from the quote" in event["message"] and "FA-D1" in event["message"]
    assert event["details"]["note"] == "unit price differs from the quote"
    assert event["details"]["reason"] == "pricing" and event["details"]["source"] == "operator"


def test_a_second_open_dispute_on_the_same_invoice_is_refused(levers):
    levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.quality, "scratched", AS_OF)
    with pytest.raises(LeverRefused, match="FA-D1 already has an open dispute"):
        levers.open_dispute(Trace(actor="bob"), "D1", "FA-D1", "DUPONT", DisputeReason.pricing, "too dear", AS_OF)
    assert len(levers.open_disputes()) == 1 and len(audit(levers, "dispute.opened")) == 1


def test_the_database_itself_refuses_a_second_open_dispute(levers):
    """The partial unique index guards against two writers racing past the store's check."""
    row = {"invoice_id": "D1", "invoice_number": "FA-D1", "debtor_id": "DUPONT", "reason": "other", "note": "n",
           "source": "operator", "opened_on": AS_OF, "opened_by": "x", "opened_at": utc_now()}
    with levers.engine.begin() as conn:
        conn.execute(insert(disputes).values(**row))
        conn.execute(insert(disputes).values(**row, closed_at=utc_now()))   # a closed one is fine
    with pytest.raises(IntegrityError):
        with levers.engine.begin() as conn:
            conn.execute(insert(disputes).values(**row))


def test_dispute_closed_with_its_outcome_resumes_collection(levers):
    opened = levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.delivery, "late delivery", AS_OF)
    closed = levers.close_dispute(Trace(actor="bob"), "D1", DisputeOutcome.credit_note_issued, "AV-2026-014 issued",
                                  AS_OF + timedelta(days=5))
    assert closed == opened and levers.open_disputes() == {}
    with levers.engine.connect() as conn:
        row = conn.execute(text("SELECT closed_on, closed_by, outcome, outcome_note FROM disputes")).one()
    assert (row.closed_by, row.outcome, row.outcome_note) == ("bob", "credit_note_issued", "AV-2026-014 issued")
    [event] = audit(levers, "dispute.closed")
    assert event["actor"] == "bob" and "AV-2026-014 issued" in event["message"]
    assert event["details"]["outcome"] == "credit_note_issued"
    # Once closed, the invoice can be disputed again.
    levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.other, "new complaint", AS_OF)


def test_closing_an_invoice_without_open_dispute_is_refused(levers):
    with pytest.raises(LookupError, match="no open dispute"):
        levers.close_dispute(ALICE, "D1", DisputeOutcome.claim_rejected, "nothing to close", AS_OF)


def test_a_dispute_needs_a_note(levers):
    with pytest.raises(LeverRefused, match="say why"):
        levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.pricing, "  ", AS_OF)


def test_accounting_flag_opens_a_dispute_and_clearing_it_closes_it(levers):
    run = Trace(run_id=None, actor="nightly-run")
    levers.open_dispute(ALICE, "D2", "FA-D2", "DUPONT", DisputeReason.quality, "operator's own", AS_OF)
    flagged = {"D1": ("FA-D1", "DUPONT", "prix contesté"), "D2": ("FA-D2", "DUPONT", None)}
    assert levers.sync_accounting_disputes(run, flagged, AS_OF) == (["FA-D1"], [])
    opened = levers.open_disputes()
    assert opened["D1"].reason is DisputeReason.accounting_flag and "prix contesté" in opened["D1"].note
    assert opened["D2"].reason is DisputeReason.quality           # the operator's dispute stays as it was
    assert levers.sync_accounting_disputes(run, flagged, AS_OF + timedelta(days=1)) == ([], [])   # idempotent

    # The accounting system clears both flags: only the dispute it opened closes.
    assert levers.sync_accounting_disputes(run, {}, AS_OF + timedelta(days=2)) == ([], ["FA-D1"])
    assert set(levers.open_disputes()) == {"D2"}
    [closed] = audit(levers, "dispute.closed")
    assert closed["actor"] == "nightly-run" and closed["details"]["outcome"] == "flag_cleared"
    assert closed["details"]["note"] == "the accounting system no longer flags the invoice as disputed"


def test_an_operator_cannot_record_the_runs_own_reason_or_outcome(levers):
    with pytest.raises(LeverRefused, match="accounting_flag"):
        levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.accounting_flag, "x", AS_OF)
    levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.other, "x", AS_OF)
    with pytest.raises(LeverRefused, match="flag_cleared"):
        levers.close_dispute(ALICE, "D1", DisputeOutcome.flag_cleared, "x", AS_OF)


def test_dispute_stats_count_open_disputes_and_the_age_of_the_oldest(levers):
    levers.open_dispute(ALICE, "D1", "FA-D1", "DUPONT", DisputeReason.pricing, "a", date(2026, 3, 1))
    levers.open_dispute(ALICE, "D2", "FA-D2", "DUPONT", DisputeReason.quality, "b", date(2026, 3, 10))
    levers.open_dispute(ALICE, "M1", "FA-M1", "MARTIN", DisputeReason.other, "c", date(2026, 3, 12))
    levers.close_dispute(ALICE, "M1", DisputeOutcome.claim_rejected, "invoice stands", date(2026, 3, 15))
    assert levers.dispute_stats(AS_OF) == {"DUPONT": (2, 17)}
    assert levers.dispute_stats(date(2026, 3, 14)) == {"DUPONT": (2, 13), "MARTIN": (1, 2)}   # as it stood then


# -- promises to pay ---------------------------------------------------------------------------
def test_promise_added_pauses_the_invoices_and_is_audited(levers):
    promise_id = levers.add_promise(ALICE, "DUPONT", [("D1", "FA-D1"), ("D2", "FA-D2")], Decimal("1200.00"), "EUR",
                                    date(2026, 3, 31), 3, "will pay both by transfer", AS_OF)
    [promise] = levers.open_promises()
    assert (promise.id, promise.debtor_id, promise.invoice_ids, promise.amount) == (
        promise_id, "DUPONT", frozenset({"D1", "D2"}), Decimal("1200.00"))
    assert promise.pause_until == date(2026, 4, 3) and promise.made_on == AS_OF
    [event] = audit(levers, "promise.added")
    assert event["actor"] == "alice" and (event["subject_type"], event["subject_id"]) == ("debtor", "DUPONT")
    assert "will pay both by transfer" in event["message"] and event["details"]["amount"] == "1200.00"


def test_an_invoice_under_an_open_promise_cannot_be_promised_again(levers):
    levers.add_promise(ALICE, "DUPONT", [("D1", "FA-D1")], Decimal("600.00"), "EUR", date(2026, 3, 31), 3, "a", AS_OF)
    with pytest.raises(LeverRefused, match="FA-D1 is already under open promise"):
        levers.add_promise(ALICE, "DUPONT", [("D1", "FA-D1")], Decimal("100.00"), "EUR", date(2026, 4, 5), 3, "b",
                           AS_OF)


@pytest.mark.parametrize("status", [PromiseStatus.kept, PromiseStatus.broken])
def test_promise_settled_kept_or_broken(levers, status):
    promise_id = levers.add_promise(ALICE, "DUPONT", [("D1", "FA-D1")], Decimal("600.00"), "EUR", date(2026, 3, 31),
                                    3, "by transfer", AS_OF)
    levers.settle_promise(Trace(actor="nightly-run"), promise_id, status, "payments checked", date(2026, 4, 4))
    assert levers.open_promises() == []
    [event] = audit(levers, f"promise.{status.value}")
    assert event["actor"] == "nightly-run" and "payments checked" in event["message"]
    with pytest.raises(LeverRefused, match=f"already {status.value}"):
        levers.settle_promise(ALICE, promise_id, PromiseStatus.kept, "again", date(2026, 4, 5))


# -- payment plans -----------------------------------------------------------------------------
TWO_INSTALLMENTS = [Installment(1, date(2026, 4, 30), Decimal("600.00")),
                    Installment(2, date(2026, 5, 31), Decimal("600.00"))]
DUPONT_INVOICES = [("D1", "FA-D1", Decimal("600.00")), ("D2", "FA-D2", Decimal("600.00"))]


def test_plan_created_holds_its_invoices_and_is_audited(levers):
    plan_id = levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES, TWO_INSTALLMENTS, 3, "two months", AS_OF)
    [plan] = levers.active_plans()
    assert (plan.id, plan.invoice_ids, plan.installments, plan.total) == (
        plan_id, frozenset({"D1", "D2"}), tuple(TWO_INSTALLMENTS), Decimal("1200.00"))
    [event] = audit(levers, "plan.created")
    assert event["actor"] == "alice" and "two months" in event["message"]
    assert event["details"]["total"] == "1200.00" and len(event["details"]["installments"]) == 2


def test_plan_refused_when_the_installments_do_not_add_up(levers):
    short = [Installment(1, date(2026, 4, 30), Decimal("600.00")), Installment(2, date(2026, 5, 31), Decimal("500.00"))]
    with pytest.raises(LeverRefused, match="add up to 1100.00 EUR but the invoices owe 1200.00 EUR"):
        levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES, short, 3, "x", AS_OF)
    assert levers.active_plans() == [] and audit(levers, "plan.created") == []


def test_plan_refused_when_due_dates_do_not_increase(levers):
    backwards = [Installment(1, date(2026, 5, 31), Decimal("600.00")),
                 Installment(2, date(2026, 5, 31), Decimal("600.00"))]
    with pytest.raises(LeverRefused, match="due dates must increase"):
        levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES, backwards, 3, "x", AS_OF)


def test_plan_refused_for_an_invoice_already_in_an_active_plan(levers):
    levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES[:1], TWO_INSTALLMENTS[:1], 3, "first", AS_OF)
    with pytest.raises(LeverRefused, match="FA-D1 is already in active payment plan"):
        levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES, TWO_INSTALLMENTS, 3, "second", AS_OF)


def test_plan_shown_and_ended(levers):
    plan_id = levers.create_plan(ALICE, "DUPONT", "EUR", DUPONT_INVOICES, TWO_INSTALLMENTS, 5, "agreed by phone", AS_OF)
    detail = levers.plan_detail(plan_id)
    assert (detail["status"], detail["total"], detail["grace_days"], detail["created_by"]) == (
        "active", Decimal("1200.00"), 5, "alice")
    assert [i["invoice_number"] for i in detail["invoices"]] == ["FA-D1", "FA-D2"]
    assert [(i["seq"], i["due_date"], i["amount"]) for i in detail["installments"]] == [
        (1, date(2026, 4, 30), Decimal("600.00")), (2, date(2026, 5, 31), Decimal("600.00"))]
    levers.end_plan(Trace(actor="nightly-run"), plan_id, PlanStatus.broken, "installment 1 missed", date(2026, 5, 4))
    assert levers.active_plans() == [] and levers.plan_detail(plan_id)["status"] == "broken"
    [event] = audit(levers, "plan.broken")
    assert event["actor"] == "nightly-run" and "installment 1 missed" in event["message"]
    with pytest.raises(LookupError, match="no payment plan 999"):
        levers.plan_detail(999)


# -- holds -------------------------------------------------------------------------------------
def test_hold_added_on_an_invoice_until_a_date(levers):
    hold_id = levers.add_hold(ALICE, invoice_id="D1", invoice_number="FA-D1", until=date(2026, 4, 15),
                              reason="customer's accountant on leave", on=AS_OF)
    [hold] = levers.active_holds_with_kind(AS_OF)
    assert (hold["id"], hold["invoice_id"], hold["kind"], hold["until"], hold["claim_deadline"]) == (
        hold_id, "D1", HoldKind.manual, date(2026, 4, 15), None)
    assert levers.active_holds_with_kind(date(2026, 4, 16)) == []
    [planner_hold] = levers.active_holds(AS_OF)      # the planner's reading is unchanged
    assert planner_hold.invoice_id == "D1" and planner_hold.reason == "customer's accountant on leave"
    [event] = audit(levers, "hold.added")
    assert event["actor"] == "alice" and (event["subject_type"], event["subject_id"]) == ("invoice", "D1")
    assert "customer's accountant on leave" in event["message"] and "FA-D1" in event["message"]


def test_collective_procedure_hold_records_the_claim_deadline_two_months_after_bodacc(levers):
    hold_id = levers.add_hold(ALICE, debtor_id="DUPONT", reason="redressement judiciaire, TC Lyon",
                              kind=HoldKind.collective_procedure, bodacc_published_on=date(2025, 12, 31), on=AS_OF)
    [hold] = levers.active_holds_with_kind(AS_OF)
    assert hold["id"] == hold_id and hold["kind"] is HoldKind.collective_procedure
    assert hold["bodacc_published_on"] == date(2025, 12, 31)
    assert hold["claim_deadline"] == date(2026, 2, 28)           # 31 December + 2 months: end of February
    [event] = audit(levers, "hold.added")
    assert "mandataire judiciaire by 2026-02-28" in event["message"]
    assert event["details"]["claim_deadline"] == "2026-02-28" and event["details"]["kind"] == "collective_procedure"


@pytest.mark.parametrize(("kwargs", "refusal"), [
    ({"debtor_id": "DUPONT", "invoice_id": "D1"}, "exactly one"),
    ({}, "exactly one"),
    ({"debtor_id": "DUPONT", "kind": HoldKind.collective_procedure}, "BODACC"),
    ({"invoice_id": "D1", "kind": HoldKind.collective_procedure, "bodacc_published_on": date(2026, 3, 2)},
     "concerns the debtor"),
    ({"debtor_id": "DUPONT", "bodacc_published_on": date(2026, 3, 2)}, "collective procedure hold only"),
    ({"debtor_id": "DUPONT", "until": date(2026, 3, 1)}, "already be over"),
])
def test_hold_refusals(levers, kwargs, refusal):
    with pytest.raises(LeverRefused, match=refusal):
        levers.add_hold(ALICE, reason="r", on=AS_OF, **kwargs)


def test_hold_released_is_audited_and_no_longer_holds(levers):
    hold_id = levers.add_hold(ALICE, debtor_id="DUPONT", reason="negotiating", on=AS_OF)
    levers.release_hold(Trace(actor="bob"), hold_id, "agreement reached")
    assert levers.active_holds_with_kind(AS_OF) == [] and levers.active_holds(AS_OF) == []
    [event] = audit(levers, "hold.released")
    assert event["actor"] == "bob" and "agreement reached" in event["message"]
    assert (event["subject_type"], event["subject_id"]) == ("debtor", "DUPONT")
    with pytest.raises(LeverRefused, match="already released by bob"):
        levers.release_hold(ALICE, hold_id, "again")
    with pytest.raises(LookupError, match="no hold 999"):
        levers.release_hold(ALICE, 999, "nothing")


# -- the migration -----------------------------------------------------------------------------
def test_migration_0003_downgrades_and_upgrades_again(backend):
    from alembic import command
    from sqlalchemy import inspect

    from dunning.state.database import _alembic_config, upgrade_database

    command.downgrade(_alembic_config(backend.state_url), "0002")
    engine = state_engine(backend.state_url)
    engine.dispose()
    inspector = inspect(engine)
    assert not {"disputes", "promises", "promise_invoices", "payment_plans", "plan_invoices",
                "plan_installments"} & set(inspector.get_table_names())
    assert "kind" not in {c["name"] for c in inspector.get_columns("holds")}
    assert upgrade_database(backend.state_url) == "0006"
    engine.dispose()
    assert {"kind", "bodacc_published_on", "claim_deadline"} <= {c["name"] for c in inspect(engine).get_columns("holds")}


# -- the CLI, end to end -----------------------------------------------------------------------
def cli(*args: str):
    from flows.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_dispute_open_and_close(books, levers):
    opened = cli("dispute", "open", "FA-D1", "--reason", "pricing", "--note", "price of the quote", "--operator", "carol")
    assert opened.exit_code == 0, opened.output
    assert "Dispute 1 opened on invoice FA-D1 (pricing)" in opened.output
    assert set(levers.open_disputes()) == {"D1"}
    twice = cli("dispute", "open", "FA-D1", "--reason", "quality", "--note", "again", "--operator", "carol")
    assert twice.exit_code == 2 and "error: invoice FA-D1 already has an open dispute" in twice.output

    closed = cli("dispute", "close", "FA-D1", "--outcome", "credit_note_issued", "--note", "AV-14",
                 "--operator", "dave")
    assert closed.exit_code == 0, closed.output
    assert "closed (credit_note_issued)" in closed.output and levers.open_disputes() == {}
    assert [e["actor"] for e in audit(levers, "dispute.opened") + audit(levers, "dispute.closed")] == ["carol", "dave"]


def test_cli_operator_comes_from_the_environment(books, levers, monkeypatch):
    monkeypatch.setenv("DUNNING_OPERATOR", "erin")
    result = cli("dispute", "open", "FA-M1", "--reason", "not_received", "--note", "never delivered")
    assert result.exit_code == 0, result.output
    [event] = audit(levers, "dispute.opened")
    assert event["actor"] == "erin"


@pytest.mark.parametrize(("args", "error"), [
    (("dispute", "open", "FA-NOPE", "--reason", "pricing", "--note", "x"),
     "error: unknown invoice number FA-NOPE: not in the accounting database"),
    (("dispute", "open", "FA-AV1", "--reason", "pricing", "--note", "x"), "error: FA-AV1 is a credit_note"),
    (("dispute", "close", "FA-D1", "--outcome", "credit_note_issued", "--note", "x"),
     "error: invoice FA-D1 has no open dispute"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1,FA-NOPE,FA-NADA", "--amount", "100.00",
      "--date", (TODAY + timedelta(days=10)).isoformat(), "--note", "x"),
     "error: unknown invoice numbers FA-NOPE, FA-NADA"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "12O0.00",
      "--date", (TODAY + timedelta(days=10)).isoformat(), "--note", "x"),
     "error: --amount must be an amount such as 1200.00 (a dot before the cents, no thousands separator), "
     "got '12O0.00'"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "1,200", "--date", "2026-04-01", "--note", "x"),
     "no thousands separator), got '1,200'"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "-5", "--date", "2026-04-01", "--note", "x"),
     "error: --amount must be a positive amount"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "10.005", "--date", "2026-04-01", "--note", "x"),
     "error: --amount has more than two decimals"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "100.00", "--date", "2026-13-01",
      "--note", "x"), "error: --date must be a date as YYYY-MM-DD, got '2026-13-01'"),
    (("promise", "add", "DUPONT", "--invoices", "FA-M1", "--amount", "100.00",
      "--date", (TODAY + timedelta(days=10)).isoformat(), "--note", "x"),
     "error: invoice FA-M1 is debtor MARTIN's, not DUPONT's"),
    (("promise", "add", "MARTIN", "--invoices", "FA-M1,FA-M2", "--amount", "100.00",
      "--date", (TODAY + timedelta(days=10)).isoformat(), "--note", "x"), "one currency per promise or plan"),
    (("promise", "add", "DUPONT", "--invoices", "FA-D1", "--amount", "700.00",
      "--date", (TODAY + timedelta(days=10)).isoformat(), "--note", "x"), "more than the invoices still owe"),
    (("plan", "create", "DUPONT", "--invoices", "FA-D1", "--installment", "2026-04-31:600.00", "--note", "x"),
     "error: --installment: an installment's date must be a date as YYYY-MM-DD, got '2026-04-31'"),
    (("plan", "create", "DUPONT", "--invoices", "FA-D1", "--installment", "600.00", "--note", "x"),
     "error: --installment: an installment is DATE:AMOUNT"),
    (("plan", "show", "42"), "error: no payment plan 42"),
    (("hold", "add", "--reason", "x"), "error: give --debtor ID or --invoice NUMBER (exactly one)"),
    (("hold", "add", "--debtor", "NOBODY", "--reason", "x"), "error: unknown debtor NOBODY"),
    (("hold", "add", "--invoice", "FA-NOPE", "--reason", "x"), "error: unknown invoice number FA-NOPE"),
    (("hold", "add", "--debtor", "DUPONT", "--reason", "x", "--collective-procedure"),
     "error: --collective-procedure needs --bodacc-date"),
    (("hold", "add", "--debtor", "DUPONT", "--reason", "x", "--until", "15/04/2026"),
     "error: --until must be a date as YYYY-MM-DD, got '15/04/2026'"),
    (("hold", "release", "7", "--note", "x"), "error: no hold 7"),
])
def test_cli_refusals_are_clear_errors(books, levers, args, error):
    reading = args[:2] == ("plan", "show")          # the one command that changes nothing takes no operator
    result = cli(*args, *(() if reading else ("--operator", "carol")))
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert export_rows(levers, "audit", None) == []     # nothing recorded


def test_cli_refuses_an_unknown_reason(books):
    result = cli("dispute", "open", "FA-D1", "--reason", "too_expensive", "--note", "x", "--operator", "carol")
    assert result.exit_code == 2 and "too_expensive" in result.output


def test_cli_promise_add(books, levers):
    promised_on = TODAY + timedelta(days=10)
    result = cli("promise", "add", "DUPONT", "--invoices", "FA-D1, FA-D2", "--amount", "1200.00",
                 "--date", promised_on.isoformat(), "--grace-days", "5", "--note", "called, pays end of month",
                 "--operator", "carol")
    assert result.exit_code == 0, result.output
    assert f"pays 1200.00 EUR on {promised_on} for FA-D1, FA-D2" in result.output
    [promise] = levers.open_promises()
    assert promise.invoice_ids == {"D1", "D2"} and promise.grace_days == 5 and promise.amount == Decimal("1200.00")
    [event] = audit(levers, "promise.added")
    assert event["actor"] == "carol" and "called, pays end of month" in event["message"]


def test_cli_plan_create_and_show(books, levers):
    first, second = TODAY + timedelta(days=30), TODAY + timedelta(days=61)
    result = cli("plan", "create", "DUPONT", "--invoices", "FA-D1,FA-D2",
                 "--installment", f"{first}:600.00", "--installment", f"{second}:600.00",
                 "--note", "two installments agreed", "--operator", "carol")
    assert result.exit_code == 0, result.output
    assert "Payment plan 1 for debtor DUPONT: 1200.00 EUR over 2 installments" in result.output
    shown = cli("plan", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "Payment plan 1 - active" in shown.output and "FA-D1 (600.00), FA-D2 (600.00)" in shown.output
    assert f"1  {first}" in shown.output and f"2  {second}" in shown.output
    assert "by carol: two installments agreed" in shown.output


def test_cli_plan_refused_when_not_adding_up(books, levers):
    result = cli("plan", "create", "DUPONT", "--invoices", "FA-D1,FA-D2",
                 "--installment", f"{TODAY + timedelta(days=30)}:600.00", "--note", "x", "--operator", "carol")
    assert result.exit_code == 2
    assert "error: the installments add up to 600.00 EUR but the invoices owe 1200.00 EUR" in result.output
    assert levers.active_plans() == []


def test_cli_hold_add_and_release(books, levers):
    result = cli("hold", "add", "--invoice", "FA-D2", "--until", (TODAY + timedelta(days=14)).isoformat(),
                 "--reason", "waiting for the purchase order", "--operator", "carol")
    assert result.exit_code == 0, result.output
    assert "Hold 1 on invoice FA-D2 until" in result.output
    [hold] = levers.active_holds_with_kind(TODAY)
    assert hold["invoice_id"] == "D2" and hold["debtor_id"] is None

    released = cli("hold", "release", "1", "--note", "purchase order received", "--operator", "dave")
    assert released.exit_code == 0, released.output
    assert levers.active_holds_with_kind(TODAY) == []
    [event] = audit(levers, "hold.released")
    assert event["actor"] == "dave" and "purchase order received" in event["message"]


def test_cli_collective_procedure_tells_the_operator_to_declare_the_claim(books, levers):
    published = TODAY - timedelta(days=3)
    result = cli("hold", "add", "--debtor", "MARTIN", "--reason", "liquidation judiciaire",
                 "--collective-procedure", "--bodacc-date", published.isoformat(), "--operator", "carol")
    assert result.exit_code == 0, result.output
    deadline = claim_declaration_deadline(published)
    assert f"Declare the claim to the mandataire judiciaire by {deadline}" in result.output
    [hold] = levers.active_holds_with_kind(TODAY)
    assert hold["kind"] is HoldKind.collective_procedure and hold["claim_deadline"] == deadline


# -- the lever flows on the Prefect engine ------------------------------------------------------
@pytest.mark.usefixtures("prefect_harness")
def test_lever_flows_record_with_the_operator_and_the_flow_run(books, levers):
    from flows import levers as lever_flows

    dispute_id = lever_flows.open_dispute("FA-D1", "quality", "damaged on arrival", operator="frank")
    assert levers.open_disputes()["D1"].id == dispute_id
    assert lever_flows.close_dispute("FA-D1", "claim_rejected", "photos show no damage", operator="frank") == dispute_id

    promised_on = TODAY + timedelta(days=7)
    promise_id = lever_flows.add_promise("MARTIN", ["FA-M1"], Decimal("250.00"), promised_on, "pays next week",
                                         operator="frank")
    [promise] = levers.open_promises()
    assert promise.id == promise_id and promise.pause_until == promised_on + timedelta(days=3)

    plan_id = lever_flows.create_payment_plan(
        "DUPONT", ["FA-D1", "FA-D2"],
        [{"due_date": TODAY + timedelta(days=30), "amount": "400.00"},
         {"due_date": (TODAY + timedelta(days=60)).isoformat(), "amount": "800.00"}],
        "three hundred a month was too little", operator="frank", grace_days=5)
    [plan] = levers.active_plans()
    assert plan.id == plan_id and plan.grace_days == 5 and plan.total == Decimal("1200.00")

    hold_id = lever_flows.add_hold("sauvegarde", operator="frank", debtor_id="MARTIN", collective_procedure=True,
                                   bodacc_published_on=TODAY - timedelta(days=1))
    [hold] = levers.active_holds_with_kind(TODAY)
    assert hold["id"] == hold_id and hold["kind"] is HoldKind.collective_procedure
    assert lever_flows.release_hold(hold_id, "procedure closed", operator="frank") == hold_id

    events = export_rows(levers, "audit", None)
    assert [e["event"] for e in events] == ["dispute.opened", "dispute.closed", "promise.added", "plan.created",
                                            "hold.added", "hold.released"]
    assert {e["actor"] for e in events} == {"frank"} and all(e["flow_run_id"] for e in events)
    assert len({e["flow_run_id"] for e in events}) == 6       # one flow run per lever pulled


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_lever_fails_its_flow_run_with_the_reason(books, levers):
    from flows import levers as lever_flows

    state = lever_flows.open_dispute("FA-NOPE", "pricing", "x", operator="frank", return_state=True)
    assert state.is_failed() and "unknown invoice number FA-NOPE" in state.message
    state = lever_flows.add_promise("DUPONT", ["FA-D1"], "1O0", TODAY, "x", operator="frank", return_state=True)
    assert state.is_failed()
    state = lever_flows.release_hold(1, "x", operator="  ", return_state=True)
    assert state.is_failed() and "operator is required" in state.message
    assert export_rows(levers, "audit", None) == []
