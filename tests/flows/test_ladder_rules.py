"""The collection ladder over real nights (DESIGN.md rules 2, 4, 5 and 10-13): the nightly flow on the
real Prefect engine, both databases on SQLite and on PostgreSQL, SendGrid over HTTP."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from conftest import edit_policy
from dunning.config import Step
from dunning.documents.exports import export_rows
from dunning.state.store import StateStore, state_engine
from ladder import run_the_ladder

pytestmark = pytest.mark.usefixtures("prefect_harness")

AS_OF = date(2026, 3, 18)            # a Wednesday, in a half-year config/legal_fr.yaml covers
DUE_100_DAYS_BEFORE = date(2025, 12, 8)


def run_night(as_of: date) -> None:
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=as_of, return_state=True)
    assert state.is_completed(), (as_of, state.message)


def ledger(backend) -> dict[tuple[str, str], dict]:
    rows = export_rows(StateStore(state_engine(backend.state_url)), "actions", None)
    return {(r["invoice_numbers"], r["step"]): r for r in rows}


def decided_on(backend, as_of: date) -> dict[str, dict]:
    """What the night of `as_of` decided for each invoice, superseded steps left out."""
    rows = export_rows(StateStore(state_engine(backend.state_url)), "actions", as_of)
    return {r["invoice_numbers"]: r for r in rows if not (r["status"] == "skipped" and "superseded" in r["reason"])}


def plain_text(message) -> str:
    return re.sub(r"\s+", " ", next(c["value"] for c in message.payload["content"] if c["type"] == "text/plain"))


def steps_sent(backend, number: str) -> list[tuple[str, date]]:
    return sorted(((step, r["as_of"]) for (n, step), r in ledger(backend).items() if n == number and r["status"] == "sent"),
                  key=lambda pair: pair[1])


def test_first_contact_of_a_100_day_old_invoice_is_reminder_1(backend, sendgrid):
    backend.accounting.customer("OLD")
    backend.accounting.invoice("OLD1", "OLD", due=DUE_100_DAYS_BEFORE, issued=date(2025, 11, 7))

    run_night(AS_OF)

    [message] = sendgrid.accepted
    assert message.payload["personalizations"][0]["to"][0]["email"] == "compta@old.example.fr"
    assert "reminder_1" in message.payload["categories"]
    rows = ledger(backend)
    assert {step for (number, step) in rows if number == "FA-OLD1"} == {"pre_due", "reminder_1"}
    assert rows[("FA-OLD1", "reminder_1")]["status"] == "sent"
    superseded = rows[("FA-OLD1", "pre_due")]
    assert superseded["status"] == "skipped" and "first contact starts at reminder_1 (rule 2)" in superseded["reason"]
    assert "one step at a time" in rows[("FA-OLD1", "reminder_1")]["reason"]
    assert export_rows(StateStore(state_engine(backend.state_url)), "legal-queue", None) == []
    assert not (backend.var_dir / "print_queue").exists()


def test_debtor_with_three_invoices_due_for_formal_notice_gets_one_letter(backend, sendgrid):
    books = backend.accounting
    books.customer("TRIO")
    for n, total in enumerate(("1200.00", "850.50", "3100.00"), start=1):
        books.invoice(f"T{n}", "TRIO", due=DUE_100_DAYS_BEFORE - timedelta(days=n), total=total,
                      issued=date(2025, 11, 1))
    nights = [AS_OF + timedelta(days=7 * week) for week in range(4)]   # reminder_1, 2, 3, then the notice

    for night in nights:
        run_night(night)

    for number in ("FA-T1", "FA-T2", "FA-T3"):
        assert steps_sent(backend, number) == [("reminder_1", nights[0]), ("reminder_2", nights[1]),
                                               ("reminder_3", nights[2]), ("formal_notice", nights[3])]
    notices = [r for (_, step), r in ledger(backend).items() if step == "formal_notice"]
    assert {r["channel"] for r in notices} == {"email_and_letter"}
    assert len({r["message_key"] for r in notices}) == 1 and len({r["document_path"] for r in notices}) == 1

    # The print queue: one registered letter (and its cover sheet) listing the three invoices.
    printed = sorted(p.name for p in (backend.var_dir / "print_queue" / nights[3].isoformat()).iterdir())
    assert [name for name in printed if name.startswith("formal_notice-") and "-ar-cover-" not in name] == [
        Path(notices[0]["document_path"]).name]
    assert len([name for name in printed if "-ar-cover-" in name]) == 1
    letter = " ".join(" ".join(page.extract_text() for page in PdfReader(notices[0]["document_path"]).pages).split())
    assert "mise en demeure" in letter.lower() and all(n in letter for n in ("FA-T1", "FA-T2", "FA-T3"))

    # One email copy, listing the three invoices too.
    copies = [m for m in sendgrid.accepted if "formal_notice" in m.payload["categories"]]
    assert len(copies) == 1
    assert all(n in plain_text(copies[0]) for n in ("FA-T1", "FA-T2", "FA-T3"))
    assert len(sendgrid.accepted) == 3 * 3 + 1, "three reminders per invoice, one formal notice for the debtor"


def test_98_euro_invoice_never_reaches_the_legal_queue(backend, sendgrid):
    dates = run_the_ladder(backend, debtor="SMALL", invoice="S1", total="98.76")
    after = dates[Step.legal_handoff] + timedelta(days=7)
    run_night(after)

    store = StateStore(state_engine(backend.state_url))
    assert export_rows(store, "legal-queue", None) == []
    waiting = ledger(backend)[("FA-S1", "legal_handoff")]
    assert (waiting["status"], waiting["channel"], waiting["as_of"]) == ("awaiting_approval", "legal",
                                                                          dates[Step.legal_handoff])
    assert waiting["reason"].startswith(
        "small claim: open principal 98.76 EUR is below legal.min_principal 250.00 EUR: waits for an operator's "
        "decision (write-off, payment plan, or handoff anyway)")
    assert "awaits an operator's decision" in decided_on(backend, after)["FA-S1"]["reason"]

    exported = CliRunner().invoke(_cli(), ["export", "actions"])
    assert exported.exit_code == 0, exported.output
    [row] = [r for r in json.loads(exported.output) if r["invoice_numbers"] == "FA-S1" and r["step"] == "legal_handoff"]
    assert row["status"] == "awaiting_approval" and row["reason"].startswith("small claim")


def test_a_message_waits_7_days_after_the_previous_one(backend, sendgrid):
    # Standard, due Fri 6 Feb 2026: reminder_2 is due since 23 Feb, reminder_3 since 9 March.
    backend.accounting.customer("SLOW")
    backend.accounting.invoice("SL1", "SLOW", due=date(2026, 2, 6))

    run_night(AS_OF)                                   # first contact: reminder_1
    run_night(AS_OF + timedelta(days=6))
    held = decided_on(backend, AS_OF + timedelta(days=6))["FA-SL1"]
    assert held["status"] == "skipped" and "spacing" in held["reason"] and "not before 2026-03-25" in held["reason"]
    assert len(sendgrid.accepted) == 1
    run_night(AS_OF + timedelta(days=7))

    assert steps_sent(backend, "FA-SL1") == [("reminder_1", AS_OF), ("reminder_2", AS_OF + timedelta(days=7))]
    assert len(sendgrid.accepted) == 2


def test_without_spacing_the_ladder_still_climbs_one_step_per_night(backend, sendgrid):
    edit_policy(backend.config_dir, min_days_between_messages=0)
    backend.accounting.customer("EAGER")
    backend.accounting.invoice("E1", "EAGER", due=DUE_100_DAYS_BEFORE, issued=date(2025, 11, 7))
    nights = [AS_OF + timedelta(days=n) for n in range(10)]

    for night in nights:
        run_night(night)

    # One step a night, and the formal notice 7 days after reminder_3 (rule 4), whatever was due.
    assert steps_sent(backend, "FA-E1") == [("reminder_1", nights[0]), ("reminder_2", nights[1]),
                                            ("reminder_3", nights[2]), ("formal_notice", nights[9])]
    assert "formal notice waits" in decided_on(backend, nights[8])["FA-E1"]["reason"]
    assert len(sendgrid.accepted) == 4


def _cli():
    from flows.cli import app

    return app
