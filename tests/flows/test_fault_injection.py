"""Fault injection: a night of 2,000+ reminders against a SendGrid that misbehaves at random.

The SendGrid-compatible server on 127.0.0.1 answers 20 % of requests 500/503, 5 % 429 with
X-RateLimit-Reset, leaves 2 % hanging past the client's timeout (never accepting them), accepts 2 %
and loses their answer (the client times out), and refuses a handful of addresses with 400. The
faults are seeded: each request's fate depends on the seed, the message's ledger id and its
attempt number only, so a failure reproduces. No delivery event reaches the product (no webhook).

What must hold, checked from the server's own log against the state database's ledger:
- every due message accepted exactly once, its X-Message-Id stored; none accepted twice;
- every failure recorded with the provider's error (the 400s with what SendGrid said; messages
  out of retries with their last transient error), and never a retry after a permanent refusal;
- sent + failed = due messages, attempts = requests seen by the server <= retries + 1;
- the flow run ends Failed exactly when something failed or went unanswered, saying how many of each;
- the waits are those of the retry policy: never sooner than its backoff (or X-RateLimit-Reset),
  never longer than its worst case, and the whole night bounded accordingly;
- a second night on the same date, faults off, asks SendGrid's activity log about every unanswered
  send: the accepted ones are settled as sent (0 duplicates), and it sends exactly what failed
  transiently or was never processed, once; a third, the addresses corrected, sends the refused
  ones and ends Completed.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from dunning.state.schema import actions, audit_events, runs
from dunning.state.store import state_engine
from sendgrid_server import FaultProfile, RecordedRequest

from conftest import edit_policy
from ladder import let_time_pass

AS_OF = date(2026, 3, 18)       # a Wednesday in a half-year config/legal_fr.yaml covers
DUE = date(2026, 3, 13)         # standard segment: reminder_1 on Monday 16th, due on AS_OF
MESSAGES = 2000                 # one debtor per invoice, one reminder each (PostgreSQL: a smaller night)
BAD_ADDRESSES = 6               # debtors whose address SendGrid refuses with 400
BAD_REASON = "Does not contain a valid address."
# Debtors whose every request meets a 503 (an outage on their shard) on the first night, so some
# messages run out of retries whatever the seed draws, and the second night has something to send.
UNLUCKY_ADDRESSES = 2
OUTAGE_REASON = "The service is temporarily unavailable, please retry later."

DISPATCH = {
    "max_workers": 8,
    "retries": 3,
    "retry_delay_seconds": 0.05,   # backoff 0.05, 0.1, 0.2 s
    "retry_jitter_factor": 0.5,    # Prefect draws each delay in [0.63, 1.5] x the nominal one
    # A hang costs this, not the production 15 s. A request left unanswered is not retried that
    # night (it may have been accepted: see the last test of this file); the next run resends it.
    "timeout_seconds": 2.0,
}
PROFILE = FaultProfile(seed=20260318, server_error=0.20, rate_limited=0.05, hang=0.02, lost_answer=0.02,
                       hang_seconds=3.0, rate_limit_reset_seconds=1)
# What a run costs besides its sends (extraction, planning 2,000 decisions, closing, artifacts),
# measured well under this on a 2-core machine; the bound is about the waits, not about Prefect.
FIXED_OVERHEAD_SECONDS = 120.0
# Work between two attempts besides the policy's waits: the failure and the next claim written to
# the ledger (on SQLite, queued behind 7 other writers), Prefect's state changes, the rendering.
PER_ATTEMPT_SLACK_SECONDS = 5.0
CLOCK_SLACK_SECONDS = 0.005
HANG_READ_LAG_SECONDS = 0.25

pytestmark = pytest.mark.slow


# -- the retry policy in numbers ---------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    delay: float
    jitter: float
    timeout: float
    rate_limit_wait_cap: float      # tasks/dispatch.py sleeps at most this long for a 429

    def nominal_delay(self, retry: int) -> float:
        """The backoff before retry number `retry` (0-based): exponential_backoff(delay)."""
        return self.delay * 2 ** retry

    def shortest_delay(self, retry: int) -> float:
        """Prefect's clamped_poisson_interval never draws below this (prefect.utilities.math)."""
        if not self.jitter:
            return self.nominal_delay(retry)
        k = 1 + self.jitter
        return self.nominal_delay(retry) * math.log(2 ** k / (2 ** k - 1), 2)

    def longest_delay(self, retry: int) -> float:
        return self.nominal_delay(retry) * (1 + self.jitter)

    def worst_case_per_message(self, rate_limit_wait: float) -> float:
        """Every attempt times out, every retry waits its longest backoff and a 429's reset."""
        attempts = self.retries + 1
        return (attempts * self.timeout
                + sum(self.longest_delay(r) for r in range(self.retries))
                + self.retries * min(rate_limit_wait, self.rate_limit_wait_cap))


def retry_policy() -> RetryPolicy:
    from tasks.dispatch import MAX_RATE_LIMIT_WAIT_SECONDS

    return RetryPolicy(DISPATCH["retries"], DISPATCH["retry_delay_seconds"], DISPATCH["retry_jitter_factor"],
                       DISPATCH["timeout_seconds"], MAX_RATE_LIMIT_WAIT_SECONDS)


# -- the night ---------------------------------------------------------------------------------
def role(index: int, messages: int) -> str | None:
    """A handful of debtors spread over the book are refused with a 400 ("bad"), two meet an outage."""
    every = messages // BAD_ADDRESSES
    if index // every < BAD_ADDRESSES and index % every == 7:
        return "bad"
    if index // every < UNLUCKY_ADDRESSES and index % every == 11:
        return "unlucky"
    return None


def build_books(backend, messages: int) -> dict[str, dict[str, str]]:
    """`messages` debtors with one invoice each, all due for reminder_1 on AS_OF.

    Returns the "bad" and "unlucky" debtors with their email addresses."""
    books, special = backend.accounting, {"bad": {}, "unlucky": {}}
    with one_transaction(books):
        for index in range(messages):
            debtor = f"D{index:05d}"
            email = f"compta@{debtor.lower()}.example.fr"
            books.customer(debtor, email=email)
            books.invoice(f"I{index:05d}", debtor, due=DUE, total=f"{100 + index % 900}.00")
            if role(index, messages):
                special[role(index, messages)][debtor] = email
    assert (len(special["bad"]), len(special["unlucky"])) == (BAD_ADDRESSES, UNLUCKY_ADDRESSES)
    return special


@contextmanager
def one_transaction(books):
    """The Accounting helper commits each row; 4,000 commits cost half a minute on SQLite. Its
    rows go through one connection and one transaction instead (same rows, same conversions)."""
    engine = books.engine
    with engine.begin() as conn:
        class OneConnection:
            dialect = engine.dialect

            @staticmethod
            @contextmanager
            def begin():
                yield conn

        books.engine = OneConnection
        try:
            yield
        finally:
            books.engine = engine


def run_night(as_of: date):
    """The nightly flow under the Prefect engine, its send pool sized by the policy under test.

    flows.nightly fixes its ThreadPoolTaskRunner when the module is first imported (see
    flows.sending.max_workers), possibly by an earlier test under another config: a fresh worker
    process would size it from this test's policy, so the test does what that process would.
    """
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.nightly import nightly_collection

    flow = nightly_collection.with_options(task_runner=ThreadPoolTaskRunner(max_workers=DISPATCH["max_workers"]))
    started = time.monotonic()
    state = flow(as_of=as_of, return_state=True)
    return state, time.monotonic() - started


def ledger(backend) -> dict[str, dict]:
    """The ledger rows of messages, by message key (one invoice per message here); the superseded
    rows (pre_due, once the invoice is overdue) carry no message key."""
    with state_engine(backend.state_url).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(actions).where(actions.c.message_key.is_not(None)))]
    by_key = {r["message_key"]: r for r in rows}
    assert len(by_key) == len(rows), "one row per message: grouping is off"
    return by_key


def last_run(backend) -> dict:
    with state_engine(backend.state_url).connect() as conn:
        return dict(conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).one()._mapping)


def failed_audit(backend) -> dict[str, list[str]]:
    with state_engine(backend.state_url).connect() as conn:
        rows = conn.execute(select(audit_events.c.subject_id, audit_events.c.message).where(
            audit_events.c.event.in_(["action.failed", "action.unanswered"])))
        found = defaultdict(list)
        for subject_id, message in rows:
            found[subject_id].append(message)
        return found


def by_action(requests: list[RecordedRequest]) -> dict[str, list[RecordedRequest]]:
    grouped: dict[str, list[RecordedRequest]] = defaultdict(list)
    for request in requests:
        assert request.action_id, f"a request without dunning_action_id reached SendGrid: {request}"
        grouped[request.action_id].append(request)
    for attempts in grouped.values():
        attempts.sort(key=lambda r: r.received_at)
    return grouped


def transient(request: RecordedRequest) -> bool:
    """Answered with an error worth retrying at once: 429 or 5xx. A hang is not: unanswered."""
    return request.status is not None and (request.status == 429 or request.status >= 500)


def client_gave_up_at(request: RecordedRequest, timeout: float) -> float:
    """When the client was done with a request: its answer, or its timeout for a hang."""
    return request.answered_at if request.answered_at is not None else request.received_at + timeout


def expected_error(request: RecordedRequest, timeout: float) -> tuple[str, ...]:
    """What the ledger's last_error must say for a message whose last request got this answer."""
    if request.status is None:
        return ("no answer from", f"within {timeout:g} s")
    return (f"HTTP {request.status}", request.error)


# -- the fault mode itself -----------------------------------------------------------------------
def test_the_fault_profile_is_seeded_and_a_hang_is_never_accepted(sendgrid_server):
    from dunning.delivery.gateway import (
        OutboundEmail, SendGridGateway, TransientSendError, UnansweredSendError,
    )
    from sendgrid_server import TEST_API_KEY

    draws = [PROFILE.fault(str(key), attempt) for key in range(4000) for attempt in (1, 2)]
    assert draws == [PROFILE.fault(str(key), attempt) for key in range(4000) for attempt in (1, 2)]
    kinds = Counter(f.kind if f else "none" for f in draws)
    assert abs(kinds["server_error"] / len(draws) - 0.20) < 0.02
    assert abs(kinds["rate_limited"] / len(draws) - 0.05) < 0.01
    assert abs(kinds["hang"] / len(draws) - 0.02) < 0.006
    assert abs(kinds["lost_answer"] / len(draws) - 0.02) < 0.006

    def kind(key: str, attempt: int) -> str | None:
        fault = PROFILE.fault(key, attempt)
        return fault.kind if fault else None

    # A key whose first request hangs and second goes through: the hang is never accepted.
    key = next(str(k) for k in range(1000) if kind(str(k), 1) == "hang" and kind(str(k), 2) is None)
    sendgrid_server.inject_faults(FaultProfile(**{**PROFILE.__dict__, "hang_seconds": 1.0}))
    gateway = SendGridGateway(TEST_API_KEY, host=sendgrid_server.host, timeout_seconds=0.3)
    email = OutboundEmail(to_email="compta@x.example.fr", to_name="X", from_email="relances@y.example.fr",
                          from_name="Y", reply_to=None, subject="Relance", html="<p>Relance</p>", text="Relance",
                          custom_args={"dunning_action_id": key})
    with pytest.raises(UnansweredSendError, match="no answer"):
        gateway.send(email)
    time.sleep(1.2)                                   # the hang is over: the server dropped it
    message_id = gateway.send(email)
    first, second = sendgrid_server.requests
    assert (first.status, first.outcome, first.action_id, first.answered_at) == (None, "unanswered", key, None)
    assert (second.status, second.message_id, second.action_id) == (202, message_id, key)
    assert [m.message_id for m in sendgrid_server.accepted] == [message_id]

    # A 429 carries X-RateLimit-Reset in epoch seconds, about a second ahead.
    limited = next(str(k) for k in range(1000) if kind(str(k), 1) == "rate_limited")
    with pytest.raises(TransientSendError) as refused:
        gateway.send(OutboundEmail(**{**email.__dict__, "custom_args": {"dunning_action_id": limited}}))
    answer = sendgrid_server.requests[-1]
    assert answer.status == 429 and 0 < int(answer.headers["X-RateLimit-Reset"]) - answer.received_at <= 1.0
    assert refused.value.status == 429 and refused.value.retry_after_seconds <= 1.0
    sendgrid_server.clear_faults()
    gateway.send(OutboundEmail(**{**email.__dict__, "custom_args": {"dunning_action_id": limited}}))
    assert sendgrid_server.requests[-1].status == 202


# -- the test ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("backend", "messages"), [("sqlite", MESSAGES), ("postgresql", MESSAGES // 4)],
                         indirect=["backend"])
def test_a_night_of_faults_sends_each_due_message_exactly_once(backend, messages, sendgrid, record_property):
    policy = retry_policy()
    edit_policy(backend.config_dir, dispatch=DISPATCH)
    started = time.monotonic()
    special = build_books(backend, messages)
    bad_debtors = special["bad"]
    print(f"\nbooks of {messages} invoices written in {time.monotonic() - started:.1f} s")
    for email in bad_debtors.values():
        sendgrid.fail_for(email, 400, BAD_REASON)
    for email in special["unlucky"].values():
        sendgrid.fail_for(email, 503, OUTAGE_REASON)
    sendgrid.inject_faults(PROFILE)

    state, wall = run_night(AS_OF)

    requests = sendgrid.requests
    log = by_action(requests)
    rows = ledger(backend)
    bad_keys = {r["message_key"] for r in rows.values() if r["debtor_id"] in bad_debtors}
    unlucky_keys = {r["message_key"] for r in rows.values() if r["debtor_id"] in special["unlucky"]}

    # -- the faults really happened, at about the rates asked for ---------------------------
    injected = Counter((r.outcome if r.status is None else r.status) for r in requests if r.injected == "fault")
    print(f"{len(requests)} requests for {len(rows)} messages; injected: {dict(injected)}; "
          f"400s: {sum(1 for r in requests if r.status == 400)}")
    assert 0.15 * len(requests) < injected[500] + injected[503] < 0.25 * len(requests), injected
    assert 0.03 * len(requests) < injected[429] < 0.07 * len(requests), injected
    assert 0.01 * len(requests) < injected["unanswered"] < 0.03 * len(requests), injected
    assert 0.01 * len(requests) < injected["lost_answer"] < 0.03 * len(requests), injected
    assert {r.action_id for r in requests if r.status == 400} <= bad_keys

    # -- every due message on the ledger, sent or failed, and nothing else ------------------
    assert len(rows) == messages
    assert {r["step"] for r in rows.values()} == {"reminder_1"}
    statuses = Counter(r["status"] for r in rows.values())
    assert set(statuses) <= {"sent", "failed", "sending"}, statuses
    assert statuses["sent"] + statuses["failed"] + statuses["sending"] == messages
    assert set(log) <= set(rows), "SendGrid saw an id the ledger does not know"

    accepted = Counter(r.action_id for r in requests if r.message_id)      # a lost answer was accepted too
    twice = [k for k, n in accepted.items() if n > 1]
    assert not twice, accepted_twice_report(twice, log, backend, policy.timeout)
    assert all(r.outcome in ("accepted", "refused", "unanswered", "lost_answer") for r in requests)

    audit = failed_audit(backend)
    transient_failures: set[str] = set()
    for key, row in rows.items():
        attempts = log.get(key, [])
        assert row["attempts"] == len(attempts), (key, row["attempts"], len(attempts))
        assert 1 <= len(attempts) <= policy.retries + 1, (key, len(attempts))
        wins = [r for r in attempts if r.outcome == "accepted"]
        last = attempts[-1]
        if row["status"] == "sending":
            # Unanswered: it may have been accepted, so never retried at once; the next run settles it.
            assert last.status is None and last.outcome in ("unanswered", "lost_answer") and not wins, (key, last)
            assert all(transient(r) for r in attempts[:-1]), (key, [r.status for r in attempts])
            assert row["provider"] is None and "may have been accepted" in row["last_error"], row["last_error"]
            assert any(row["last_error"].rstrip(".") in m for m in audit[str(row["id"])])
        elif row["status"] == "sent":
            # Exactly one acceptance, the last request, its X-Message-Id on the ledger; all before it transient.
            assert len(wins) == 1 and wins[0] is last, (key, [r.status for r in attempts])
            assert row["provider_message_id"] == last.message_id
            assert row["provider"] == "sendgrid" and row["last_error"] is None
            assert all(transient(r) for r in attempts[:-1]), (key, [r.status for r in attempts])
            assert key not in bad_keys
        else:
            assert not wins and row["provider_message_id"] is None, key
            for part in expected_error(last, policy.timeout):
                assert part in row["last_error"], (key, row["last_error"], part)
            assert any(row["last_error"].rstrip(".") in m for m in audit[str(row["id"])]), (key, audit.get(str(row["id"])))
            if transient(last):
                # Out of retries on transient errors only, with the last of them on record.
                assert len(attempts) == policy.retries + 1, (key, [r.status for r in attempts])
                assert all(transient(r) for r in attempts), (key, [r.status for r in attempts])
                transient_failures.add(key)
            else:
                # A refusal is permanent: recorded with what SendGrid said, never retried.
                assert key in bad_keys and last.status == 400 and last.error == BAD_REASON, (key, last)
                assert all(transient(r) for r in attempts[:-1])
                assert f"HTTP 400: {BAD_REASON}" in row["last_error"]
    failed = {k for k, r in rows.items() if r["status"] == "failed"}
    unanswered = {k for k, r in rows.items() if r["status"] == "sending"}
    lost = {k for k in unanswered if log[k][-1].outcome == "lost_answer"}     # SendGrid did take these
    assert lost and unanswered - lost, "the unanswered rule was not exercised both ways"
    assert bad_keys <= failed | transient_failures | unanswered
    assert failed == {k for k in bad_keys if log[k][-1].status == 400} | transient_failures
    assert unlucky_keys and unlucky_keys <= transient_failures

    # -- the flow run's state and the run summary tell what happened ------------------------
    assert state.is_failed(), state
    assert state.message.startswith(f"{len(unanswered)} send(s) unanswered by SendGrid"), state.message
    assert f" | {len(failed)} of {messages} send(s) failed after their retries" in state.message, state.message
    assert f"HTTP 400: {BAD_REASON}" in state.message
    run = last_run(backend)
    counts = run["counts"] if isinstance(run["counts"], dict) else json.loads(run["counts"])
    assert run["status"] == "failed"
    assert (counts["sent"], counts["failed"], counts["unanswered"]) == (
        statuses["sent"], statuses["failed"], statuses["sending"]), counts

    # -- the waits are the policy's ------------------------------------------------------------
    # Between two attempts of a message the server sees: the end of the first (its answer, or the
    # client's timeout after a hang), the task's wait for X-RateLimit-Reset after a 429, Prefect's
    # backoff for that retry (nominal x [0.63, 1.5] with jitter 0.5), then the next request.
    rate_limit_wait = PROFILE.rate_limit_reset_seconds            # X-RateLimit-Reset is at most this far
    worst = policy.worst_case_per_message(rate_limit_wait)
    too_soon, too_late, longest_span, overhead = [], [], 0.0, 0.0
    margins: dict[str, list[float]] = defaultdict(list)          # seconds beyond the shortest wait allowed
    for key, attempts in log.items():
        for retry, (previous, following) in enumerate(zip(attempts, attempts[1:])):
            done = client_gave_up_at(previous, policy.timeout)
            earliest = done + policy.shortest_delay(retry)
            reset_wait = 0.0
            if previous.status == 429:
                reset = float(previous.headers["X-RateLimit-Reset"])
                reset_wait = max(0.0, reset - previous.answered_at)
                earliest = max(earliest, reset + policy.shortest_delay(retry))
            # The server cannot see when the client's timer started after a hang: the client sent
            # before the server read the body, by up to a scheduling delay on a busy machine. Waiting
            # out the timeout is what is checked there; the backoff itself on the answered errors.
            slack = HANG_READ_LAG_SECONDS if previous.status is None else CLOCK_SLACK_SECONDS
            policy_latest = done + policy.longest_delay(retry) + min(reset_wait, policy.rate_limit_wait_cap)
            overhead = max(overhead, following.received_at - policy_latest)
            latest = policy_latest + PER_ATTEMPT_SLACK_SECONDS
            kind = "hang" if previous.status is None else "429" if previous.status == 429 else "5xx"
            margins[kind].append(following.received_at - earliest)
            if following.received_at < earliest - slack:
                too_soon.append((key, retry, previous.status, round(earliest - following.received_at, 3)))
            if following.received_at > latest:
                too_late.append((key, retry, previous.status, round(following.received_at - latest, 3)))
        span = client_gave_up_at(attempts[-1], policy.timeout) - attempts[0].received_at
        longest_span = max(longest_span, span)
    assert margins["5xx"] and margins["429"], "some kind of retry was never exercised"
    assert "hang" not in margins, "an unanswered request was retried at once: it may have been accepted"
    assert not too_soon, f"retries sooner than the policy allows: {too_soon[:10]}"
    assert not too_late, f"retries later than the policy's worst case: {too_late[:10]}"
    assert longest_span <= worst + policy.retries * PER_ATTEMPT_SLACK_SECONDS, (longest_span, worst)
    waits = "; ".join(f"after {kind} x{len(m)}: {min(m) * 1000:+.0f} / {sorted(m)[len(m) // 2] * 1000:+.0f} / "
                      f"{max(m) * 1000:+.0f} ms" for kind, m in sorted(margins.items()))

    in_flight = max_concurrency(requests, policy.timeout)
    assert in_flight <= DISPATCH["max_workers"], in_flight

    bound = messages / DISPATCH["max_workers"] * worst + FIXED_OVERHEAD_SECONDS
    retried = sum(1 for a in log.values() if len(a) > 1)
    figures = (f"night 1: {wall:.1f} s wall for {messages} messages on {backend.name} ({len(requests)} requests, {retried} retried, "
               f"{statuses['sent']} sent, {len(bad_keys)} refused 400, {len(transient_failures)} out of retries); "
               f"worst case {worst:.2f} s per message, bound {bound:.0f} s; longest message {longest_span:.2f} s; "
               f"most concurrent sends {in_flight}; most time between attempts beyond the policy's longest "
               f"wait {overhead:.2f} s; retries beyond the shortest allowed wait "
               f"(min / median / max): {waits}")
    print(figures)
    record_property("night_1_wall_seconds", round(wall, 1))
    record_property("night_1_figures", figures)
    assert wall < bound, figures

    # -- the next night, same date, faults off, the bad addresses still refused ---------------
    sendgrid.clear_faults()
    sendgrid.clear_failures()                     # the outage is over ...
    for email in bad_debtors.values():            # ... the bad addresses are still bad
        sendgrid.fail_for(email, 400, BAD_REASON)
    before = len(requests)
    let_time_pass(backend, hours=1)          # the unanswered ones are past the resend delay
    state2, wall2 = run_night(AS_OF)
    second = sendgrid.requests[before:]
    rows2 = ledger(backend)
    tried = Counter(r.action_id for r in second)
    # The run asks SendGrid's activity log about each unanswered send first: what it accepted is
    # sent, with its id; what it never processed is sent again, once, like what failed.
    assert sorted(q.value for q in sendgrid.activity_queries) == sorted(unanswered)
    assert {q.status for q in sendgrid.activity_queries} == {200}
    for key in lost:
        assert rows2[key]["status"] == "sent" and rows2[key]["provider_message_id"] == log[key][-1].message_id
    failed |= unanswered - lost
    assert set(tried) == failed, (set(tried) ^ failed)
    assert max(tried.values()) == 1
    accepted2 = {r.action_id for r in second if r.outcome == "accepted"}
    assert accepted2 == failed - bad_keys
    still_refused = {r.action_id for r in second if r.status == 400}
    assert still_refused == failed & bad_keys == bad_keys
    for key in failed - bad_keys:
        assert rows2[key]["status"] == "sent" and rows2[key]["attempts"] == rows[key]["attempts"] + 1
        assert rows2[key]["provider_message_id"] == next(r.message_id for r in second if r.action_id == key)
    for key in rows.keys() - failed - lost:
        assert rows2[key] == rows[key], key          # what was sent is left exactly as it was
    assert Counter(r.action_id for r in sendgrid.requests if r.message_id).most_common(1)[0][1] == 1  # 0 duplicates
    counts2 = last_run(backend)["counts"]
    counts2 = counts2 if isinstance(counts2, dict) else json.loads(counts2)
    assert counts2["interrupted"] == {"sent": len(lost), "resend": len(unanswered - lost)}, counts2
    assert all(rows2[k]["status"] == "failed" and f"HTTP 400: {BAD_REASON}" in rows2[k]["last_error"]
               for k in bad_keys)
    assert state2.is_failed() and state2.message.startswith(f"{len(bad_keys)} of {len(failed)} send(s) failed"), \
        state2.message
    print(f"night 2: {wall2:.1f} s wall, {len(second)} requests, {len(accepted2)} accepted")
    record_property("night_2_wall_seconds", round(wall2, 1))

    # -- the addresses corrected: the refused messages go out, and the run says all is well -----
    sendgrid.clear_failures()
    before = len(sendgrid.requests)
    state3, _ = run_night(AS_OF)
    third = sendgrid.requests[before:]
    assert sorted(r.action_id for r in third) == sorted(bad_keys) and all(r.outcome == "accepted" for r in third)
    assert state3.is_completed(), state3.message
    rows3 = ledger(backend)
    assert Counter(r["status"] for r in rows3.values()) == {"sent": messages}
    assert Counter(r.action_id for r in sendgrid.requests if r.message_id) == Counter(rows3.keys())
    assert {r.message_id for r in sendgrid.requests if r.message_id} == {
        r["provider_message_id"] for r in rows3.values()}
    assert last_run(backend)["status"] == "completed"


def accepted_twice_report(keys: list[str], log: dict[str, list[RecordedRequest]], backend, timeout: float) -> str:
    """Why a message was accepted twice: each request, how long the server took, what the ledger heard."""
    audit = failed_audit(backend)
    with state_engine(backend.state_url).connect() as conn:
        ids = {r.message_key: str(r.id) for r in conn.execute(select(actions.c.id, actions.c.message_key).where(
            actions.c.message_key.in_(keys)))}
    lines = [f"{len(keys)} message(s) accepted more than once (client timeout {timeout:g} s):"]
    for key in keys[:10]:
        first = log[key][0].received_at
        requests = ", ".join(
            f"{r.status or 'no answer'} received +{r.received_at - first:.2f} s"
            + (f" answered after {r.answered_at - r.received_at:.2f} s" if r.answered_at else "")
            for r in log[key])
        lines.append(f"  {key}: {requests}; the ledger recorded: {audit.get(ids.get(key), [])}")
    return "\n".join(lines)


def max_concurrency(requests: list[RecordedRequest], timeout: float) -> int:
    """The most requests the client had in flight at once, seen from the server."""
    events = []
    for r in requests:
        end = r.answered_at if r.answered_at is not None else r.received_at + 0.9 * timeout
        events += [(r.received_at, 1), (end, -1)]
    in_flight = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        in_flight += step
        peak = max(peak, in_flight)
    return peak


# -- a timeout after SendGrid accepted: SendGrid has no idempotency key, so no retry at once ------
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_message_accepted_after_the_client_timed_out_is_not_sent_twice(backend, sendgrid):
    edit_policy(backend.config_dir, dispatch={**DISPATCH, "max_workers": 1, "timeout_seconds": 0.5})
    books = backend.accounting
    books.customer("LATE")
    books.invoice("L1", "LATE", due=DUE)
    # SendGrid processes the first request but answers after the client's timeout (a slow
    # gateway, a congested link): the message is accepted, the client hears nothing.
    sendgrid.hang_next(1, 1.0)

    state, _ = run_night(AS_OF)
    time.sleep(1.0)     # let the late answer land in the server's log

    [row] = ledger(backend).values()
    accepted = [r for r in sendgrid.requests if r.outcome == "accepted"]
    assert [r.action_id for r in accepted] == [row["message_key"]], (
        f"accepted {len(accepted)} times; ledger: {row['status']} after {row['attempts']} attempts, "
        f"state {state.name}")
    assert row["status"] == "sending" and "may have been accepted" in row["last_error"]
    assert state.is_failed() and state.message.startswith("1 send(s) unanswered by SendGrid"), state.message

    # The next run, past the resend delay, finds it in SendGrid's activity log: sent, not resent.
    let_time_pass(backend, hours=1)
    assert run_night(AS_OF)[0].is_completed()
    [row] = ledger(backend).values()
    assert [m.message_id for m in sendgrid.accepted] == [accepted[0].message_id] == [row["provider_message_id"]]
    assert row["status"] == "sent" and [q.value for q in sendgrid.activity_queries] == [row["message_key"]]
