"""The nightly flow end to end on the real Prefect engine, real databases and SendGrid over HTTP."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from dunning.config import Step
from dunning.documents.exports import export_rows
from dunning.state.store import StateStore, state_engine
from ladder import LADDER, record_delivery_event, run_the_ladder

pytestmark = pytest.mark.usefixtures("prefect_harness")

AS_OF = date(2026, 3, 18)  # a Wednesday, in a half-year config/legal_fr.yaml covers


def run_night(as_of: date, dry_run: bool = False):
    from flows.nightly import nightly_collection

    return nightly_collection(as_of=as_of, dry_run=dry_run, return_state=True)


def export(backend, what: str, as_of: date | None = None) -> list[dict]:
    return export_rows(StateStore(state_engine(backend.state_url)), what, as_of)


def by_invoice(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["invoice_numbers"], r["step"]): r for r in rows}


@pytest.fixture
def office_morning(backend):
    """One accounting database holding every case a night has to tell apart."""
    books = backend.accounting
    books.customer("STD")
    books.invoice("R1", "STD", due=date(2026, 3, 13))                        # reminder_1 due Monday 16th
    books.invoice("DISP", "STD", due=date(2026, 2, 20), disputed=True)       # disputed
    books.invoice("PAID", "STD", due=date(2026, 2, 20), residual="0.00")     # paid: not even read
    books.customer("CRED")
    books.invoice("CRED1", "CRED", due=date(2026, 3, 2), total="500.00")
    books.invoice("AV1", "CRED", due=None, total="600.00", kind="credit_note")  # credit note covers it
    books.customer("POST", email=None)
    books.invoice("LET1", "POST", due=date(2026, 3, 13))                     # no email: a letter
    books.customer("DRAFT")
    books.invoice("DRF", "DRAFT", due=date(2026, 3, 2), status="draft")
    books.invoice("CAN", "DRAFT", due=date(2026, 3, 2), status="cancelled")
    books.invoice("TINY", "DRAFT", due=date(2026, 3, 2), residual="0.50")     # below tolerance
    books.customer("PRE")
    books.invoice("PRE1", "PRE", due=date(2026, 3, 20))                      # pre_due (Sunday 15th -> Monday 16th)
    books.customer("BAD")
    books.invoice("NEG", "BAD", due=date(2026, 3, 2), residual="-10.00")     # junk: quarantined
    return backend


def test_night_sends_the_right_step_to_the_right_invoice(office_morning, sendgrid, prefect_logs):
    backend = office_morning
    state = run_night(AS_OF)
    assert state.is_completed(), state.message
    # One line times the whole fan-out (what `make bench` reads).
    fan_out = [r.getMessage() for r in prefect_logs if r.getMessage().startswith("Send fan-out")]
    assert len(fan_out) == 1 and re.fullmatch(
        r"Send fan-out: 3 message\(s\) in [\d.]+ s, [\d.]+ ms per message \(\d+ worker threads\)\.", fan_out[0])

    accepted = {m.payload["personalizations"][0]["to"][0]["email"]: m for m in sendgrid.accepted}
    assert set(accepted) == {"compta@std.example.fr", "compta@pre.example.fr"}

    ledger = by_invoice(export(backend, "actions"))
    r1 = ledger[("FA-R1", "reminder_1")]
    assert r1["status"] == "sent" and r1["channel"] == "email" and r1["attempts"] == 1
    assert r1["provider_message_id"] == accepted["compta@std.example.fr"].message_id
    # Only the ledger id travels to the provider: no name, no amount, no invoice number.
    assert accepted["compta@std.example.fr"].payload["custom_args"] == {"dunning_action_id": str(r1["action_id"])}
    assert "FA-R1" in accepted["compta@std.example.fr"].payload["subject"]
    assert ledger[("FA-PRE1", "pre_due")]["status"] == "sent"

    letter = ledger[("FA-LET1", "reminder_1")]
    assert (letter["channel"], letter["status"], letter["provider"]) == ("letter", "sent", "print_queue")
    assert Path(letter["document_path"]).is_file()
    assert "FA-LET1" in Path(letter["document_path"]).read_text()

    # Nothing goes to a disputed, paid, credit-covered, draft, cancelled or negligible invoice.
    decided = {r["invoice_numbers"]: r for r in export(backend, "actions", AS_OF) if r["outcome"] == "held"}
    assert "disputed" in decided["FA-DISP"]["reason"]
    assert "credit" in decided["FA-CRED1"]["reason"]
    assert "draft" in decided["FA-DRF"]["reason"]
    assert "cancelled" in decided["FA-CAN"]["reason"]
    assert "tolerance" in decided["FA-TINY"]["reason"]
    assert all(key[0] not in {"FA-DISP", "FA-CRED1", "FA-DRF", "FA-CAN", "FA-TINY", "FA-PAID"} for key in ledger)

    audit = export(backend, "audit", AS_OF)
    quarantined = [e for e in audit if e["event"] == "row.quarantined"]
    assert [e["subject_id"] for e in quarantined] == ["NEG"] and "negative residual" in quarantined[0]["message"]
    sends = [e for e in audit if e["event"] == "action.sent"]
    assert len(sends) == 3 and all(e["flow_run_id"] and e["task_run_id"] for e in sends)
    assert all(e["flow_run_id"] == str(state.state_details.flow_run_id) for e in audit)

    aging = {(r["debtor_id"], r["currency"]): r for r in export(backend, "aging", AS_OF)}
    assert str(aging[("STD", "EUR")]["d1_30"]) == "2400.00"      # R1 (5 days) and DISP (26 days)
    assert str(aging[("CRED", "EUR")]["unapplied_credit"]) == "-600.00"


def test_second_run_on_the_same_date_sends_nothing(office_morning, sendgrid):
    assert run_night(AS_OF).is_completed()
    first = len(sendgrid.accepted)
    printed = sorted((office_morning.var_dir / "print_queue").rglob("*.html"))
    assert first == 2

    state = run_night(AS_OF)
    assert state.is_completed(), state.message
    assert len(sendgrid.accepted) == first
    assert sorted((office_morning.var_dir / "print_queue").rglob("*.html")) == printed
    assert all(r["attempts"] == 1 for r in export(office_morning, "actions") if r["status"] == "sent")


def test_transient_errors_are_retried_to_success(office_morning, sendgrid):
    sendgrid.fail_next(1, 429)
    sendgrid.fail_next(2, 503)
    state = run_night(AS_OF)
    assert state.is_completed(), state.message
    assert sorted(m.payload["custom_args"]["dunning_action_id"] for m in sendgrid.accepted) == sorted(
        {m.payload["custom_args"]["dunning_action_id"] for m in sendgrid.accepted})  # each accepted once
    assert len(sendgrid.accepted) == 2
    ledger = export(office_morning, "actions")
    emails = [r for r in ledger if r["channel"] == "email" and r["status"] == "sent"]
    assert sum(r["attempts"] for r in emails) == 2 + 3


def test_a_send_that_times_out_is_not_resent_blindly_and_its_delivery_event_settles_it(office_morning, sendgrid):
    import time

    sendgrid.hang_next(1, 3)   # SendGrid accepts it, but answers after the 2-second client timeout
    state = run_night(AS_OF)
    assert state.is_failed() and state.message.startswith("1 send(s) unanswered by SendGrid"), state.message
    assert "failed after their retries" not in state.message
    [late] = [r for r in export(office_morning, "actions") if r["status"] == "sending"]
    assert late["attempts"] == 1 and "no answer" in late["last_error"]
    time.sleep(1.5)            # the late acceptance lands
    [accepted] = [m for m in sendgrid.accepted if m.payload["custom_args"]["dunning_action_id"] == str(late["action_id"])]

    # A retry at once would have sent it twice; SendGrid's 'processed' event settles it instead.
    record_delivery_event(office_morning, str(late["action_id"]), "processed", f"{accepted.message_id}.filter0001")
    assert run_night(AS_OF).is_completed()
    settled = {r["action_id"]: r for r in export(office_morning, "actions")}[late["action_id"]]
    assert (settled["status"], settled["provider_message_id"]) == ("sent", accepted.message_id)
    assert len(sendgrid.accepted) == 2 and len(sendgrid.requests) == 2


def test_permanent_error_fails_the_run_and_the_next_run_sends_it(office_morning, sendgrid):
    sendgrid.fail_for("compta@std.example.fr", 400, "Does not contain a valid address.")
    runner = CliRunner()
    result = runner.invoke(_cli(), ["run", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 1, result.output
    assert "FAILED SENDS: 1" in result.output
    assert "1 of 3 send(s) failed" in result.output and "HTTP 400" in result.output

    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    assert row["status"] == "failed" and row["attempts"] == 1          # a 400 is not retried
    assert "Does not contain a valid address." in row["last_error"]
    assert row["provider_message_id"] is None

    sendgrid.clear_failures()   # the address was corrected
    result = runner.invoke(_cli(), ["run", "--as-of", (AS_OF + timedelta(days=1)).isoformat()])
    assert result.exit_code == 0, result.output
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    assert row["status"] == "sent" and row["attempts"] == 2 and row["provider_message_id"]
    to_std = [m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"] == "compta@std.example.fr"]
    assert len(to_std) == 1


def test_dry_run_plans_but_writes_no_ledger_and_sends_nothing(office_morning, sendgrid):
    state = run_night(AS_OF, dry_run=True)
    assert state.is_completed(), state.message
    assert sendgrid.accepted == [] and export(office_morning, "actions") == []
    planned = export(office_morning, "actions", AS_OF)
    assert {(r["invoice_numbers"], r["outcome"]) for r in planned} >= {("FA-R1", "send"), ("FA-LET1", "send")}


def test_exports_are_json_arrays_and_csv(office_morning, sendgrid):
    run_night(AS_OF)
    runner = CliRunner()
    for what in ("actions", "aging", "segments", "legal-queue", "audit"):
        result = runner.invoke(_cli(), ["export", what, "--as-of", AS_OF.isoformat()])
        assert result.exit_code == 0, result.output
        assert isinstance(json.loads(result.output), list)
    csv_out = runner.invoke(_cli(), ["export", "actions", "--format", "csv"]).output.splitlines()
    assert csv_out[0].startswith("action_id,as_of,debtor_id,invoice_numbers,step,channel,status,reason")
    assert len(csv_out) == 1 + len(export(office_morning, "actions"))


def test_the_ladder_over_time_ends_in_the_legal_queue(backend, sendgrid):
    """pre_due, three reminders, the formal notice, then a case."""
    run_the_ladder(backend)
    ledger = by_invoice(export(backend, "actions"))
    assert [ledger[("FA-L1", s.value)]["status"] for s in LADDER] == ["sent"] * 5 + ["queued"]
    notice = ledger[("FA-L1", "formal_notice")]
    assert notice["channel"] == "email_and_letter"
    pdf = Path(notice["document_path"])
    assert pdf.suffix == ".pdf" and hashlib.sha256(pdf.read_bytes()).hexdigest() == notice["document_sha256"]
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())
    assert "mise en demeure" in text.lower() and "FA-L1" in text
    assert pdf.with_name(pdf.name.replace("formal_notice-", "formal_notice-ar-cover-")).is_file()
    assert len(sendgrid.accepted) == 5

    [case] = export(backend, "legal-queue")
    assert case["debtor_id"] == "LATE" and case["invoice_numbers"] == "FA-L1"
    assert str(case["principal"]) == "4800.00" and case["status"] == "queued"
    assert "tribunal de commerce" in case["procedure"]
    assert [e["step"] for e in case["evidence"]] == ["pre_due", "reminder_1", "reminder_2", "reminder_3",
                                                     "formal_notice"]
    assert all(e["provider_message_id"] for e in case["evidence"])
    # Penalties to the handoff date, Friday 6 March 2026: 60 days (6 January to 6 March) at 12.15 %
    # (ECB 2.15 % in force on 1 January 2026, plus 10 points): 4,800.00 x 12.15 % x 60 / 365 = 95.87.
    assert (str(case["penalties"]), str(case["indemnity"])) == ("95.87", "40.00")
    assert "tribunal de commerce" in case["procedure"] and "12946" in case["procedure"]
    dossier = Path(export(backend, "legal-queue")[0]["dossier_path"])
    summary = json.loads((dossier / "summary.json").read_text())
    [posted] = summary["formal_notices"]
    assert {p.name for p in dossier.iterdir()} == {"summary.json", "summary.html", "dossier.pdf", posted["file"],
                                                   posted["ar_cover_file"]}
    assert (dossier / posted["file"]).read_bytes() == pdf.read_bytes()
    assert (summary["amounts"]["total"], summary["amounts"]["basis"]) == ("4935.87", "commercial")


def _cli():
    from flows.cli import app

    return app


def test_an_unconfirmed_send_is_never_resent(office_morning, sendgrid):
    sendgrid.fail_for("compta@std.example.fr", 202)   # accepted without an X-Message-Id
    state = run_night(AS_OF)
    assert state.is_failed() and "1 of 3 send(s) failed" in state.message
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    assert row["status"] == "sending" and "X-Message-Id" in row["last_error"]

    sendgrid.clear_failures()
    later = AS_OF + timedelta(days=1)
    run_night(later)
    held = {r["invoice_numbers"]: r for r in export(office_morning, "actions", later)}["FA-R1"]
    assert held["status"] == "skipped" and "never confirmed" in held["reason"]
    to_std = [m for m in sendgrid.requests if m.body and
              m.body["personalizations"][0]["to"][0]["email"] == "compta@std.example.fr"]
    assert len(to_std) == 1


def test_a_future_date_is_refused_unless_dry_run(office_morning, sendgrid):
    from dunning.rules.calendar import paris_today

    tomorrow = (paris_today() + timedelta(days=1)).isoformat()
    runner = CliRunner()
    refused = runner.invoke(_cli(), ["run", "--as-of", tomorrow])
    assert refused.exit_code == 2 and "in the future" in refused.output
    assert sendgrid.requests == []
    looking_ahead = runner.invoke(_cli(), ["run", "--as-of", tomorrow, "--dry-run"])
    assert "in the future" not in looking_ahead.output


def test_the_export_of_a_date_keeps_what_was_sent_after_a_rerun(office_morning, sendgrid):
    run_night(AS_OF)
    run_night(AS_OF)
    rows = by_invoice(export(office_morning, "actions", AS_OF))
    assert rows[("FA-R1", "reminder_1")]["status"] == "sent"
    assert rows[("FA-R1", "pre_due")]["status"] == "skipped"
    assert rows[("FA-DISP", None)]["status"] == "skipped"


def test_a_run_that_stops_midway_is_recorded_failed(office_morning, sendgrid):
    from sqlalchemy import text

    with office_morning.accounting.engine.begin() as conn:   # the customer's schema changed under us
        conn.execute(text("ALTER TABLE payments RENAME TO payments_archive"))
    result = CliRunner().invoke(_cli(), ["run", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 1 and "run ended Failed" in result.output
    [run] = [e for e in export(office_morning, "audit") if e["event"] == "run.failed"]
    assert "stopped before its end" in run["message"]
    assert sendgrid.requests == []


def test_an_operator_resolves_an_unconfirmed_send(office_morning, sendgrid):
    sendgrid.fail_for("compta@std.example.fr", 202)
    run_night(AS_OF)
    sendgrid.clear_failures()
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    runner = CliRunner()
    result = runner.invoke(_cli(), ["action", "resolve", str(row["action_id"]), "--outcome", "not-sent",
                                    "--note", "absent from the activity feed", "--operator", "marie.dupont"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(_cli(), ["action", "resolve", str(row["action_id"]), "--outcome", "sent", "--note", "x",
                                   "--operator", "marie.dupont"])
    assert again.exit_code == 2 and "not sending" in again.output

    assert run_night(AS_OF + timedelta(days=1)).is_completed()
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    assert row["status"] == "sent" and row["attempts"] == 2
    [resolved] = [e for e in export(office_morning, "audit") if e["event"] == "action.resolved"]
    assert resolved["actor"] == "marie.dupont" and "absent from the activity feed" in resolved["message"]


def _close_the_window(config_dir) -> None:
    """A one-hour window two hours from now: the run cannot be inside it."""
    from datetime import datetime

    from conftest import edit_policy
    from dunning.rules.calendar import PARIS

    start = (datetime.now(PARIS).hour + 2) % 24
    edit_policy(config_dir, send_window={"start_hour": start, "end_hour": start + 1, "business_days_only": False})


def test_outside_the_window_the_night_queues_and_the_dispatch_run_sends(office_morning, sendgrid):
    from conftest import edit_policy
    from flows.dispatch import dispatch_queue

    _close_the_window(office_morning.config_dir)
    state = run_night(AS_OF)
    assert state.is_completed(), state.message
    assert sendgrid.requests == []
    queued = {r["invoice_numbers"]: r for r in export(office_morning, "actions") if r["status"] == "queued"}
    assert set(queued) == {"FA-R1", "FA-PRE1", "FA-LET1"}
    assert not list((office_morning.var_dir / "print_queue").rglob("*.html"))

    assert dispatch_queue(return_state=True).is_completed()     # still outside: nothing moves
    assert sendgrid.requests == []

    # In the morning, before dispatch: one invoice paid, one paid in part, one contested.
    office_morning.accounting.set_residual("PRE1", "0.00")
    office_morning.accounting.set_residual("R1", "700.00")
    office_morning.accounting.set_disputed("LET1")
    office_morning.accounting.invoice("AV9", "STD", due=None, total="900.00", kind="credit_note")  # not enough
    edit_policy(office_morning.config_dir, send_window={"start_hour": 0, "end_hour": 24,
                                                        "business_days_only": False})
    state = dispatch_queue(return_state=True)
    assert state.is_completed(), state.message
    [reminder] = sendgrid.accepted
    assert reminder.payload["personalizations"][0]["to"][0]["email"] == "compta@std.example.fr"
    text = next(c["value"] for c in reminder.payload["content"] if c["type"] == "text/plain")
    assert "700,00 € sur 1 200,00 €" in re.sub(r"\s", " ", text)   # what is still open, of the total
    ledger = by_invoice(export(office_morning, "actions"))
    assert ledger[("FA-R1", "reminder_1")]["status"] == "sent"
    contested = ledger[("FA-LET1", "reminder_1")]
    assert contested["status"] == "skipped" and "disputed since planning" in contested["reason"]
    paid = ledger[("FA-PRE1", "pre_due")]
    assert paid["status"] == "skipped" and "paid since planning" in paid["reason"]

    assert dispatch_queue(return_state=True).is_completed()     # the queue is empty now
    assert len(sendgrid.accepted) == 1


def test_a_legal_case_is_worked_then_closed_when_paid(backend, sendgrid):
    dates = run_the_ladder(backend)
    [case] = export(backend, "legal-queue")
    case_id, runner = str(case["case_id"]), CliRunner()
    as_lawyer = ["--operator", "me.martin"]
    assert runner.invoke(_cli(), ["legal", "ack", case_id, "--note", "dossier reçu", *as_lawyer]).exit_code == 0
    refused = runner.invoke(_cli(), ["legal", "ack", case_id, "--note", "again", *as_lawyer])
    assert refused.exit_code == 2 and "is acknowledged" in refused.output
    assert runner.invoke(_cli(), ["legal", "file", case_id, "--note", "requête déposée", *as_lawyer]).exit_code == 0
    shown = runner.invoke(_cli(), ["legal", "show", case_id])
    assert "filed" in shown.output and "me.martin: acknowledged -> filed - requête déposée" in shown.output

    backend.accounting.set_residual("L1", "0.00")   # the debtor paid after the filing
    assert run_night(dates[Step.legal_handoff] + timedelta(days=3)).is_completed()
    [case] = export(backend, "legal-queue")
    assert case["status"] == "resolved"
    moves = [e for e in export(backend, "audit") if e["subject_type"] == "case" and e["event"] != "case.dossier"]
    assert [(e["event"], e["actor"]) for e in moves] == [
        ("case.opened", "nightly-run"), ("case.acknowledged", "me.martin"), ("case.filed", "me.martin"),
        ("case.resolved", "nightly-run")]
    assert "paid" in moves[-1]["message"]


def test_every_invoice_carries_its_prescription_date(office_morning, sendgrid):
    run_night(AS_OF)
    rows = {r["invoice_numbers"]: r for r in export(office_morning, "actions", AS_OF)}
    assert rows["FA-R1"]["prescription_date"] == date(2031, 3, 13)      # merchants: five years
    assert rows["FA-DISP"]["prescription_date"] == date(2031, 2, 20)


def test_a_case_is_not_closed_on_a_quarantined_invoice(backend, sendgrid):
    dates = run_the_ladder(backend)
    backend.accounting.set_residual("L1", "9999.00")   # a data-entry error: residual above the total
    assert run_night(dates[Step.legal_handoff] + timedelta(days=3)).is_completed()
    [case] = export(backend, "legal-queue")
    assert case["status"] == "queued"


def test_debtor_show_explains_a_debtor(office_morning, sendgrid):
    run_night(AS_OF)
    result = CliRunner().invoke(_cli(), ["debtor", "show", "STD"])
    assert result.exit_code == 0, result.output
    assert "Segment: standard" in result.output
    assert "FA-R1" in result.output and "reminder_1" in result.output and "sent" in result.output
    assert "FA-DISP" in result.output and "disputed" in result.output
    unknown = CliRunner().invoke(_cli(), ["debtor", "show", "NOBODY"])
    assert unknown.exit_code == 2 and "no run has seen debtor NOBODY" in unknown.output


def test_a_credit_note_posted_after_planning_stops_the_reminder(office_morning, sendgrid):
    from conftest import edit_policy
    from flows.dispatch import dispatch_queue

    _close_the_window(office_morning.config_dir)
    assert run_night(AS_OF).is_completed()
    office_morning.accounting.invoice("AV9", "STD", due=None, total="5000.00", kind="credit_note")
    edit_policy(office_morning.config_dir, send_window={"start_hour": 0, "end_hour": 24, "business_days_only": False})
    assert dispatch_queue(return_state=True).is_completed()
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]
    assert row["status"] == "skipped" and "unapplied credit 5000.00 EUR" in row["reason"]
    assert "compta@std.example.fr" not in [m.payload["personalizations"][0]["to"][0]["email"] for m in sendgrid.accepted]


def test_reminder_1_offers_the_escompte_when_config_allows(office_morning, sendgrid):
    from conftest import edit_policy

    edit_policy(office_morning.config_dir, escompte={"enabled": True, "rate_percent": "1.00", "pay_within_days": 10})
    assert run_night(AS_OF).is_completed()
    to_std = next(m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"] == "compta@std.example.fr")
    text = re.sub(r"\s+", " ", next(c["value"] for c in to_std.payload["content"] if c["type"] == "text/plain"))
    assert "avant le 28 mars 2026" in text and "escompte de 1,00 %, soit 12,00 € : 1 188,00 € à régler" in text
    pre_due = next(m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"] == "compta@pre.example.fr")
    assert "escompte" not in next(c["value"] for c in pre_due.payload["content"] if c["type"] == "text/plain")


def test_a_dispatch_run_that_failed_sends_only_the_failed_message_when_run_again(office_morning, sendgrid):
    from conftest import edit_policy
    from flows.dispatch import dispatch_queue

    _close_the_window(office_morning.config_dir)
    assert run_night(AS_OF).is_completed()
    edit_policy(office_morning.config_dir, send_window={"start_hour": 0, "end_hour": 24, "business_days_only": False})
    sendgrid.fail_for("compta@std.example.fr", 400, "Does not contain a valid address.")
    state = dispatch_queue(return_state=True)
    assert state.is_failed() and "1 of 3 send(s) failed" in state.message
    assert len(sendgrid.accepted) == 1

    sendgrid.clear_failures()
    assert dispatch_queue(return_state=True).is_completed()
    assert sorted(m.payload["personalizations"][0]["to"][0]["email"] for m in sendgrid.accepted) == [
        "compta@pre.example.fr", "compta@std.example.fr"]
    assert by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_1")]["attempts"] == 2


def test_resend_failed_sends_only_the_failures_asked_for(office_morning, sendgrid, caplog):
    from flows.dispatch import resend_failed

    for address in ("compta@std.example.fr", "compta@pre.example.fr"):
        sendgrid.fail_for(address, 400, "Does not contain a valid address.")
    assert run_night(AS_OF).is_failed()
    sendgrid.clear_failures()
    assert len(sendgrid.accepted) == 0

    # An invoice with nothing failed: nothing sent, and the log says what its ledger holds.
    nothing = resend_failed(invoice_numbers=["FA-DISP"], return_state=True)
    assert nothing.is_completed() and "Nothing to resend" in nothing.message
    assert "Invoice FA-DISP has no failed message to resend (ledger: no ledger row)" in caplog.text
    assert sendgrid.accepted == []
    # The failures of another night: none.
    assert "Nothing to resend" in resend_failed(as_of=AS_OF - timedelta(days=1), return_state=True).message

    one = resend_failed(as_of=AS_OF, invoice_numbers=["FA-R1"], return_state=True)
    assert one.is_completed(), one.message
    assert [m.payload["personalizations"][0]["to"][0]["email"] for m in sendgrid.accepted] == ["compta@std.example.fr"]
    rows = by_invoice(export(office_morning, "actions"))
    assert rows[("FA-R1", "reminder_1")]["status"] == "sent" and rows[("FA-PRE1", "pre_due")]["status"] == "failed"

    # What is left: PRE1 was paid meanwhile, so it is skipped, for good, not chased.
    office_morning.accounting.set_residual("PRE1", "0.00")
    assert resend_failed(return_state=True).is_completed()
    assert len(sendgrid.accepted) == 1
    row = by_invoice(export(office_morning, "actions"))[("FA-PRE1", "pre_due")]
    assert row["status"] == "skipped"
    assert "Nothing to resend" in resend_failed(return_state=True).message


# -- what the customer said, through the nightly runs (issue 4) -------------------------------------


def _levers(backend):
    from dunning.state.levers import LeverStore
    from dunning.state.store import Trace

    return LeverStore(state_engine(backend.state_url)), Trace(actor="marie.dupont")


def _emails_to(sendgrid, address: str) -> list[str]:
    return [re.sub(r"\s+", " ", next(c["value"] for c in m.payload["content"] if c["type"] == "text/plain"))
            for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"] == address]


def test_a_promise_kept_by_a_payment_is_closed_as_kept(office_morning, sendgrid):
    from decimal import Decimal

    assert run_night(AS_OF).is_completed()
    levers, operator = _levers(office_morning)
    levers.add_promise(operator, "STD", [("R1", "FA-R1")], Decimal("1200.00"), "EUR", date(2026, 3, 25), 3,
                       "virement annoncé au téléphone", date(2026, 3, 19))
    assert run_night(date(2026, 3, 20)).is_completed()
    held = {r["invoice_numbers"]: r for r in export(office_morning, "actions", date(2026, 3, 20))}["FA-R1"]
    assert "promise to pay 1200.00 EUR on 2026-03-25" in held["reason"]

    office_morning.accounting.payment("P1", "STD", "R1", paid_on=date(2026, 3, 24), amount="1200.00")
    office_morning.accounting.set_residual("R1", "0.00")
    assert run_night(date(2026, 3, 26)).is_completed()
    [kept] = [e for e in export(office_morning, "audit") if e["event"] == "promise.kept"]
    assert "1200.00 paid" in kept["message"]


def test_a_broken_promise_makes_the_next_step_stricter_and_says_so(office_morning, sendgrid):
    from decimal import Decimal

    assert run_night(AS_OF).is_completed()
    levers, operator = _levers(office_morning)
    levers.add_promise(operator, "STD", [("R1", "FA-R1")], Decimal("1200.00"), "EUR", date(2026, 3, 25), 3,
                       "virement annoncé au téléphone", date(2026, 3, 19))
    # Sunday 29 March: grace over (28th), nothing paid. Standard reminder_2 would wait for Monday 30th;
    # one ladder stricter (chronic, +10 days) it is due since Monday 23rd.
    assert run_night(date(2026, 3, 29)).is_completed()
    assert [e["event"] for e in export(office_morning, "audit") if e["event"].startswith("promise.")] == [
        "promise.added", "promise.broken"]
    row = by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_2")]
    assert row["status"] == "sent" and "chronic ladder" in row["reason"] and "not kept" in row["reason"]
    assert "cet engagement n'a pas été tenu" in _emails_to(sendgrid, "compta@std.example.fr")[-1]


def test_a_broken_payment_plan_resumes_collection_at_the_step_due(office_morning, sendgrid):
    from decimal import Decimal

    from dunning.rules.arrangements import Installment

    assert run_night(AS_OF).is_completed()
    levers, operator = _levers(office_morning)
    levers.create_plan(operator, "STD", "EUR", [("R1", "FA-R1", Decimal("1200.00"))],
                       [Installment(1, date(2026, 3, 31), Decimal("600.00")),
                        Installment(2, date(2026, 4, 30), Decimal("600.00"))], 3, "échéancier accordé",
                       date(2026, 3, 19))
    assert run_night(date(2026, 3, 30)).is_completed()      # reminder_2 would be due: the plan holds it
    held = {r["invoice_numbers"]: r for r in export(office_morning, "actions", date(2026, 3, 30))}["FA-R1"]
    assert "payment plan" in held["reason"]

    assert run_night(date(2026, 4, 6)).is_completed()       # first installment unpaid beyond 3 days of grace
    [broken] = [e for e in export(office_morning, "audit") if e["event"] == "plan.broken"]
    assert "installment 1" in broken["message"]
    assert by_invoice(export(office_morning, "actions"))[("FA-R1", "reminder_2")]["status"] == "sent"


def test_installments_get_their_own_reminders_before_and_after_they_fall_due(office_morning, sendgrid):
    from decimal import Decimal

    from conftest import edit_policy
    from dunning.rules.arrangements import Installment
    from dunning.rules.calendar import paris_today
    from flows.dispatch import dispatch_queue

    edit_policy(office_morning.config_dir, installments={"pre_due_days": 5})
    assert run_night(AS_OF).is_completed()
    today = paris_today()
    levers, operator = _levers(office_morning)
    late = levers.create_plan(operator, "STD", "EUR", [("R1", "FA-R1", Decimal("1200.00"))],
                              [Installment(1, today - timedelta(days=1), Decimal("600.00")),
                               Installment(2, today + timedelta(days=29), Decimal("600.00"))], 3, "échéancier",
                              today - timedelta(days=10))
    soon = levers.create_plan(operator, "PRE", "EUR", [("PRE1", "FA-PRE1", Decimal("1200.00"))],
                              [Installment(1, today + timedelta(days=2), Decimal("400.00")),
                               Installment(2, today + timedelta(days=32), Decimal("800.00"))], 3, "échéancier",
                              today)
    before = len(sendgrid.accepted)
    assert dispatch_queue(return_state=True).is_completed()
    sent = {m.payload["personalizations"][0]["to"][0]["email"]: m for m in sendgrid.accepted[before:]}
    assert set(sent) == {"compta@std.example.fr", "compta@pre.example.fr"}
    overdue = re.sub(r"\s+", " ", next(c["value"] for c in sent["compta@std.example.fr"].payload["content"]
                                       if c["type"] == "text/plain"))
    assert f"PLAN-{late}-1" in overdue and "600,00" in overdue
    courtesy = re.sub(r"\s+", " ", next(c["value"] for c in sent["compta@pre.example.fr"].payload["content"]
                                        if c["type"] == "text/plain"))
    assert f"PLAN-{soon}-1" in courtesy and "400,00" in courtesy
    ledger = by_invoice(export(office_morning, "actions"))
    assert ledger[(f"PLAN-{late}-1", "installment_overdue")]["status"] == "sent"
    assert ledger[(f"PLAN-{soon}-1", "installment_pre_due")]["status"] == "sent"

    assert dispatch_queue(return_state=True).is_completed()      # each reminder goes once
    assert len(sendgrid.accepted) == before + 2


def test_a_dispute_holds_the_invoice_and_closing_it_resumes_one_step_above_the_last_reminder(office_morning, sendgrid):
    from dunning.rules.arrangements import DisputeOutcome, DisputeReason

    assert run_night(AS_OF).is_completed()                     # reminder_1 of FA-R1 goes out
    levers, operator = _levers(office_morning)
    levers.open_dispute(operator, "R1", "FA-R1", "STD", DisputeReason.quality, "pièces défectueuses",
                        date(2026, 3, 19))
    assert run_night(date(2026, 4, 1)).is_completed()          # reminder_2 (30 March) would be due
    held = {r["invoice_numbers"]: r for r in export(office_morning, "actions", date(2026, 4, 1))}["FA-R1"]
    assert "disputed (quality) since 2026-03-19" in held["reason"]

    levers.close_dispute(operator, "R1", DisputeOutcome.claim_rejected, "pièces conformes", date(2026, 4, 14))
    assert run_night(date(2026, 4, 14)).is_completed()         # reminder_3 (+30, 13 April) is due too
    ledger = by_invoice(export(office_morning, "actions"))
    assert ledger[("FA-R1", "reminder_2")]["status"] == "sent"     # the ladder is climbed, never jumped
    assert "one step at a time: reminder_3 is due too" in ledger[("FA-R1", "reminder_2")]["reason"]
    assert ("FA-R1", "reminder_3") not in ledger
    events = [(e["event"], e["actor"]) for e in export(office_morning, "audit")
              if e["event"].startswith("dispute.") and e["subject_id"] == "R1"]
    assert events == [("dispute.opened", "marie.dupont"), ("dispute.closed", "marie.dupont")]
    flagged = [e for e in export(office_morning, "audit") if e["event"] == "dispute.opened" and e["subject_id"] == "DISP"]
    assert flagged and flagged[0]["actor"] == "nightly-run"   # invoices.disputed became a dispute by itself


@pytest.mark.parametrize("key_source", ["environment", "secret block"])
def test_the_sendgrid_key_never_leaks_into_logs_ledger_audit_or_artifacts(office_morning, sendgrid, caplog, capfd,
                                                                          key_source, monkeypatch):
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from sendgrid_server import TEST_API_KEY

    if key_source == "secret block":
        Secret(value=TEST_API_KEY).save("dunning-sendgrid-key", overwrite=True)
        monkeypatch.delenv("SENDGRID_API_KEY")
        monkeypatch.setenv("DUNNING_SENDGRID_SECRET_BLOCK", "dunning-sendgrid-key")
    sendgrid.fail_next(1, 503)
    sendgrid.fail_for("compta@std.example.fr", 401, f"bad key {TEST_API_KEY}")   # a provider echoing it back
    caplog.set_level("DEBUG")
    state = run_night(AS_OF)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    printed = capfd.readouterr()
    haystacks = {
        "logs": caplog.text + printed.out + printed.err,
        "ledger": json.dumps(export(office_morning, "actions"), default=str),
        "audit": json.dumps(export(office_morning, "audit"), default=str),
        "artifacts": json.dumps([a.data for a in artifacts], default=str),
        "state": str(state.message),
    }
    assert sendgrid.accepted and all(r.authorized for r in sendgrid.requests)       # the key was the right one
    assert "HTTP 401" in haystacks["ledger"] and "[redacted]" in haystacks["ledger"]   # recorded, key scrubbed...
    assert "Run 1 for 2026-03-18 failed" in haystacks["logs"]                             # the logs were searched
    assert len(artifacts) >= 2
    for where, text in haystacks.items():              # ...but never the key
        assert TEST_API_KEY not in text, where


def test_a_missing_secret_block_refuses_the_run_without_sending(office_morning, sendgrid, monkeypatch):
    monkeypatch.delenv("SENDGRID_API_KEY")
    monkeypatch.setenv("DUNNING_SENDGRID_SECRET_BLOCK", "no-such-block")
    state = run_night(AS_OF)
    assert state.is_failed() and "Prefect Secret block 'no-such-block'" in state.message
    assert sendgrid.requests == [] and not (office_morning.var_dir / "outbox").exists()


# -- RGPD: a consumer's opens and clicks are never tracked ---------------------------------------
@pytest.mark.parametrize("track_businesses", [True, False])
def test_tracking_is_off_for_consumers_always_and_for_businesses_when_the_policy_says(
        office_morning, sendgrid, track_businesses):
    from conftest import edit_policy

    office_morning.accounting.customer("CONSO", is_consumer=True)
    office_morning.accounting.invoice("C1", "CONSO", due=date(2026, 3, 13))
    edit_policy(office_morning.config_dir, dispatch={"track_business_engagement": track_businesses})
    assert run_night(AS_OF).is_completed()

    payloads = {m.payload["personalizations"][0]["to"][0]["email"]: m.payload for m in sendgrid.accepted}
    off = {"click_tracking": {"enable": False, "enable_text": False}, "open_tracking": {"enable": False}}
    assert payloads["compta@conso.example.fr"]["tracking_settings"] == off
    business = payloads["compta@std.example.fr"]
    # On: nothing in the request, so the SendGrid account's own settings apply.
    assert business.get("tracking_settings") == (None if track_businesses else off)


def test_a_collective_procedure_suspends_the_case_and_its_dossier_becomes_a_claim_declaration(backend, sendgrid):
    """FA-L1 (4 800,00 EUR) is in the legal queue; a redressement judiciaire published in the BODACC
    on 2026-03-02 opens: claim deadline 2026-05-02 (two months), the case is suspended, the next run
    writes the claim declaration; the hold released, the case is back in the queue with its injonction."""
    import json as json_module

    dates = run_the_ladder(backend)
    [case] = export(backend, "legal-queue")
    case_id, runner = str(case["case_id"]), CliRunner()
    held = runner.invoke(_cli(), ["hold", "add", "--debtor", "LATE", "--reason", "redressement judiciaire, TC Lyon",
                                  "--collective-procedure", "--bodacc-date", "2026-03-02",
                                  "--operator", "frank"])
    assert held.exit_code == 0, held.output
    assert f"Legal case(s) {case_id} suspended" in held.output and "2026-05-02" in held.output
    [case] = export(backend, "legal-queue")
    assert case["status"] == "suspended"

    night = dates[Step.legal_handoff] + timedelta(days=3)
    assert run_night(night).is_completed()
    folder = Path(export(backend, "legal-queue")[0]["dossier_path"])
    html = (folder / "summary.html").read_text(encoding="utf-8")
    assert "Déclaration de créance" in html and "au plus tard le 2 mai 2026" in html
    assert "FA-L1" in html and "4\u202f800,00\xa0€" in html and "injonction de payer n'est déposée" in html
    summary = json_module.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["claim_declaration"] == {"bodacc_published_on": "2026-03-02", "deadline": "2026-05-02"}
    assert PdfReader(folder / "dossier.pdf").pages[0].extract_text().startswith("Déclaration de créance")

    hold_id = re.search(r"Hold (\d+)", held.output).group(1)
    released = runner.invoke(_cli(), ["hold", "release", hold_id, "--note", "plan de continuation arrêté",
                                      "--operator", "frank"])
    assert released.exit_code == 0 and f"Legal case(s) {case_id} back in the legal queue" in released.output
    assert export(backend, "legal-queue")[0]["status"] == "queued"
    assert run_night(night + timedelta(days=1)).is_completed()
    html = (Path(export(backend, "legal-queue")[0]["dossier_path"]) / "summary.html").read_text(encoding="utf-8")
    assert "Dossier contentieux" in html and "Déclaration de créance" not in html
    moves = [(e["event"], e["actor"]) for e in export(backend, "audit") if e["event"] in ("case.suspended",
                                                                                        "case.queued")]
    assert moves == [("case.suspended", "frank"), ("case.queued", "frank")]


def test_a_contractual_rate_below_the_floor_is_set_aside_and_collection_goes_on(backend, sendgrid):
    """LATE's contract says 7.00 %, below the 2026-H1 floor of 3 x 2.62 = 7.86 %: its invoice climbs the
    whole ladder anyway, claimed at the commercial rate (the case's 95.87 of penalties, as without a
    contract), and every run's summary names the contract to fix."""
    import yaml

    (backend.config_dir / "contracts.yaml").write_text(yaml.safe_dump({"late_interest_rates": {"LATE": "7.00"}}))
    run_the_ladder(backend)

    [case] = export(backend, "legal-queue")
    assert (str(case["penalties"]), str(case["indemnity"])) == ("95.87", "40.00")
    with state_engine(backend.state_url).connect() as conn:
        from sqlalchemy import select

        from dunning.state.schema import runs
        summary, counts = conn.execute(select(runs.c.summary, runs.c.counts).order_by(runs.c.id.desc())
                                       .limit(1)).one()
    assert counts["contracts_to_fix"] == 1
    assert "CONTRACTS TO FIX (their rate is set aside for the commercial rate): 1" in summary
    assert "late_interest_rates.LATE: contractual rate 7.00 % is below the legal floor of 7.86 %" in summary


def test_a_credit_note_is_deducted_on_its_date_from_the_formal_notice_and_the_dossier(backend, sendgrid):
    """FA-L1, 4 800,00 due 5 January 2026; credit note FA-AV-1 of 1 000,00 issued 10 February, after
    reminder_3. The formal notice of 19 February claims 3 800,00 and interest at 12.15 % (ECB 2.15 %
    + 10 points) on 4 800,00 for 36 days (6 January - 10 February), then on 3 800,00 for 9 days:
    4 800 x 12.15 % x 36 / 365 + 3 800 x 12.15 % x 9 / 365 = 57.52 + 11.38 = 68.91 (not 71.90 on 4 800
    for 45 days), and says FA-AV-1 was deducted. The dossier of 6 March: 36 days on 4 800,00 and 24 on
    3 800,00 = 57.52 + 30.36 = 87.88, principal 3 800,00."""
    from flows.nightly import nightly_collection

    dates = run_the_ladder(backend, through=Step.reminder_3)
    backend.accounting.invoice("AV-1", "LATE", due=None, total="1000.00", kind="credit_note",
                               issued=date(2026, 2, 10))
    assert nightly_collection(as_of=dates[Step.formal_notice], return_state=True).is_completed()
    notice = by_invoice(export(backend, "actions"))[("FA-L1", "formal_notice")]
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(notice["document_path"]).pages).split())
    assert "Avoir FA-AV-1 déduit au 10 février 2026" in text and "1 000,00" in text.replace("\u202f", " ")
    flat = text.replace("\u202f", " ").replace("\xa0", " ")
    assert "3 800,00 €" in flat and "68,91 €" in flat and "71,90" not in flat
    copy = sendgrid.accepted[-1].payload
    assert "Avoir FA-AV-1 déduit" in copy["content"][0]["value"]

    assert nightly_collection(as_of=dates[Step.legal_handoff], return_state=True).is_completed()
    [case] = export(backend, "legal-queue")
    assert (str(case["principal"]), str(case["penalties"]), str(case["indemnity"])) == ("3800.00", "87.88", "40.00")
    html = (Path(case["dossier_path"]) / "summary.html").read_text(encoding="utf-8")
    assert "avoir FA-AV-1" in html and "compensation (article 1347 du Code civil)" in html
    summary = json.loads((Path(case["dossier_path"]) / "summary.json").read_text(encoding="utf-8"))
    assert summary["credits_deducted"] == [{"invoice_number": "FA-L1", "reference": "FA-AV-1", "kind": "credit_note",
                                            "on": "2026-02-10", "amount": "1000.00"}]
