"""The SendGrid Event Webhook over real HTTP (uvicorn on 127.0.0.1), on SQLite and PostgreSQL.

Each test signs its posts the way SendGrid does: an ECDSA P-256 key generated here, SHA-256 over
the timestamp header followed by the raw body, the DER signature in base64.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from typer.testing import CliRunner

from conftest import edit_policy
from dunning.config import Step
from dunning.delivery.webhook import (
    EVENTS_PATH, PUBLIC_KEY_ENV, SIGNATURE_HEADER, TIMESTAMP_HEADER, app_from_environment,
)
from dunning.documents.exports import export_rows
from dunning.rules.planner import Channel, Decision, Outcome
from dunning.state.delivery import DeliveryStore
from dunning.state.schema import actions, address_flags, audit_events, delivery_events
from dunning.state.store import PlannedMessage, Trace, state_engine

AS_OF = date(2026, 3, 18)
T0 = datetime(2026, 3, 18, 10, 0, tzinfo=timezone.utc)
ADDRESS = "compta@dupont.example.fr"


# -- the service on 127.0.0.1, and a SendGrid that signs ------------------------------------------------

class LoopbackServer:
    """uvicorn serving an app on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the webhook service did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_as_sendgrid_shows_it(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


class SendGrid:
    """Posts event batches to the webhook as SendGrid's Signed Event Webhook does."""

    def __init__(self, url: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.url, self.key = url + EVENTS_PATH, key

    @staticmethod
    def sign(key: ec.EllipticCurvePrivateKey, timestamp: str, raw: bytes) -> str:
        return base64.b64encode(key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()

    def signed_headers(self, raw: bytes, key=None, age: timedelta = timedelta(0)) -> dict[str, str]:
        timestamp = str(int(time.time() - age.total_seconds()))
        return {SIGNATURE_HEADER: self.sign(key or self.key, timestamp, raw), TIMESTAMP_HEADER: timestamp,
                "Content-Type": "application/json"}

    def post(self, events: list[dict]) -> httpx.Response:
        raw = json.dumps(events).encode()
        return self.post_raw(raw, self.signed_headers(raw))

    def post_raw(self, raw, headers: dict[str, str]) -> httpx.Response:
        """raw: the body's bytes, or an iterator of them, which httpx sends chunked."""
        return httpx.post(self.url, content=raw, headers=headers, timeout=30)


@pytest.fixture
def signing_key(monkeypatch) -> ec.EllipticCurvePrivateKey:
    key = new_key()
    monkeypatch.setenv(PUBLIC_KEY_ENV, public_key_as_sendgrid_shows_it(key))
    return key


@pytest.fixture
def sendgrid_events(backend, signing_key):
    """The webhook service as `dunning webhook serve` builds it, and SendGrid posting to it."""
    with LoopbackServer(app_from_environment()) as server:
        yield SendGrid(server.url, signing_key)


@pytest.fixture
def deliveries(backend) -> DeliveryStore:
    return DeliveryStore(state_engine(backend.state_url))


def event(kind: str, message: PlannedMessage | str | None, *, at: datetime, email: str = ADDRESS,
          sg_event_id: str | None = None, **fields) -> dict:
    """One event as SendGrid posts it; our custom arg dunning_action_id sits at the top level."""
    key = message.message_key if isinstance(message, PlannedMessage) else message
    posted = {"email": email, "timestamp": int(at.timestamp()), "event": kind,
              "sg_event_id": sg_event_id or f"{kind}-{secrets.token_hex(6)}",
              "sg_message_id": f"msg-{key}.filterdrecv-1-2026", "smtp-id": "<x@sendgrid.net>", **fields}
    if key is not None:
        posted["dunning_action_id"] = key
    return posted


HARD_BOUNCE = {"type": "bounce", "reason": "550 5.1.1 The email account that you tried to reach does not exist",
               "bounce_classification": "Invalid Address", "status": "5.1.1"}


def sent_message(deliveries: DeliveryStore, debtor_id: str, *invoice_ids: str) -> PlannedMessage:
    """A reminder_1 covering these invoices, planned and accepted by SendGrid: one message key, one row each."""
    trace = Trace(run_id=deliveries.open_run(AS_OF, False, Trace()))
    decisions = [Decision(invoice_id=i, invoice_number=f"FA-{i}", debtor_id=debtor_id, currency="EUR",
                          residual=Decimal("600.00"), due_date=date(2026, 3, 13), outcome=Outcome.send,
                          reason="reminder_1 due on 2026-03-16", step=Step.reminder_1, channel=Channel.email,
                          group_key=f"{debtor_id}|reminder_1") for i in invoice_ids]
    [message] = deliveries.record_plan(trace, AS_OF, decisions, False, {debtor_id: "fr"})
    deliveries.mark_sent(trace, message, "sendgrid", f"msg-{message.message_key}", None, "reminder_1 sent", AS_OF)
    return message


def ledger(deliveries: DeliveryStore, message: PlannedMessage) -> list[tuple]:
    with deliveries.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(actions.c.id, actions.c.delivery_status,
                                                      actions.c.delivery_updated_at).where(
            actions.c.id.in_(message.action_ids)).order_by(actions.c.id))]


def audit(deliveries: DeliveryStore, prefix: str) -> list[dict]:
    return [e for e in export_rows(deliveries, "audit", None) if e["event"].startswith(prefix)]


def snapshot(deliveries: DeliveryStore) -> tuple:
    """Everything a post could change."""
    with deliveries.engine.connect() as conn:
        def count(table) -> int:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

        return (count(delivery_events), count(address_flags), count(audit_events),
                [tuple(r) for r in conn.execute(select(actions.c.id, actions.c.delivery_status,
                                                       actions.c.delivery_updated_at).order_by(actions.c.id))])


def stored_events(deliveries: DeliveryStore) -> list[dict]:
    with deliveries.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(delivery_events).order_by(delivery_events.c.id))]


# -- only SendGrid may post -----------------------------------------------------------------------------

def test_unsigned_wrongly_signed_or_tampered_posts_get_403_and_change_nothing(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    raw = json.dumps([event("bounce", message, at=T0, **HARD_BOUNCE)]).encode()
    good = sendgrid_events.signed_headers(raw)
    before = snapshot(deliveries)
    forgeries = {
        "unsigned": (raw, {"Content-Type": "application/json"}),
        "no timestamp": (raw, {SIGNATURE_HEADER: good[SIGNATURE_HEADER]}),
        "signed by another key": (raw, sendgrid_events.signed_headers(raw, key=new_key())),
        "body tampered after signing": (raw.replace(b"bounce", b"delivered"), good),
        "timestamp changed after signing": (raw, {**good, TIMESTAMP_HEADER: str(int(good[TIMESTAMP_HEADER]) + 1)}),
        "signature not base64": (raw, {**good, SIGNATURE_HEADER: "not base64 at all!"}),
        "signature not DER": (raw, {**good, SIGNATURE_HEADER: base64.b64encode(b"\x30\x02garbage").decode()}),
    }
    for case, (body, headers) in forgeries.items():
        answer = sendgrid_events.post_raw(body, headers)
        assert answer.status_code == 403, case
        assert answer.json() == {"error": "missing or invalid SendGrid signature"}, case
    assert snapshot(deliveries) == before

    assert sendgrid_events.post_raw(raw, good).status_code == 200     # the genuine post goes through
    assert snapshot(deliveries) != before


def test_a_signed_post_that_is_not_a_batch_of_events_gets_400_and_changes_nothing(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    good = event("delivered", message, at=T0)
    before = snapshot(deliveries)
    malformed = {
        b"<xml/>": "the body is not JSON",
        b'{"event": "delivered"}': "the body is a JSON dict, not an array of events",
        json.dumps([good, {**good, "sg_event_id": None}]).encode(): "event 1: sg_event_id is missing",
        json.dumps([{**good, "timestamp": "yesterday"}]).encode(): "event 0: timestamp must be unix seconds",
    }
    for raw, says in malformed.items():
        answer = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw))
        assert answer.status_code == 400, raw
        assert answer.json()["error"].startswith("not a batch of SendGrid events: " + says), answer.json()
    assert snapshot(deliveries) == before      # the good event of a refused batch is not kept either


# -- the service under abuse ----------------------------------------------------------------------------

MIB = 1024 * 1024


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_gets_413_before_it_is_read_whole(sendgrid_events, deliveries, framing):
    message = sent_message(deliveries, "DUPONT", "D1")
    before = snapshot(deliveries)
    # 8 MiB is the shipped limit; the signature is not even looked at: checking it needs the whole body.
    headers = {SIGNATURE_HEADER: "AAAA", TIMESTAMP_HEADER: str(int(time.time())), "Content-Type": "application/json"}
    big = json.dumps([event("delivered", message, at=T0, reason="x" * (9 * MIB))]).encode()
    sent = big if framing == "content-length" else (big[i:i + MIB] for i in range(0, len(big), MIB))

    answer = sendgrid_events.post_raw(sent, headers)

    assert answer.status_code == 413
    assert answer.json() == {"error": f"body larger than {8 * MIB} bytes"}
    assert snapshot(deliveries) == before


def _deeply_nested(good: dict, depth: int) -> bytes:
    return json.dumps([good]).encode()[:-2] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}]"


@pytest.mark.parametrize(("case", "says"), [
    ("NUL in the reason", "event 0: a value contains a NUL character"),
    ("NUL in a key", "event 0: a key contains a NUL character"),
    ("nested past the recursion limit", "the body is nested too deep to read"),
    ("nested deeper than any event", "event 0 is nested deeper than 16 levels"),
])
def test_a_signed_batch_the_database_could_not_store_gets_400_naming_no_address(sendgrid_events, deliveries,
                                                                                 caplog, capfd, case, says):
    message = sent_message(deliveries, "DUPONT", "D1")
    good = event("bounce", message, at=T0, **HARD_BOUNCE)
    raw = {"NUL in the reason": lambda: json.dumps([{**good, "reason": "550\x00 no such user"}]).encode(),
           "NUL in a key": lambda: json.dumps([{**good, "categ\x00ory": ["relance"]}]).encode(),
           "nested past the recursion limit": lambda: _deeply_nested(good, 100_000),
           "nested deeper than any event": lambda: _deeply_nested(good, 40)}[case]()
    before = snapshot(deliveries)
    capfd.readouterr()
    caplog.clear()

    answer = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw))

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"not a batch of SendGrid events: {says}")
    assert snapshot(deliveries) == before           # on PostgreSQL too, whose text columns refuse NUL
    logged = caplog.text + "".join(capfd.readouterr())
    assert says in caplog.text
    assert "@" not in answer.text + logged and "Traceback" not in logged


@pytest.mark.parametrize(("age", "status"), [
    (timedelta(minutes=11), 403), (timedelta(minutes=-11), 403),       # replayed, or stamped in the future
    (timedelta(minutes=9), 200), (timedelta(minutes=-9), 200),         # a slow retry, a clock a little ahead
], ids=["11-min-old", "11-min-ahead", "9-min-old", "9-min-ahead"])
def test_a_signed_post_stamped_more_than_10_minutes_from_now_is_refused(sendgrid_events, deliveries, age, status):
    message = sent_message(deliveries, "DUPONT", "D1")
    raw = json.dumps([event("delivered", message, at=T0)]).encode()
    before = snapshot(deliveries)

    answer = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw, age=age))

    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json() == {"error": "signed timestamp more than 600 s from now"}
        assert snapshot(deliveries) == before
    else:
        assert answer.json()["rows_updated"] == 1


def test_the_webhook_limits_come_from_the_policy(backend, config_dir, signing_key, deliveries):
    edit_policy(config_dir, webhook={"max_clock_skew_seconds": 60, "max_body_bytes": 64 * 1024})
    message = sent_message(deliveries, "DUPONT", "D1")
    raw = json.dumps([event("delivered", message, at=T0)]).encode()
    big = json.dumps([event("delivered", message, at=T0, reason="x" * 64 * 1024)]).encode()

    with LoopbackServer(app_from_environment()) as server:
        sendgrid_events = SendGrid(server.url, signing_key)
        late = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw, age=timedelta(minutes=2)))
        too_big = sendgrid_events.post_raw(big, sendgrid_events.signed_headers(big))
        in_time = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw, age=timedelta(seconds=30)))

    assert (late.status_code, late.json()) == (403, {"error": "signed timestamp more than 60 s from now"})
    assert (too_big.status_code, too_big.json()) == (413, {"error": "body larger than 65536 bytes"})
    assert in_time.status_code == 200 and in_time.json()["rows_updated"] == 1


def test_a_state_database_that_fails_gets_503_and_a_log_line_naming_no_address(sendgrid_events, deliveries,
                                                                               caplog, capfd):
    message = sent_message(deliveries, "DUPONT", "D1")
    with deliveries.engine.begin() as conn:
        delivery_events.drop(conn)                      # the batch's insert fails, its parameters in the error
    raw = json.dumps([event("bounce", message, at=T0, **HARD_BOUNCE)]).encode()
    capfd.readouterr()

    answer = sendgrid_events.post_raw(raw, sendgrid_events.signed_headers(raw))

    assert answer.status_code == 503                    # SendGrid posts it again later
    logged = caplog.text + "".join(capfd.readouterr())
    assert "Could not record a batch of 1 delivery events" in caplog.text
    assert "@" not in answer.text + logged and "Traceback" not in logged


# -- each event once ------------------------------------------------------------------------------------

def test_an_event_posted_twice_or_repeated_in_a_batch_is_recorded_once(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1", "D2")
    delivered = event("delivered", message, at=T0)
    batch = [delivered, delivered, event("open", message, at=T0 + timedelta(minutes=5))]

    first = sendgrid_events.post(batch)
    again = sendgrid_events.post(batch)          # SendGrid retries a post it thinks failed

    assert first.status_code == again.status_code == 200
    assert first.json() == {"received": 3, "recorded": 2, "duplicates": 1, "unknown_message": 0,
                            "rows_updated": 2, "addresses_flagged": 0}
    assert again.json() == {"received": 3, "recorded": 0, "duplicates": 3, "unknown_message": 0,
                            "rows_updated": 0, "addresses_flagged": 0}
    assert [e["sg_event_id"] for e in stored_events(deliveries)] == sorted(
        [delivered["sg_event_id"], batch[2]["sg_event_id"]])
    assert len(audit(deliveries, "delivery.")) == 2          # one per ledger row, not per post


def test_concurrent_posts_of_one_batch_record_each_event_once(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1", "D2")
    batch = [event("processed", message, at=T0), event("deferred", message, at=T0 + timedelta(seconds=30)),
             event("bounce", message, at=T0 + timedelta(minutes=5), **HARD_BOUNCE)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: sendgrid_events.post(batch), range(6)))

    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["recorded"] for a in answers) == 3
    assert sum(a.json()["addresses_flagged"] for a in answers) == 1
    assert len(stored_events(deliveries)) == 3 and len(deliveries.active_address_flags()) == 1
    assert sorted(e["event"] for e in audit(deliveries, "delivery.")) == sorted(
        ["delivery.processed", "delivery.deferred", "delivery.bounce"] * 2)
    assert {status for _, status, _ in ledger(deliveries, message)} == {"bounce"}


# -- what the ledger says -------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "fields", "status", "says"), [
    ("delivered", {}, "delivered", f"Delivered to {ADDRESS} at 2026-03-18 10:00:07 UTC."),
    ("deferred", {"reason": "451 4.7.1 try again later", "attempt": "1"}, "deferred",
     f"Delivery to {ADDRESS} deferred at 2026-03-18 10:00:07 UTC: 451 4.7.1 try again later."),
    ("bounce", HARD_BOUNCE, "bounce", f"Hard bounce: {HARD_BOUNCE['reason']} ({ADDRESS}, 2026-03-18 10:00:07 UTC)."),
    ("bounce", {"type": "blocked", "reason": "421 mailbox temporarily full"}, "blocked",
     f"Soft bounce (blocked) from {ADDRESS} at 2026-03-18 10:00:07 UTC: 421 mailbox temporarily full."),
    ("dropped", {"reason": "Bounced Address"}, "dropped",
     f"Dropped by SendGrid, not sent to {ADDRESS}: Bounced Address (2026-03-18 10:00:07 UTC)."),
    ("spamreport", {}, "spamreport", f"{ADDRESS} reported the message as spam at 2026-03-18 10:00:07 UTC."),
    ("unsubscribe", {}, "unsubscribe", f"{ADDRESS} unsubscribed at 2026-03-18 10:00:07 UTC."),
], ids=["delivered", "deferred", "hard-bounce", "soft-bounce", "dropped", "spamreport", "unsubscribe"])
def test_every_row_of_the_message_takes_the_newest_status_whatever_the_order(sendgrid_events, deliveries, kind,
                                                                             fields, status, says):
    message = sent_message(deliveries, "DUPONT", "D1", "D2")
    other = sent_message(deliveries, "MARTIN", "M1")
    newest = T0 + timedelta(seconds=7)

    assert sendgrid_events.post([event(kind, message, at=newest, **fields)]).json()["rows_updated"] == 2
    late = sendgrid_events.post([event("processed", message, at=T0),                    # older, arrives last
                                 event("open", message, at=newest + timedelta(hours=1))])  # not a ledger event
    assert late.json()["recorded"] == 2 and late.json()["rows_updated"] == 0

    assert ledger(deliveries, message) == [(row, status, newest) for row in message.action_ids]
    assert ledger(deliveries, other) == [(other.action_ids[0], None, None)]
    changes = audit(deliveries, "delivery.")
    assert [(e["event"], e["subject_type"], e["subject_id"]) for e in changes] == [
        (f"delivery.{status}", "action", str(row)) for row in message.action_ids]
    assert all(e["message"] == says and e["actor"] == "sendgrid-webhook" for e in changes)
    assert len(stored_events(deliveries)) == 3          # the late processed and the open are kept all the same


def test_a_newer_event_replaces_the_status_and_a_same_second_processed_does_not(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    sendgrid_events.post([event("processed", message, at=T0)])
    sendgrid_events.post([event("delivered", message, at=T0 + timedelta(seconds=2))])
    sendgrid_events.post([event("processed", message, at=T0 + timedelta(seconds=2))])   # a second, same stamp

    assert ledger(deliveries, message) == [(message.action_ids[0], "delivered", T0 + timedelta(seconds=2))]
    assert [e["event"] for e in audit(deliveries, "delivery.")] == ["delivery.processed", "delivery.delivered"]
    exported = {r["action_id"]: r for r in export_rows(deliveries, "actions", None)}[message.action_ids[0]]
    assert (exported["delivery_status"], exported["delivery_updated_at"]) == ("delivered", T0 + timedelta(seconds=2))


# -- addresses to correct -------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "fields", "flagged"), [
    ("bounce", HARD_BOUNCE, "bounce"),
    ("dropped", {"reason": "Invalid"}, "dropped"),
    ("bounce", {"type": "blocked", "reason": "421 try later"}, None),
    ("deferred", {"reason": "451 greylisted"}, None),
], ids=["hard-bounce", "dropped", "soft-bounce", "deferred"])
def test_a_hard_bounce_or_a_drop_flags_the_debtor_address_once(sendgrid_events, deliveries, kind, fields, flagged):
    message = sent_message(deliveries, "DUPONT", "D1", "D2")

    first = sendgrid_events.post([event(kind, message, at=T0, email="Compta@Dupont.Example.fr", **fields)])
    second = sendgrid_events.post([event(kind, message, at=T0 + timedelta(hours=2), **fields)])   # again, later

    flags = deliveries.active_address_flags()
    events = audit(deliveries, "address.")
    if flagged is None:
        assert flags == [] and events == [] and first.json()["addresses_flagged"] == 0
        return
    [flag] = flags
    assert (flag.debtor_id, flag.email, flag.event, flag.flagged_at, flag.message_key) == (
        "DUPONT", ADDRESS, flagged, T0, message.message_key)
    assert (first.json()["addresses_flagged"], second.json()["addresses_flagged"]) == (1, 0)
    [flagging] = events
    assert (flagging["event"], flagging["subject_type"], flagging["subject_id"]) == ("address.flagged", "debtor",
                                                                                       "DUPONT")
    assert f"Address {ADDRESS} of debtor DUPONT flagged after" in flagging["message"]
    assert "the next steps go by letter" in flagging["message"]


def test_events_for_messages_we_do_not_know_are_stored_and_counted(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    before = ledger(deliveries, message)

    answer = sendgrid_events.post([event("bounce", "999999", at=T0, **HARD_BOUNCE),      # not in our ledger
                                   event("delivered", None, at=T0, email="someone@else.example.fr")])  # no custom arg

    assert answer.status_code == 200
    assert answer.json() == {"received": 2, "recorded": 2, "duplicates": 0, "unknown_message": 2,
                             "rows_updated": 0, "addresses_flagged": 0}
    assert sorted((e["message_key"] or "-", e["event"]) for e in stored_events(deliveries)) == [
        ("-", "delivered"), ("999999", "bounce")]
    stored = {e["event"]: e for e in stored_events(deliveries)}["bounce"]
    assert stored["detail"] == f"{HARD_BOUNCE['reason']}; type bounce; classification Invalid Address"
    assert stored["payload"]["status"] == "5.1.1" and stored["occurred_at"] == T0
    assert ledger(deliveries, message) == before and deliveries.active_address_flags() == []
    assert audit(deliveries, "delivery.") == [] and audit(deliveries, "address.") == []


# -- the operator's commands ----------------------------------------------------------------------------

def _cli():
    from flows.cli import app

    return app


def test_an_operator_lists_and_clears_a_flagged_address(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    sendgrid_events.post([event("bounce", message, at=T0, **HARD_BOUNCE)])
    runner = CliRunner()

    listed = runner.invoke(_cli(), ["address", "list"])
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"DUPONT\s+{re.escape(ADDRESS)}\s+bounce\s+2026-03-18\s+550 5.1.1", listed.output)

    no_note = runner.invoke(_cli(), ["address", "clear", "DUPONT", "--note", " ", "--operator", "marie.dupont"])
    assert no_note.exit_code == 2 and "say why" in no_note.output
    cleared = runner.invoke(_cli(), ["address", "clear", "DUPONT", "--note", "checked with the customer by phone",
                                     "--operator", "marie.dupont"])
    assert cleared.exit_code == 0, cleared.output
    assert f"Address {ADDRESS} of debtor DUPONT cleared" in cleared.output
    assert runner.invoke(_cli(), ["address", "list"]).output.strip() == "No address to correct."
    again = runner.invoke(_cli(), ["address", "clear", "DUPONT", "--note", "x", "--operator", "marie.dupont"])
    assert again.exit_code == 2 and "debtor DUPONT has no flagged address" in again.output

    [event_] = audit(deliveries, "address.cleared")
    assert event_["actor"] == "marie.dupont" and event_["subject_id"] == "DUPONT"
    assert "checked with the customer by phone" in event_["message"]
    with deliveries.engine.connect() as conn:
        row = conn.execute(select(address_flags)).one()
    assert (row.cleared_by, row.cleared_note) == ("marie.dupont", "checked with the customer by phone")


@pytest.mark.parametrize(("value", "says"), [
    (None, f"{PUBLIC_KEY_ENV} is not set"),
    ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE-truncated", f"{PUBLIC_KEY_ENV} is not a public key"),
], ids=["missing", "malformed"])
def test_the_service_refuses_to_start_without_a_usable_key(monkeypatch, value, says):
    if value is None:
        monkeypatch.delenv(PUBLIC_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(PUBLIC_KEY_ENV, value)
    result = CliRunner().invoke(_cli(), ["webhook", "serve", "--port", "1"])
    assert result.exit_code == 2 and says in result.output


def test_the_service_refuses_to_start_with_a_wrong_policy_in_one_line(monkeypatch, config_dir):
    from conftest import edit_policy

    monkeypatch.setenv(PUBLIC_KEY_ENV, public_key_as_sendgrid_shows_it(ec.generate_private_key(ec.SECP256R1())))
    monkeypatch.setenv("DUNNING_CONFIG_DIR", str(config_dir))
    edit_policy(config_dir, webhook={"max_body_bytes": 10})
    result = CliRunner().invoke(_cli(), ["webhook", "serve", "--port", "1"])
    assert result.exit_code == 2 and "policy.yaml" in result.output and "max_body_bytes" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


# -- end to end: a bounce turns the next step into a letter ---------------------------------------------

def _run(as_of: date):
    """`dunning run --as-of` as an operator types it: the summary it prints is what it shows."""
    result = CliRunner().invoke(_cli(), ["run", "--as-of", as_of.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("prefect_harness")
def test_a_hard_bounce_sends_the_next_step_by_letter_until_the_address_is_corrected(
        backend, sendgrid, sendgrid_events, deliveries):
    books = backend.accounting
    books.customer("BOUNCE")                           # compta@bounce.example.fr
    books.invoice("B1", "BOUNCE", due=date(2026, 3, 13))   # standard: reminder_1 Mon 16 Mar, reminder_2 Mon 30 Mar,
    books.customer("FINE")                             # reminder_3 Mon 13 Apr (Sun 12 moved)
    books.invoice("F1", "FINE", due=date(2026, 3, 13))

    _run(date(2026, 3, 18))
    [reminder] = [m for m in sendgrid.accepted if m.payload["personalizations"][0]["to"][0]["email"]
                  == "compta@bounce.example.fr"]
    key = reminder.payload["custom_args"]["dunning_action_id"]
    bounced_at = datetime(2026, 3, 18, 9, 0, 3, tzinfo=timezone.utc)
    answer = sendgrid_events.post([
        event("processed", key, at=bounced_at - timedelta(seconds=3), email="compta@bounce.example.fr"),
        event("bounce", key, at=bounced_at, email="compta@bounce.example.fr", **HARD_BOUNCE)])
    assert answer.json()["addresses_flagged"] == 1
    rows = {(r["invoice_numbers"], r["step"]): r for r in export_rows(deliveries, "actions", None)}
    assert rows[("FA-B1", "reminder_1")]["delivery_status"] == "bounce"
    assert rows[("FA-F1", "reminder_1")]["delivery_status"] is None

    summary = _run(date(2026, 3, 30))
    rows = {(r["invoice_numbers"], r["step"]): r for r in export_rows(deliveries, "actions", None)}
    letter = rows[("FA-B1", "reminder_2")]
    assert (letter["channel"], letter["status"], letter["provider"]) == ("letter", "sent", "print_queue")
    assert "address flagged after a hard bounce on 2026-03-18" in letter["reason"]
    assert rows[("FA-F1", "reminder_2")]["channel"] == "email"
    assert [m.payload["personalizations"][0]["to"][0]["email"] for m in sendgrid.accepted].count(
        "compta@bounce.example.fr") == 1                                  # no second email to the dead address
    assert "Addresses to correct (hard bounce or dropped; the next steps go by letter): 1" in summary
    assert re.search(r"BOUNCE\s+compta@bounce\.example\.fr\s+bounce\s+2026-03-18\s+550 5\.1\.1", summary)
    assert "FA-B1" not in summary.split("Addresses to correct")[1]       # ids and counts, no message content

    books.set_email("BOUNCE", "Paiements@Bounce.example.fr")            # corrected in the accounting system
    summary = _run(date(2026, 4, 13))
    assert deliveries.active_address_flags() == []
    [cleared] = audit(deliveries, "address.cleared")
    assert cleared["actor"] == "nightly-run" and cleared["subject_id"] == "BOUNCE" and cleared["run_id"]
    assert "the accounting system now gives another address" in cleared["message"]
    assert "Addresses to correct (hard bounce or dropped; the next steps go by letter): 0; corrected in the " \
           "accounting system since: 1" in summary
    reminder_3 = {(r["invoice_numbers"], r["step"]): r for r in export_rows(deliveries, "actions", None)}[
        ("FA-B1", "reminder_3")]
    assert (reminder_3["channel"], reminder_3["status"], reminder_3["provider"]) == ("email", "sent", "sendgrid")
    assert "Paiements@Bounce.example.fr" in [m.payload["personalizations"][0]["to"][0]["email"]
                                             for m in sendgrid.accepted]


# -- RGPD: nothing of the reader's device is kept ------------------------------------------------
def test_open_and_click_events_are_stored_without_ip_address_or_user_agent(sendgrid_events, deliveries):
    message = sent_message(deliveries, "DUPONT", "D1")
    device = {"ip": "192.0.2.17", "useragent": "Mozilla/5.0 (Windows NT 10.0)"}
    batch = [event("open", message, at=T0, **device),
             event("click", message, at=T0 + timedelta(minutes=1), url="https://exemple-pme.fr/payer", **device)]
    assert sendgrid_events.post(batch).status_code == 200

    stored = {e["event"]: e for e in stored_events(deliveries)}
    assert set(stored) == {"open", "click"}
    for row in stored.values():
        assert not {"ip", "useragent"} & set(row["payload"]) and row["payload"]["sg_event_id"]
    assert stored["click"]["payload"]["url"] == "https://exemple-pme.fr/payer"
    assert "192.0.2.17" not in json.dumps([e["payload"] for e in stored.values()])


def test_the_upgrade_removes_ip_addresses_and_user_agents_stored_before(backend, deliveries):
    from alembic import command

    from dunning.state.database import _alembic_config, upgrade_database

    command.downgrade(_alembic_config(backend.state_url), "0005")
    with deliveries.engine.begin() as conn:
        for n, kind in enumerate(("open", "delivered")):
            conn.execute(delivery_events.insert().values(
                sg_event_id=f"old-{n}", event=kind, message_key="7", occurred_at=T0, received_at=T0,
                payload={"event": kind, "sg_event_id": f"old-{n}", "ip": "192.0.2.17", "useragent": "curl/8"}))
    assert upgrade_database(backend.state_url) == "0006"
    assert [e["payload"] for e in stored_events(deliveries)] == [
        {"event": "open", "sg_event_id": "old-0"}, {"event": "delivered", "sg_event_id": "old-1"}]
