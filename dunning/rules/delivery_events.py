"""What SendGrid's Event Webhook tells us about a message, and what it means for the ledger.

Pure: parsing a posted batch into DeliveryEvent values, which event outranks which (they arrive
out of order), the sentence an auditor reads, and the address flags a hard bounce or a drop
raises. The HTTP service is dunning.delivery.webhook; the storage is dunning.state.delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Sequence

from dunning.rules.calendar import PARIS

__all__ = ["MalformedEvents", "DeliveryEvent", "AddressFlag", "LEDGER_EVENTS", "parse_events", "unique",
           "supersedes", "flag_for", "TRACKING_FIELDS", "without_tracking_data"]

# The events that change a message's delivery status; the others (open, click, group_unsubscribe...)
# are stored but leave the ledger alone. The rank breaks ties between events of the same second:
# SendGrid stamps whole seconds, and "processed" then "delivered" often share one.
_RANK = {"processed": 1, "deferred": 2, "delivered": 3, "blocked": 4, "bounce": 5, "dropped": 5,
         "spamreport": 6, "unsubscribe": 6}
LEDGER_EVENTS = frozenset({"processed", "delivered", "deferred", "bounce", "dropped", "spamreport", "unsubscribe"})
SOFT_BOUNCE = "blocked"    # bounce type for a temporary refusal; "bounce" is the hard one
MAX_DEPTH = 16             # an event is an object of scalars and short lists (category); 16 is generous


class MalformedEvents(ValueError):
    """A signed body that is not a batch of SendGrid events: refused whole, nothing recorded."""


@dataclass(frozen=True)
class DeliveryEvent:
    """One event of a posted batch, as SendGrid sent it (payload) and as we read it."""

    sg_event_id: str
    event: str
    occurred_at: datetime                 # UTC, from the event's unix timestamp
    message_key: str | None               # our custom arg dunning_action_id: the ledger rows of one message
    sg_message_id: str | None
    email: str | None
    reason: str | None
    bounce_type: str | None               # bounce: "bounce" (hard) or "blocked" (soft)
    bounce_classification: str | None
    payload: dict[str, Any]

    @property
    def is_hard_bounce(self) -> bool:
        return self.event == "bounce" and self.bounce_type != SOFT_BOUNCE

    @property
    def flags_address(self) -> bool:
        """A hard bounce or a drop: that address will not take our mail, so letters go instead."""
        return self.is_hard_bounce or self.event == "dropped"

    @property
    def delivery_status(self) -> str | None:
        """What the ledger records for the message, or None when the event does not concern it."""
        if self.event not in LEDGER_EVENTS:
            return None
        return SOFT_BOUNCE if self.event == "bounce" and not self.is_hard_bounce else self.event

    @property
    def detail(self) -> str | None:
        """Reason, bounce type and classification, for the events table."""
        parts = [self.reason, self.bounce_type and f"type {self.bounce_type}",
                 self.bounce_classification and f"classification {self.bounce_classification}"]
        return "; ".join(p for p in parts if p) or None

    def sentence(self) -> str:
        """What happened to the message, for the audit trail of each of its ledger rows."""
        at = f"{self.occurred_at:%Y-%m-%d %H:%M:%S} UTC"
        to = self.email or "the debtor's address"
        why = f": {self.reason}" if self.reason else ""
        return {
            "processed": f"Accepted by SendGrid for delivery to {to} at {at}.",
            "delivered": f"Delivered to {to} at {at}.",
            "deferred": f"Delivery to {to} deferred at {at}{why}.",
            "blocked": f"Soft bounce (blocked) from {to} at {at}{why}.",
            "bounce": f"Hard bounce: {self.reason or 'no reason given'} ({to}, {at}).",
            "dropped": f"Dropped by SendGrid, not sent to {to}: {self.reason or 'no reason given'} ({at}).",
            "spamreport": f"{to} reported the message as spam at {at}.",
            "unsubscribe": f"{to} unsubscribed at {at}.",
        }[self.delivery_status]


def supersedes(status: str, at: datetime, current: str | None, current_at: datetime | None) -> bool:
    """Whether a status observed `at` replaces the one the ledger holds: never an older event, and in
    the same second only one at least as far along (delivered is not undone by its own processed)."""
    if current is None or current_at is None:
        return True
    if at != current_at:
        return at > current_at
    return _RANK.get(status, 0) >= _RANK.get(current, 0)


@dataclass(frozen=True)
class AddressFlag:
    """A debtor address that hard-bounced or was dropped: its next steps go by letter until the
    accounting system gives another address or an operator clears the flag."""

    debtor_id: str
    email: str                            # lower case
    event: str                            # bounce | dropped
    reason: str
    flagged_at: datetime                  # when the bounce or the drop happened (UTC)
    message_key: str | None = None

    @property
    def flagged_on(self) -> date:
        return self.flagged_at.astimezone(PARIS).date()

    @property
    def what(self) -> str:
        return "a hard bounce" if self.event == "bounce" else "a dropped message"

    def matches(self, email: str | None) -> bool:
        """Whether `email` (as the accounting system has it now) is the flagged address."""
        return email is not None and email.strip().lower() == self.email

    def corrected_by(self, email: str | None) -> bool:
        """Whether the accounting system now gives another address. None is no correction: a debtor
        without email gets letters anyway, and the bad address must not come back unnoticed."""
        return email is not None and not self.matches(email)


def flag_for(event: DeliveryEvent, debtor_id: str) -> AddressFlag | None:
    if not event.flags_address or not event.email:
        return None
    return AddressFlag(debtor_id=debtor_id, email=event.email.strip().lower(), event=event.event,
                       reason=event.reason or event.event, flagged_at=event.occurred_at,
                       message_key=event.message_key)


def parse_events(body: bytes) -> list[DeliveryEvent]:
    """The events of one posted body (a JSON array), in order; MalformedEvents names what is wrong.
    Messages name the event and the key, never the value: a value may be someone's address."""
    try:
        batch = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvents(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise MalformedEvents("the body is nested too deep to read") from None
    if not isinstance(batch, list):
        raise MalformedEvents(f"the body is a JSON {type(batch).__name__}, not an array of events")
    for index, item in enumerate(batch):
        _storable(item, f"event {index}")
    return [_event(item, index) for index, item in enumerate(batch)]


def _storable(item: Any, where: str) -> None:
    """Refuse what the state database cannot keep as sent, rather than fail storing it: NUL (PostgreSQL
    text and jsonb refuse it), a lone surrogate (neither database can encode it) and nesting deeper than
    any of SendGrid's. Walked without recursion, so a deep payload cannot raise what it is refused for."""
    pending: list[tuple[Any, int]] = [(item, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise MalformedEvents(f"{where} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str) and not _storable_text(value):
            raise MalformedEvents(f"{where}: a value contains a NUL character or a lone surrogate")
        if isinstance(value, dict):
            if not all(_storable_text(key) for key in value):
                raise MalformedEvents(f"{where}: a key contains a NUL character or a lone surrogate")
            pending.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            pending.extend((v, depth + 1) for v in value)


def _event(item: Any, index: int) -> DeliveryEvent:
    where = f"event {index}"
    if not isinstance(item, dict):
        raise MalformedEvents(f"{where} is a JSON {type(item).__name__}, not an object")
    event = _text(item, "event", where, required=True, longest=24)
    timestamp = item.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise MalformedEvents(f"{where}: timestamp must be unix seconds, got {_kind(timestamp)}")
    try:
        occurred_at = datetime.fromtimestamp(timestamp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvents(f"{where}: timestamp is not a date") from None
    key = item.get("dunning_action_id")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    elif key is not None and not isinstance(key, str):
        raise MalformedEvents(f"{where}: dunning_action_id must be text, got {_kind(key)}")
    if key is not None and len(key) > 64:
        raise MalformedEvents(f"{where}: dunning_action_id is longer than any of ours")
    return DeliveryEvent(
        sg_event_id=_text(item, "sg_event_id", where, required=True, longest=128), event=event,
        occurred_at=occurred_at, message_key=key or None, sg_message_id=_text(item, "sg_message_id", where, longest=255),
        email=_text(item, "email", where, longest=320), reason=_text(item, "reason", where),
        bounce_type=_text(item, "type", where), bounce_classification=_text(item, "bounce_classification", where),
        payload=without_tracking_data(item))


# What SendGrid reports of the reader's device on open and click events: personal data the product
# has no use for (RGPD art. 5(1)(c), data minimisation), so it is never stored.
TRACKING_FIELDS = ("ip", "useragent")


def without_tracking_data(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in TRACKING_FIELDS}


def _text(item: dict, key: str, where: str, required: bool = False, longest: int | None = None) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise MalformedEvents(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str):
        raise MalformedEvents(f"{where}: {key} must be text, got {_kind(value)}")
    if longest is not None and len(value) > longest:
        raise MalformedEvents(f"{where}: {key} is longer than {longest} characters")
    return value


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")           # a lone surrogate (JSON "\\ud800") is valid JSON but not text
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: Any) -> str:
    return "null" if value is None else f"a JSON {type(value).__name__}"


def unique(events: Sequence[DeliveryEvent]) -> tuple[list[DeliveryEvent], int]:
    """The first of each sg_event_id (SendGrid may repeat one, even within a batch), and how many repeats."""
    seen: dict[str, DeliveryEvent] = {}
    for e in events:
        seen.setdefault(e.sg_event_id, e)
    return list(seen.values()), len(events) - len(seen)
