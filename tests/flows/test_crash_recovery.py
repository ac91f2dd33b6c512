"""A run killed in the middle of sending: what the next run does with the rows it left 'sending'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select
from typer.testing import CliRunner

from conftest import edit_policy
from sendgrid_server import FaultProfile
from dunning.config import Step
from dunning.rules.recovery import InterruptedSend, ProviderActivity, Verdict, settle_interrupted
from dunning.state.schema import actions, audit_events, runs
from dunning.state.store import state_engine
from ladder import let_time_pass, record_delivery_event, run_the_ladder

NOW = datetime(2026, 3, 18, 9, 0, tzinfo=timezone.utc)
AN_HOUR = timedelta(minutes=60)


def interrupted(**changes) -> InterruptedSend:
    values = dict(message_key="41", action_ids=(41,), invoice_numbers=("FA-1",), debtor_id="D1", step="reminder_1",
                  channel="email", run_id=7, updated_at=NOW - timedelta(minutes=90), provider=None,
                  provider_message_id=None, document_path=None)
    return InterruptedSend(**{**values, **changes})


# -- the rules, one by one ---------------------------------------------------------------------
def test_a_stored_provider_id_means_it_was_sent():
    recovery = settle_interrupted(interrupted(provider_message_id="abc123"), NOW, AN_HOUR)
    assert (recovery.verdict, recovery.provider, recovery.provider_message_id) == (Verdict.sent, "sendgrid", "abc123")


def test_a_delivery_event_means_it_was_sent_and_gives_the_message_id():
    send = interrupted(delivery_event=("delivered", "xY7mQ.filter0001.16648.5515E0B88.0"))
    recovery = settle_interrupted(send, NOW, AN_HOUR)
    assert (recovery.verdict, recovery.provider_message_id) == (Verdict.sent, "xY7mQ")
    assert "'delivered' event" in recovery.reason


def test_a_printed_letter_is_sent():
    recovery = settle_interrupted(interrupted(channel="letter", document_path="/var/pq/x.html"), NOW, AN_HOUR)
    assert (recovery.verdict, recovery.provider) == (Verdict.sent, "print_queue")


def test_a_2xx_without_id_waits_for_an_operator_however_old():
    send = interrupted(provider="sendgrid", updated_at=NOW - timedelta(days=3))
    assert settle_interrupted(send, NOW, AN_HOUR).verdict is Verdict.operator


def test_a_formal_notice_is_never_resent_automatically():
    for channel, document in (("email_and_letter", "/var/pq/formal_notice-41.pdf"), ("email", None)):
        send = interrupted(step=Step.formal_notice.value, channel=channel, document_path=document,
                           updated_at=NOW - timedelta(days=3))
        recovery = settle_interrupted(send, NOW, AN_HOUR)
        assert recovery.verdict is Verdict.operator and "never resent automatically" in recovery.reason


def test_within_the_delay_even_a_formal_notice_waits_its_run_may_still_be_sending_it():
    send = interrupted(step=Step.formal_notice.value, channel="email_and_letter", updated_at=NOW - timedelta(minutes=5))
    assert settle_interrupted(send, NOW, AN_HOUR).verdict is Verdict.wait


def test_an_amicable_step_is_resent_only_after_the_delay():
    recent = settle_interrupted(interrupted(updated_at=NOW - timedelta(minutes=20)), NOW, AN_HOUR)
    assert recent.verdict is Verdict.wait and "in about 41 min" in recent.reason
    old = settle_interrupted(interrupted(updated_at=NOW - timedelta(minutes=61)), NOW, AN_HOUR)
    assert old.verdict is Verdict.blind and "61 min" in old.reason and "without knowing" in old.reason


# -- the provider's activity log, asked before anything is sent again ----------------------------
class ActivityLog:
    """Answers like the provider's activity log would, and remembers what it was asked."""

    def __init__(self, answer: ProviderActivity) -> None:
        self.answer, self.asked = answer, []

    def __call__(self, message_key: str) -> ProviderActivity:
        self.asked.append(message_key)
        return self.answer


def test_a_message_the_activity_log_lists_as_processed_is_sent_not_resent():
    log = ActivityLog(ProviderActivity(True, "xY7mQ.filter0001.16648.5515E0B88.0"))
    recovery = settle_interrupted(interrupted(), NOW, AN_HOUR, log)
    assert (recovery.verdict, recovery.provider, recovery.provider_message_id) == (Verdict.sent, "sendgrid", "xY7mQ")
    assert "Email Activity lists it as processed" in recovery.reason and log.asked == ["41"]


def test_a_message_the_activity_log_has_no_trace_of_is_resent_knowingly():
    recovery = settle_interrupted(interrupted(), NOW, AN_HOUR, ActivityLog(ProviderActivity(False)))
    assert recovery.verdict is Verdict.resend and "has no trace of it 90 min after" in recovery.reason


def test_when_the_activity_log_cannot_tell_the_resend_is_blind_and_says_why():
    log = ActivityLog(ProviderActivity(None, detail="SendGrid's Email Activity API is not available to this account "
                                                    "(HTTP 403)"))
    recovery = settle_interrupted(interrupted(), NOW, AN_HOUR, log)
    assert recovery.verdict is Verdict.blind and "not available to this account (HTTP 403)" in recovery.reason


def test_the_activity_log_is_asked_only_when_nothing_else_settles_the_message():
    log = ActivityLog(ProviderActivity(True, "abc"))
    for send in (interrupted(provider_message_id="abc123"), interrupted(delivery_event=("processed", "q.1")),
                 interrupted(provider="sendgrid"), interrupted(updated_at=NOW - timedelta(minutes=5)),
                 interrupted(channel="letter")):
        settle_interrupted(send, NOW, AN_HOUR, log)
    assert log.asked == []


def test_a_formal_notice_the_activity_log_has_no_trace_of_still_waits_for_an_operator():
    send = interrupted(step=Step.formal_notice.value, updated_at=NOW - timedelta(days=3))
    assert settle_interrupted(send, NOW, AN_HOUR, ActivityLog(ProviderActivity(False))).verdict is Verdict.operator
    processed = settle_interrupted(send, NOW, AN_HOUR, ActivityLog(ProviderActivity(True, "m1")))
    assert processed.verdict is Verdict.sent


# -- sends nobody answered, looked up in SendGrid's activity log before they go again -------------
# Every first request meets a fault that leaves it unanswered: half are never processed, half are
# accepted and their answer lost (a reset, a proxy timing out). The seed gives some of each.
UNANSWERED = FaultProfile(seed=11, hang=0.5, lost_answer=0.5, hang_seconds=1.0)
NIGHT = date(2026, 3, 18)


def _unanswered_night(backend, sendgrid) -> tuple[set[str], set[str]]:
    """Eight reminder_1 due tonight, all unanswered: (the keys SendGrid accepted, those it never saw)."""
    for n in range(8):
        backend.accounting.customer(f"U{n}")
        backend.accounting.invoice(f"U{n}-1", f"U{n}", due=NIGHT - timedelta(days=5))
    edit_policy(backend.config_dir, dispatch={"timeout_seconds": 0.5, "max_workers": 4})
    sendgrid.inject_faults(UNANSWERED)
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=NIGHT, return_state=True)
    lost = {r.action_id for r in sendgrid.requests if r.outcome == "lost_answer"}
    never = {r.action_id for r in sendgrid.requests if r.outcome == "unanswered"}
    assert lost and never and len(lost | never) == 8, (lost, never)
    # Unanswered is not failed: the state says which, and what happens next.
    assert state.is_failed() and state.message.startswith("8 send(s) unanswered by SendGrid"), state.message
    assert "failed after their retries" not in state.message
    with state_engine(backend.state_url).connect() as conn:
        counts = conn.execute(select(runs.c.counts).order_by(runs.c.id.desc()).limit(1)).scalar()
    assert (counts["unanswered"], counts["failed"]) == (8, 0), counts
    sendgrid.clear_faults()
    let_time_pass(backend, hours=1)          # past the resend delay
    return lost, never


def _second_night(backend) -> tuple[object, str, dict]:
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=NIGHT, return_state=True)
    with state_engine(backend.state_url).connect() as conn:
        summary, counts = conn.execute(select(runs.c.summary, runs.c.counts).order_by(runs.c.id.desc()).limit(1)).one()
    return state, summary, counts


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unanswered_send_is_looked_up_before_it_is_sent_again(backend, sendgrid):
    lost, never = _unanswered_night(backend, sendgrid)

    state, summary, counts = _second_night(backend)

    assert state.is_completed(), state.message
    accepted = Counter(m.payload["custom_args"]["dunning_action_id"] for m in sendgrid.accepted)
    assert accepted == Counter(lost | never), "a debtor got the same reminder twice"
    assert {q.value for q in sendgrid.activity_queries} == lost | never
    rows = {r["message_key"]: r for r in _rows(backend).values()}
    by_key = {m.payload["custom_args"]["dunning_action_id"]: m.message_id for m in sendgrid.accepted}
    assert all(rows[k]["status"] == "sent" and rows[k]["provider_message_id"] == by_key[k] for k in lost | never)
    assert all(rows[k]["attempts"] == 1 for k in lost) and all(rows[k]["attempts"] == 2 for k in never)
    assert counts["interrupted"] == {"sent": len(lost), "resend": len(never)}, counts
    assert f"{len(lost)} settled as sent" in summary and f"{len(never)} sent again (SendGrid had not" in summary
    assert "WITHOUT KNOWING" not in summary


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_the_activity_log_an_unanswered_send_goes_again_blind_and_the_summary_lists_it(backend, sendgrid):
    lost, never = _unanswered_night(backend, sendgrid)
    sendgrid.activity_unavailable(403)        # the account has no Email Activity add-on

    state, summary, counts = _second_night(backend)

    assert state.is_completed(), state.message
    accepted = Counter(m.payload["custom_args"]["dunning_action_id"] for m in sendgrid.accepted)
    # What today's rule costs, and the summary owns up to it: the lost answers went out twice.
    assert {k for k, n in accepted.items() if n == 2} == lost and set(accepted) == lost | never
    assert counts["interrupted"] == {"resend_blind": 8}, counts
    assert ("SENT AGAIN WITHOUT KNOWING WHETHER THE FIRST SEND WENT OUT (SendGrid's activity log could not be "
            "asked): 8") in summary
    assert "HTTP 403" in summary and all(f"action {k}:" in summary for k in lost | never)


# -- SIGKILL in the middle of dispatch, then the next run ---------------------------------------
def _dunning() -> str:
    return str(Path(sys.executable).with_name("dunning"))


def _sending(backend) -> int:
    """Messages claimed and handed over (a letter is printed before its email copy goes)."""
    with state_engine(backend.state_url).connect() as conn:
        return conn.execute(select(func.count()).where(actions.c.status == "sending", or_(
            actions.c.channel == "email", actions.c.document_path.is_not(None)))).scalar_one()


def _rows(backend) -> dict[tuple[str, str], dict]:
    with state_engine(backend.state_url).connect() as conn:
        return {(r.invoice_number, r.step): r._asdict() for r in conn.execute(select(actions))}


def _kill_mid_dispatch(backend, tmp_path: Path, as_of: date, in_flight: int) -> None:
    """`dunning run` in its own process group, SIGKILLed once `in_flight` messages are 'sending'."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-killed")}
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "killed-run.log").open("w")
    process = subprocess.Popen([_dunning(), "run", "--as-of", as_of.isoformat()], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    try:
        while _sending(backend) < in_flight:
            assert process.poll() is None, f"the run ended before it was killed: {tmp_path / 'killed-run.log'}"
            assert time.monotonic() < deadline, f"never reached {in_flight} sends in flight"
            time.sleep(0.2)
        time.sleep(0.5)        # the last claimed message reaches the provider
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def killed_on_notice_day(backend, sendgrid, tmp_path, prefect_harness):
    """The ladder of one invoice up to reminder_3, then a night with its formal notice and three
    reminder_1 whose process is killed while all four are with the provider (who never answers)."""
    dates = run_the_ladder(backend, through=Step.reminder_3)
    books = backend.accounting
    notice_day = dates[Step.formal_notice]
    for debtor in ("A", "B", "C"):
        books.customer(debtor)
        books.invoice(f"{debtor}1", debtor, due=notice_day - timedelta(days=4))
    before = len(sendgrid.accepted)
    edit_policy(backend.config_dir, dispatch={"timeout_seconds": 120})   # the provider holds every call
    sendgrid.hang_next(100, 600)
    _kill_mid_dispatch(backend, tmp_path, notice_day, in_flight=4)
    sendgrid.clear_failures()
    assert len(sendgrid.accepted) == before       # the provider answered none of the four
    return notice_day


# One backend is enough for the process kill; PostgreSQL is covered by the concurrency test.
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_after_a_kill_the_next_run_settles_each_interrupted_send_without_a_blind_resend(
        backend, sendgrid, killed_on_notice_day):
    from flows.nightly import nightly_collection

    notice_day = killed_on_notice_day
    left = _rows(backend)
    assert {k for k, r in left.items() if r["status"] == "sending"} == {
        ("FA-L1", "formal_notice"), ("FA-A1", "reminder_1"), ("FA-B1", "reminder_1"), ("FA-C1", "reminder_1")}
    # SendGrid had in fact accepted C's message before the kill: its delivery event says so.
    c_key = left[("FA-C1", "reminder_1")]["message_key"]
    record_delivery_event(backend, c_key, "delivered", "cMsg42.filter0001.1.2.3")

    # Within the delay nothing is resent: the run that claimed them might still be waiting.
    accepted_before = len(sendgrid.accepted)
    edit_policy(backend.config_dir, dispatch={"timeout_seconds": 2, "resend_interrupted_after_minutes": 60})
    waiting = nightly_collection(as_of=notice_day, return_state=True)
    assert waiting.is_completed(), waiting.message
    assert len(sendgrid.accepted) == accepted_before
    rows = _rows(backend)
    assert rows[("FA-C1", "reminder_1")]["status"] == "sent"          # the event is proof at once
    assert rows[("FA-C1", "reminder_1")]["provider_message_id"] == "cMsg42"
    assert rows[("FA-A1", "reminder_1")]["status"] == rows[("FA-B1", "reminder_1")]["status"] == "sending"
    assert rows[("FA-L1", "formal_notice")]["status"] == "sending" and rows[("FA-L1", "formal_notice")]["last_error"] is None

    # After the delay, the amicable reminders go again, once; the formal notice waits for an operator;
    # the killed run, 13 hours on, is closed as failed.
    let_time_pass(backend, hours=13)
    state = nightly_collection(as_of=notice_day, return_state=True)
    assert state.is_completed(), state.message
    rows = _rows(backend)
    for debtor in ("A", "B"):
        row = rows[(f"FA-{debtor}1", "reminder_1")]
        to = f"compta@{debtor.lower()}.example.fr"
        accepted = [m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"] == to]
        assert len(accepted) == 1 and row["status"] == "sent" and row["provider_message_id"] == accepted[0].message_id
    assert not [m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"]
                in ("compta@c.example.fr", "compta@late.example.fr") and m.payload["categories"][1] == "formal_notice"]
    notice = rows[("FA-L1", "formal_notice")]
    assert notice["status"] == "sending" and "never resent automatically" in notice["last_error"]
    assert Path(notice["document_path"]).is_file()            # the registered letter was printed before the kill

    with state_engine(backend.state_url).connect() as conn:
        summary = conn.execute(select(runs.c.summary).order_by(runs.c.id.desc())).scalar()
        killed = conn.execute(select(runs).where(runs.c.status == "failed")).all()
        events = conn.execute(select(audit_events.c.event, audit_events.c.subject_id, audit_events.c.message).where(
            audit_events.c.event.in_(["action.recovered", "action.interrupted", "action.awaiting_operator"]))).all()
    assert "WAITING FOR AN OPERATOR (dunning action resolve): 1" in summary and "FA-L1" in summary
    assert [r.message for r in killed] and "interrupted" in killed[0].message
    by_event = {}
    for event in events:
        by_event.setdefault(event.event, []).append(event)
    assert len(by_event["action.recovered"]) == 1 and "'delivered' event" in by_event["action.recovered"][0].message
    assert len(by_event["action.interrupted"]) == 2
    assert len(by_event["action.awaiting_operator"]) == 1
    assert nightly_collection(as_of=notice_day, return_state=True).is_completed()
    with state_engine(backend.state_url).connect() as conn:    # said once, however many runs find it
        assert conn.execute(select(func.count()).where(
            audit_events.c.event == "action.awaiting_operator")).scalar_one() == 1

    # The operator checks SendGrid's activity and the print queue, then settles it.
    from flows.cli import app

    result = CliRunner().invoke(app, ["action", "resolve", str(notice["id"]), "--outcome", "sent", "--note",
                                      "letter posted; email copy absent from the activity feed",
                                      "--operator", "marie.dupont"])
    assert result.exit_code == 0, result.output
    assert _rows(backend)[("FA-L1", "formal_notice")]["status"] == "sent"

    # The invoice's whole story, for an auditor: decisions, sends, the wait, the operator's word.
    trail = CliRunner().invoke(app, ["export", "audit", "--invoice", "FA-L1", "--format", "csv"])
    assert trail.exit_code == 0, trail.output
    events = [line.split(",")[7] for line in trail.output.splitlines()[1:] if line.count(",") > 8]
    assert events.count("action.sent") == 4 and "action.awaiting_operator" in events
    assert events[-1] == "action.resolved" and "decision.send" in events
    assert "FA-A1" not in trail.output and "marie.dupont" in trail.output
