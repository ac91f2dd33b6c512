"""The email gateway against a SendGrid-compatible server over real HTTP, with the official client."""

from __future__ import annotations

import json
import logging
import pickle
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request

import pytest

from dunning.delivery.gateway import (
    OutboundEmail, OutboxGateway, PermanentSendError, SendError, SendGridGateway, TransientSendError,
    UnansweredSendError, UnconfirmedSendError, gateway_from_environment,
)
from sendgrid_server import (  # noqa: F401  (the fixture registers itself by import)
    TEST_API_KEY,
    SendGridTestServer,
    sendgrid_server_fixture,
)


def reminder_for_dupont() -> OutboundEmail:
    """A first reminder to a B2B debtor, as the renderer would hand it over."""
    return OutboundEmail(
        to_email="compta@dupont-batiment.fr",
        to_name="Dupont Bâtiment SARL",
        from_email="relances@exemple-pme.fr",
        from_name="Exemple PME — Comptabilité",
        reply_to="compta-clients@exemple-pme.fr",
        subject="Relance : facture F-2025-0042 échue",
        html="<p>Bonjour, la facture <strong>F-2025-0042</strong> reste due : 1 234,56 €.</p>",
        text="Bonjour, la facture F-2025-0042 reste due : 1 234,56 €.",
        custom_args={"dunning_message_key": "act-7f3c2a"},
        categories=("dunning", "reminder_1"),
    )


@pytest.fixture
def gateway(sendgrid_server: SendGridTestServer) -> SendGridGateway:
    return SendGridGateway(TEST_API_KEY, host=sendgrid_server.host, timeout_seconds=0.5)


def send_failure(gateway: SendGridGateway) -> SendError:
    with pytest.raises(SendError) as caught:
        gateway.send(reminder_for_dupont())
    return caught.value


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- accepted -----------------------------------------------------------------------------------


def test_accepted_message_returns_the_provider_message_id(gateway, sendgrid_server):
    message_id = gateway.send(reminder_for_dupont())

    [accepted] = sendgrid_server.accepted
    assert message_id == accepted.message_id
    assert sendgrid_server.requests[0].status == 202


def test_the_provider_sees_the_v3_payload_the_message_describes(gateway, sendgrid_server):
    gateway.send(reminder_for_dupont())

    payload = sendgrid_server.accepted[0].payload
    assert payload["personalizations"] == [
        {"to": [{"email": "compta@dupont-batiment.fr", "name": "Dupont Bâtiment SARL"}]}
    ]
    assert payload["from"] == {"email": "relances@exemple-pme.fr", "name": "Exemple PME — Comptabilité"}
    assert payload["reply_to"] == {"email": "compta-clients@exemple-pme.fr"}
    assert payload["subject"] == "Relance : facture F-2025-0042 échue"
    assert payload["content"] == [
        {"type": "text/plain", "value": "Bonjour, la facture F-2025-0042 reste due : 1 234,56 €."},
        {
            "type": "text/html",
            "value": "<p>Bonjour, la facture <strong>F-2025-0042</strong> reste due : 1 234,56 €.</p>",
        },
    ]
    assert payload["custom_args"] == {"dunning_message_key": "act-7f3c2a"}
    assert payload["categories"] == ["dunning", "reminder_1"]


def test_each_accepted_message_gets_its_own_id(gateway):
    assert len({gateway.send(reminder_for_dupont()) for _ in range(3)}) == 3


def test_two_hundred_without_message_id_is_unconfirmed_and_not_retried(gateway, sendgrid_server):
    """Accepted or not is unknown, so a blind retry could send twice."""
    sendgrid_server.fail_next(1, 202)

    error = send_failure(gateway)

    assert isinstance(error, UnconfirmedSendError)
    assert isinstance(error, PermanentSendError)
    assert error.status == 202 and error.transient is False


# -- transient failures -------------------------------------------------------------------------


def test_rate_limited_is_transient_with_the_wait_until_reset(gateway, sendgrid_server):
    sendgrid_server.fail_next(1, 429, headers={"X-RateLimit-Reset": str(int(time.time()) + 30)})

    error = send_failure(gateway)

    assert isinstance(error, TransientSendError)
    assert error.status == 429 and error.transient
    assert 25 <= error.retry_after_seconds <= 30


def test_rate_limited_with_the_server_default_reset(gateway, sendgrid_server):
    sendgrid_server.fail_next(1, 429)

    error = send_failure(gateway)

    assert isinstance(error, TransientSendError)
    assert 0 <= error.retry_after_seconds <= 2


def test_rate_limited_without_reset_header_has_no_wait(gateway, sendgrid_server):
    sendgrid_server.fail_next(1, 429, headers={"X-RateLimit-Reset": "soon"})

    error = send_failure(gateway)

    assert isinstance(error, TransientSendError)
    assert error.retry_after_seconds is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(gateway, sendgrid_server, status):
    sendgrid_server.fail_next(1, status)

    error = send_failure(gateway)

    assert isinstance(error, TransientSendError)
    assert error.status == status
    assert error.retry_after_seconds is None


def test_a_failure_queue_is_consumed_in_order_then_sends_go_through(gateway, sendgrid_server):
    sendgrid_server.fail_next(1, 503)
    sendgrid_server.fail_next(1, 429)

    assert send_failure(gateway).status == 503
    assert send_failure(gateway).status == 429
    assert gateway.send(reminder_for_dupont())
    assert [r.status for r in sendgrid_server.requests] == [503, 429, 202]


def test_a_hang_past_the_timeout_is_unanswered_not_retried_and_quick(gateway, sendgrid_server):
    """The request arrived: SendGrid may have accepted it, so no blind retry (no idempotency key)."""
    sendgrid_server.hang_next(1, 10)

    started = time.monotonic()
    error = send_failure(gateway)
    elapsed = time.monotonic() - started

    assert isinstance(error, UnansweredSendError) and not error.transient
    assert error.status is None
    assert "no answer" in error.reason and "0.5 s" in error.reason and "may have been accepted" in error.reason
    assert elapsed < 2.5


def test_a_hang_does_not_block_other_sends(gateway, sendgrid_server):
    slow = SendGridGateway(TEST_API_KEY, host=sendgrid_server.host, timeout_seconds=3)
    sendgrid_server.hang_next(1, 10)

    outcome: list[BaseException] = []
    waiter = threading.Thread(target=lambda: outcome.append(send_failure(slow)))
    waiter.start()
    time.sleep(0.2)  # the slow send has taken the hang
    started = time.monotonic()
    gateway.send(reminder_for_dupont())
    assert time.monotonic() - started < 1
    waiter.join(timeout=5)
    assert isinstance(outcome[0], UnansweredSendError)


def test_stopping_the_server_cuts_a_hang_short():
    server = SendGridTestServer().start()
    gateway = SendGridGateway(TEST_API_KEY, host=server.host, timeout_seconds=0.3)
    server.hang_next(1, 60)
    send_failure(gateway)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert server.requests[-1].status is None


def test_connection_refused_is_transient():
    gateway = SendGridGateway(TEST_API_KEY, host=f"http://127.0.0.1:{closed_port()}", timeout_seconds=0.5)

    error = send_failure(gateway)

    assert isinstance(error, TransientSendError)
    assert "cannot reach" in error.reason


# -- permanent failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "provider_message"),
    [
        (400, "The from address does not match a verified Sender Identity."),
        (401, "The provided authorization grant is invalid, expired, or revoked"),
        (403, "You are not authorized to send from this domain."),
        (413, "The JSON payload you have included in your request is too large."),
        (404, "not found"),
    ],
)
def test_client_errors_are_permanent_with_the_provider_message(
    gateway, sendgrid_server, status, provider_message
):
    sendgrid_server.fail_next(1, status, message=provider_message)

    error = send_failure(gateway)

    assert isinstance(error, PermanentSendError)
    assert not isinstance(error, TransientSendError)
    assert error.status == status and error.transient is False
    assert error.reason == provider_message
    assert str(error) == f"HTTP {status}: {provider_message}"


def test_a_wrong_api_key_is_refused_permanently(sendgrid_server):
    gateway = SendGridGateway("SG.another-key", host=sendgrid_server.host)

    error = send_failure(gateway)

    assert isinstance(error, PermanentSendError) and error.status == 401
    assert "authorization grant is invalid" in error.reason
    assert sendgrid_server.accepted == []


def test_all_provider_messages_are_kept_and_truncated(gateway, sendgrid_server):
    sendgrid_server.fail_next(1, 400, message="x" * 1000)

    error = send_failure(gateway)

    assert len(error.reason) <= 300


def test_a_recipient_can_be_refused_until_cleared(gateway, sendgrid_server):
    sendgrid_server.fail_for("COMPTA@dupont-batiment.fr", 403)

    assert isinstance(send_failure(gateway), PermanentSendError)
    assert isinstance(send_failure(gateway), PermanentSendError)
    sendgrid_server.clear_failures()
    assert gateway.send(reminder_for_dupont())


def test_content_that_embeds_an_api_key_is_refused_before_sending(gateway, sendgrid_server):
    email = reminder_for_dupont()
    leaky = OutboundEmail(**{**email.__dict__, "text": "SG.abcdefghij.klmnopqrst"})

    with pytest.raises(PermanentSendError, match="refused before sending"):
        gateway.send(leaky)
    assert sendgrid_server.requests == []


# -- the API key never leaks --------------------------------------------------------------------


def all_text_of(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), *traceback.format_exception(error), repr(error.__dict__)]
    )


@pytest.mark.parametrize(
    "arrange",
    [
        lambda server: server.fail_next(1, 429),
        lambda server: server.fail_next(1, 500),
        lambda server: server.fail_next(1, 400, message="bad key SG.test-secret-key-do-not-log"),
        lambda server: server.fail_next(1, 401),
        lambda server: server.hang_next(1, 5),
    ],
    ids=["429", "500", "400-echoing-the-key", "401", "hang"],
)
def test_no_error_text_contains_the_api_key(sendgrid_server, arrange, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = SendGridGateway(TEST_API_KEY, host=sendgrid_server.host, timeout_seconds=0.5)
    arrange(sendgrid_server)

    error = send_failure(gateway)

    assert TEST_API_KEY not in all_text_of(error)
    assert TEST_API_KEY not in repr(gateway)
    assert TEST_API_KEY not in caplog.text


def test_connection_refused_text_does_not_contain_the_api_key():
    gateway = SendGridGateway(TEST_API_KEY, host=f"http://127.0.0.1:{closed_port()}")

    assert TEST_API_KEY not in all_text_of(send_failure(gateway))


def test_send_errors_survive_pickling(gateway, sendgrid_server):
    """Prefect pickles the exception of a failed task."""
    sendgrid_server.fail_next(1, 429)
    error = send_failure(gateway)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is TransientSendError
    assert (copy.status, copy.reason, copy.retry_after_seconds) == (
        error.status,
        error.reason,
        error.retry_after_seconds,
    )
    assert str(copy) == str(error)


# -- the test server itself ---------------------------------------------------------------------


def test_the_server_rejects_an_invalid_payload_in_sendgrid_shape(sendgrid_server):
    request = urllib.request.Request(
        f"{sendgrid_server.host}/v3/mail/send",
        data=json.dumps({"personalizations": [], "custom_args": {"n": 1}}).encode(),
        headers={"Authorization": f"Bearer {TEST_API_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=2)

    assert caught.value.code == 400
    errors = json.loads(caught.value.read())["errors"]
    fields = {e["field"] for e in errors}
    assert fields >= {"personalizations", "from.email", "subject", "content", "custom_args"}
    assert all(e["help"] is None for e in errors)
    assert sendgrid_server.requests[0].status == 400


# -- outbox -------------------------------------------------------------------------------------


def test_the_outbox_writes_the_message_and_its_html(tmp_path):
    outbox = OutboxGateway(tmp_path / "outbox")

    message_id = outbox.send(reminder_for_dupont())

    assert message_id.startswith("outbox-") and len(message_id) == len("outbox-") + 32
    record = json.loads((tmp_path / "outbox" / f"{message_id}.json").read_text(encoding="utf-8"))
    assert record["message_id"] == message_id
    assert record["to_email"] == "compta@dupont-batiment.fr"
    assert record["subject"] == "Relance : facture F-2025-0042 échue"
    assert record["text"] == reminder_for_dupont().text
    assert record["custom_args"] == {"dunning_message_key": "act-7f3c2a"}
    assert record["categories"] == ["dunning", "reminder_1"]
    html = (tmp_path / "outbox" / f"{message_id}.html").read_text(encoding="utf-8")
    assert html == reminder_for_dupont().html
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == sorted(
        [f"{message_id}.json", f"{message_id}.html"]
    )


def test_the_outbox_gives_each_message_a_fresh_id(tmp_path):
    outbox = OutboxGateway(tmp_path)
    assert outbox.send(reminder_for_dupont()) != outbox.send(reminder_for_dupont())


# -- choice by environment ----------------------------------------------------------------------


def test_no_api_key_means_the_outbox(monkeypatch, tmp_path):
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.setenv("DUNNING_SENDGRID_HOST", "http://127.0.0.1:9")

    gateway = gateway_from_environment(tmp_path / "outbox", timeout_seconds=5)

    assert isinstance(gateway, OutboxGateway) and gateway.name == "outbox"


def test_a_blank_api_key_means_the_outbox(monkeypatch, tmp_path):
    monkeypatch.setenv("SENDGRID_API_KEY", "  ")

    assert gateway_from_environment(tmp_path, timeout_seconds=5).name == "outbox"


def test_an_api_key_means_sendgrid_at_the_configured_host(monkeypatch, tmp_path, sendgrid_server):
    monkeypatch.setenv("SENDGRID_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("DUNNING_SENDGRID_HOST", sendgrid_server.host)

    gateway = gateway_from_environment(tmp_path, timeout_seconds=5)

    assert isinstance(gateway, SendGridGateway) and gateway.name == "sendgrid"
    assert gateway.send(reminder_for_dupont()) == sendgrid_server.accepted[0].message_id
    assert not tmp_path.joinpath("outbox").exists()


def test_an_api_key_without_host_means_the_real_sendgrid(monkeypatch, tmp_path):
    monkeypatch.setenv("SENDGRID_API_KEY", TEST_API_KEY)
    monkeypatch.delenv("DUNNING_SENDGRID_HOST", raising=False)

    gateway = gateway_from_environment(tmp_path, timeout_seconds=5)

    assert isinstance(gateway, SendGridGateway)
    assert "https://api.sendgrid.com" in repr(gateway)


# -- message validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("to_email", "not-an-address"),
        ("from_email", ""),
        ("subject", " "),
        ("html", ""),
        ("text", ""),
        ("custom_args", {"dunning_message_key": 42}),
        ("categories", ("dunning", "")),
    ],
)
def test_a_message_that_could_never_be_sent_is_refused_when_built(field_name, value):
    fields = {**reminder_for_dupont().__dict__, field_name: value}
    with pytest.raises(ValueError, match=field_name):
        OutboundEmail(**fields)


@pytest.mark.parametrize("field_name", ["to_email", "from_email"])
@pytest.mark.parametrize("address", ["compta.dupont-batiment.fr", "Jean Dupont <compta dupont-batiment.fr>"],
                         ids=["no-at-sign", "display-name-without-at-sign"])
def test_a_refused_address_is_not_repeated_in_the_error(field_name, address):
    """The error text ends up in the ledger and the run logs: it names the field, never the address (RGPD)."""
    fields = {**reminder_for_dupont().__dict__, field_name: address}
    with pytest.raises(ValueError) as caught:
        OutboundEmail(**fields)

    assert str(caught.value) == f"{field_name} is not an email address"
    assert "dupont-batiment" not in all_text_of(caught.value)


def test_a_message_keeps_its_own_copy_of_custom_args():
    custom_args = {"dunning_message_key": "act-1"}
    fields = {**reminder_for_dupont().__dict__, "custom_args": custom_args}
    email = OutboundEmail(**fields)
    custom_args["dunning_message_key"] = "act-2"
    assert email.custom_args == {"dunning_message_key": "act-1"}


def test_gateway_settings_are_checked(sendgrid_server):
    with pytest.raises(ValueError):
        SendGridGateway("", host=sendgrid_server.host)
    with pytest.raises(ValueError):
        SendGridGateway(TEST_API_KEY, host="127.0.0.1:8080")
    with pytest.raises(ValueError):
        SendGridGateway(TEST_API_KEY, timeout_seconds=0)


# -- the Email Activity API: did SendGrid process a message nobody heard the answer of? ----------
def test_the_activity_log_lists_a_processed_message_by_its_custom_arg(gateway, sendgrid_server):
    message_id = gateway.send(reminder_for_dupont())             # its custom arg is dunning_message_key
    assert gateway.activity("act-7f3c2a").processed is False     # the query names dunning_action_id only
    email = reminder_for_dupont()
    gateway.send(OutboundEmail(**{**email.__dict__, "custom_args": {"dunning_action_id": "41"}}))
    found = gateway.activity("41")
    assert found.processed is True and found.provider_message_id.split(".")[0] != message_id
    assert found.provider_message_id.split(".")[0] == sendgrid_server.accepted[-1].message_id
    assert gateway.activity("42").processed is False
    assert [(q.value, q.status, q.listed) for q in sendgrid_server.activity_queries] == [
        ("act-7f3c2a", 200, 0), ("41", 200, 1), ("42", 200, 0)]


@pytest.mark.parametrize(("status", "detail"), [
    (403, "not available to this account or key (HTTP 403)"),
    (401, "not available to this account or key (HTTP 401)"),
    (500, "answered HTTP 500"),
])
def test_an_activity_log_that_cannot_be_asked_says_why_and_never_raises(gateway, sendgrid_server, status, detail):
    sendgrid_server.activity_unavailable(status)
    answer = gateway.activity("41")
    assert answer.processed is None and detail in answer.detail and TEST_API_KEY not in answer.detail


def test_a_rate_limited_activity_query_waits_for_the_reset_once(gateway, sendgrid_server):
    sendgrid_server.activity_unavailable(429, count=1)
    started = time.monotonic()
    assert gateway.activity("41").processed is False
    assert time.monotonic() - started <= 2.5
    assert [q.status for q in sendgrid_server.activity_queries] == [429, 200]
    sendgrid_server.activity_unavailable(429, count=2)
    assert "answered HTTP 429" in gateway.activity("41").detail


def test_an_activity_log_that_does_not_answer_is_no_answer(gateway):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nowhere = SendGridGateway(TEST_API_KEY, host=f"http://127.0.0.1:{port}", timeout_seconds=0.5)
    answer = nowhere.activity("41")
    assert answer.processed is None and "did not answer" in answer.detail


def test_the_outbox_keeps_no_activity_log(tmp_path):
    answer = OutboxGateway(tmp_path).activity("41")
    assert answer.processed is None and "outbox" in answer.detail


def test_a_message_without_tracking_turns_opens_and_clicks_off_in_the_request(gateway, sendgrid_server):
    gateway.send(reminder_for_dupont())
    email = reminder_for_dupont()
    gateway.send(OutboundEmail(**{**email.__dict__, "track_engagement": False}))
    followed, untracked = (m.payload for m in sendgrid_server.accepted)
    assert "tracking_settings" not in followed      # the account's own settings apply
    assert untracked["tracking_settings"] == {"click_tracking": {"enable": False, "enable_text": False},
                                              "open_tracking": {"enable": False}}
