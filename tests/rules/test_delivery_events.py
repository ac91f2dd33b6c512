"""Reading SendGrid's delivery events (dunning.rules.delivery_events): parsing, precedence, address flags."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dunning.rules.delivery_events import MalformedEvents, flag_for, parse_events, supersedes, unique

T = datetime(2026, 3, 18, 9, 0, tzinfo=timezone.utc)


def body(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


def sg(event: str, **fields) -> dict:
    """One event as SendGrid posts it, with our custom arg at the top level."""
    return {"email": "compta@dupont.example.fr", "timestamp": int(T.timestamp()), "event": event,
            "sg_event_id": f"ev-{event}", "sg_message_id": "msg-1.filter0001", "dunning_action_id": "17", **fields}


def test_a_hard_bounce_is_read_with_its_reason_type_and_our_message_key():
    [event] = parse_events(body(sg("bounce", type="bounce", reason="550 5.1.1 user unknown",
                                   bounce_classification="Invalid Address", category=["relance"])))

    assert (event.event, event.message_key, event.occurred_at, event.email) == (
        "bounce", "17", T, "compta@dupont.example.fr")
    assert event.is_hard_bounce and event.flags_address and event.delivery_status == "bounce"
    assert event.detail == "550 5.1.1 user unknown; type bounce; classification Invalid Address"
    assert event.sentence().startswith("Hard bounce: 550 5.1.1 user unknown")
    assert event.payload["category"] == ["relance"]       # kept as SendGrid sent it


@pytest.mark.parametrize(("fields", "status", "flags"), [
    ({"event": "bounce", "type": "blocked"}, "blocked", False),     # soft bounce: the address may be fine
    ({"event": "bounce", "type": "bounce"}, "bounce", True),
    ({"event": "bounce"}, "bounce", True),                          # no type: SendGrid's default is a bounce
    ({"event": "dropped", "reason": "Bounced Address"}, "dropped", True),
    ({"event": "delivered"}, "delivered", False),
    ({"event": "deferred"}, "deferred", False),
    ({"event": "spamreport"}, "spamreport", False),
    ({"event": "unsubscribe"}, "unsubscribe", False),
    ({"event": "open"}, None, False),                               # stored, the ledger is left alone
    ({"event": "click"}, None, False),
], ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())))
def test_what_each_event_means_for_the_ledger_and_the_address(fields, status, flags):
    [event] = parse_events(body(sg(**fields)))

    assert event.delivery_status == status
    assert event.flags_address is flags
    assert (flag_for(event, "DUPONT") is not None) is flags


@pytest.mark.parametrize(("raw", "says"), [
    (b"not json", "not JSON"),
    (b'{"event": "delivered"}', "a JSON dict, not an array"),
    (b"[\xff]", "not JSON"),                                     # not UTF-8
    (body("delivered"), "event 0 is a JSON str"),
    (body({**sg("delivered"), "sg_event_id": None}), "event 0: sg_event_id is missing"),
    (body(sg("delivered"), {k: v for k, v in sg("open").items() if k != "event"}), "event 1: event is missing"),
    (body({**sg("delivered"), "timestamp": "1773824400"}), "event 0: timestamp must be unix seconds"),
    (body({**sg("delivered"), "timestamp": True}), "timestamp must be unix seconds"),
    (body({**sg("delivered"), "timestamp": 10 ** 20}), "is not a date"),
    (body({**sg("delivered"), "dunning_action_id": ["17"]}), "dunning_action_id must be text"),
    (body({**sg("delivered"), "email": 42}), "email must be text"),
    (body({**sg("delivered"), "event": "x" * 25}), "event is longer than 24 characters"),      # the schema's widths
    (body({**sg("delivered"), "sg_event_id": "e" * 129}), "sg_event_id is longer than 128 characters"),
    (body({**sg("delivered"), "dunning_action_id": "9" * 65}), "dunning_action_id is longer than any of ours"),
    (body({**sg("delivered"), "timestamp": 10 ** 400}), "event 0: timestamp is not a date"),   # too big for a float
    (body({**sg("delivered"), "reason": "550\x00 user unknown"}), "event 0: a value contains a NUL character"),
    (body({**sg("delivered"), "category": [{"a\x00": 1}]}), "event 0: a key contains a NUL character"),
    (body(sg("delivered"), {**sg("open"), "reason": "\ud800"}), "event 1: a value contains .* a lone surrogate"),
    (body({**sg("delivered"), "extra": json.loads("[" * 16 + "]" * 16)}), "event 0 is nested deeper than 16 levels"),
    (b"[" * 100_000 + b"]" * 100_000, "the body is nested too deep to read"),      # beyond the recursion limit
])
def test_a_malformed_batch_is_refused_whole_with_what_is_wrong(raw, says):
    with pytest.raises(MalformedEvents, match=says.replace("(", r"\(")) as refused:
        parse_events(raw)
    assert "@" not in str(refused.value)                  # the values, someone's address among them, are not quoted


def test_an_event_nested_as_deep_as_allowed_is_read():
    [event] = parse_events(body({**sg("delivered"), "extra": json.loads("[" * 15 + "]" * 15)}))
    assert event.payload["extra"] == json.loads("[" * 15 + "]" * 15)


def test_a_numeric_message_key_is_read_as_text_and_a_missing_one_as_none():
    numeric, missing = parse_events(body({**sg("delivered"), "dunning_action_id": 17},
                                         {k: v for k, v in sg("open").items() if k != "dunning_action_id"}))
    assert (numeric.message_key, missing.message_key) == ("17", None)


def test_repeats_of_an_event_within_a_batch_count_once():
    first, again, other = parse_events(body(sg("delivered"), sg("delivered"), sg("open")))
    assert unique([first, again, other]) == ([first, other], 1)


LATER = T + timedelta(seconds=5)


@pytest.mark.parametrize(("status", "at", "current", "current_at", "replaces"), [
    ("delivered", T, None, None, True),                      # nothing known yet
    ("delivered", LATER, "processed", T, True),              # newer
    ("processed", T, "delivered", LATER, False),             # older, arrived late
    ("deferred", T, "bounce", LATER, False),
    ("bounce", LATER, "deferred", T, True),
    ("processed", T, "delivered", T, False),                 # same second: processed does not undo delivered
    ("delivered", T, "processed", T, True),
    ("deferred", T, "deferred", T, True),                    # the same status again keeps it
    ("spamreport", T, "delivered", T, True),
])
def test_a_status_replaces_the_ledger_s_only_when_it_is_not_older(status, at, current, current_at, replaces):
    assert supersedes(status, at, current, current_at) is replaces


def test_a_flag_keeps_the_address_in_lower_case_and_matches_it_whatever_its_case():
    [event] = parse_events(body(sg("dropped", email="Compta@Dupont.Example.FR", reason="Bounced Address")))
    flag = flag_for(event, "DUPONT")

    assert (flag.debtor_id, flag.email, flag.event, flag.reason) == (
        "DUPONT", "compta@dupont.example.fr", "dropped", "Bounced Address")
    assert flag.matches(" COMPTA@dupont.example.fr ") and not flag.matches("paiements@dupont.example.fr")
    assert flag.corrected_by("paiements@dupont.example.fr")
    assert not flag.corrected_by("compta@dupont.example.fr") and not flag.corrected_by(None)
