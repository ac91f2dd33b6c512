"""Email gateway: hand one rendered message to SendGrid, or to a local outbox when no key is set.

The gateway knows nothing of invoices or steps. It classifies every failure as transient (worth
retrying: 429, 5xx, timeouts, network) or permanent (any other refusal), so the calling task can
retry the first kind alone. SendGrid has no idempotency key: the caller's ledger row, whose id
travels in custom_args, is what keeps a retry from sending twice.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import time
import urllib.error
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import sendgrid
from python_http_client.exceptions import HTTPError as ProviderHTTPError
from sendgrid.helpers.mail import (
    Category,
    ClickTracking,
    CustomArg,
    From,
    HtmlContent,
    Mail,
    OpenTracking,
    PlainTextContent,
    ReplyTo,
    To,
    TrackingSettings,
)
from sendgrid.helpers.mail.exceptions import SendGridException

from dunning.rules.recovery import ProviderActivity

__all__ = [
    "ACTION_ID_ARG",
    "OutboundEmail",
    "SendError",
    "TransientSendError",
    "PermanentSendError",
    "UnansweredSendError",
    "UnconfirmedSendError",
    "EmailGateway",
    "SendGridGateway",
    "OutboxGateway",
    "gateway_from_environment",
    "sendgrid_host_from_environment",
    "GatewayConfigError",
    "DEFAULT_SENDGRID_HOST",
    "SENDGRID_HOST_ENV",
]

DEFAULT_SENDGRID_HOST = "https://api.sendgrid.com"
SENDGRID_HOST_ENV = "DUNNING_SENDGRID_HOST"
_REASON_MAX_CHARS = 300
# The custom arg every message carries: the ledger's message key. The Email Activity API calls
# custom args "unique_args" in its query language.
ACTION_ID_ARG = "dunning_action_id"
# A rate-limited activity query waits this long at most for the reset, once.
ACTIVITY_RATE_LIMIT_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class OutboundEmail:
    """One rendered message, ready to send. custom_args carry opaque ids only (RGPD)."""

    to_email: str
    to_name: str
    from_email: str
    from_name: str
    reply_to: str | None
    subject: str
    html: str
    text: str
    custom_args: Mapping[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    # False: open and click tracking explicitly off in the request (RGPD: a consumer's reading habits
    # and IP address are not collected); True: the SendGrid account's own tracking settings apply.
    track_engagement: bool = True

    def __post_init__(self) -> None:
        for name in ("to_email", "from_email"):
            value = getattr(self, name)
            if not isinstance(value, str) or "@" not in value:
                # Never the value itself: this text reaches the ledger and the logs (RGPD).
                raise ValueError(f"{name} is not an email address")
        # SendGrid refuses an empty subject or an empty content value; fail before the ledger
        # records an attempt that could never succeed.
        for name in ("subject", "html", "text"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.custom_args.items()):
            raise ValueError("custom_args keys and values must all be strings")
        if not all(isinstance(c, str) and c for c in self.categories):
            raise ValueError("categories must be non-empty strings")
        # Own copies, so a caller mutating its dict cannot change a message already handed over.
        object.__setattr__(self, "custom_args", dict(self.custom_args))
        object.__setattr__(self, "categories", tuple(self.categories))


class SendError(Exception):
    """The message was not handed over. `reason` is short and never contains a secret."""

    transient: bool = False

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(f"HTTP {status}: {reason}" if status is not None else reason)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only arguments do not survive Exception's default pickling, and Prefect
        # pickles the exceptions of failed tasks: rebuild from the reason, then restore the rest.
        return (self.__class__, (self.reason,), {**self.__dict__, "args": self.args})


class TransientSendError(SendError):
    """Worth retrying later: 429, 5xx, timeout, network failure."""

    transient = True

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(reason, status=status)
        self.retry_after_seconds = retry_after_seconds


class PermanentSendError(SendError):
    """Retrying the same message cannot succeed: 400, 401, 403, 413 and any other 4xx."""


class UnconfirmedSendError(PermanentSendError):
    """The provider answered 2xx without an X-Message-Id.

    It may well have accepted the message, so this is deliberately not transient: a blind retry
    could send it twice. An operator checks the provider's activity feed (custom_args carry the
    ledger id) before retrying by hand.
    """


class UnansweredSendError(SendError):
    """The request reached the provider, which did not answer in time (or dropped the connection).

    It may have been accepted, and SendGrid has no idempotency key: retrying at once could send it
    twice. Not retried by the task; the ledger row stays 'sending' until a delivery event settles
    it, or, for an amicable step, the next run resends it after the configured delay.
    """


class EmailGateway(Protocol):
    name: str

    def send(self, email: OutboundEmail) -> str:
        """Hand the message over and return the provider's message id, or raise SendError."""
        ...

    def activity(self, message_key: str) -> ProviderActivity:
        """Whether the provider processed the message whose dunning_action_id is `message_key`.
        Never raises: an answer it cannot get is ProviderActivity(None, detail=why)."""
        ...


class _DropHttpDumps(logging.Filter):
    """python_http_client logs at DEBUG the request headers (Authorization: Bearer <key>), the
    payload (names, addresses, amounts) and the raw response body (whatever the provider echoes).
    None of it belongs in run logs; SendError carries the status and the provider's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not (message.startswith(("HEADERS:", "PAYLOAD:")) or " Response: " in message)


_drop_http_dumps = _DropHttpDumps()


class SendGridGateway:
    """Sends through SendGrid's v3 Mail Send API with the official client."""

    name = "sendgrid"

    def __init__(
        self, api_key: str, *, host: str | None = None, timeout_seconds: float = 15.0
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("a SendGrid API key is required")
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
        self._host = (host or DEFAULT_SENDGRID_HOST).rstrip("/")
        if not self._host.startswith(("https://", "http://")):
            raise ValueError(f"the SendGrid host must be an http(s) URL, got {self._host!r}")
        self._api_key = api_key.strip()
        self._timeout_seconds = float(timeout_seconds)
        self._api = sendgrid.SendGridAPIClient(self._api_key, host=self._host)
        # Each call chain (client.mail.send.post) builds fresh Client objects that copy their
        # parent's timeout, so the root client's timeout reaches the request that goes out.
        self._api.client.timeout = self._timeout_seconds
        logging.getLogger("python_http_client.client").addFilter(_drop_http_dumps)

    def __repr__(self) -> str:
        return f"SendGridGateway(host={self._host!r}, timeout_seconds={self._timeout_seconds})"

    def send(self, email: OutboundEmail) -> str:
        payload = self._payload(email)
        try:
            # Passing the timeout on the call as well keeps it applied even if the client
            # library stops propagating its attribute.
            response = self._api.client.mail.send.post(
                request_body=payload, timeout=self._timeout_seconds
            )
        except ProviderHTTPError as err:
            raise self._refusal(err) from None
        except urllib.error.URLError as err:
            # urllib wraps what fails while connecting or sending the request: it never arrived.
            raise self._network_failure(err) from None
        except (TimeoutError, http.client.HTTPException, OSError) as err:
            # Raised while waiting for the answer: the request had arrived, it may have been accepted.
            raise UnansweredSendError(self._scrub(
                f"no answer from {self._host} within {self._timeout_seconds:g} s" if isinstance(err, TimeoutError)
                else f"{self._host} closed the connection without answering ({type(err).__name__})")
                + "; it may have been accepted, so it is not resent blindly") from None
        message_id = (response.headers.get("X-Message-Id") or "").strip()
        if not message_id:
            raise UnconfirmedSendError(
                "accepted without X-Message-Id; not retried automatically, it may have been sent",
                status=response.status_code,
            )
        return message_id

    def activity(self, message_key: str) -> ProviderActivity:
        """Ask SendGrid's Email Activity API (GET /v3/messages, a paid add-on of the account) for the
        message carrying our custom arg: any message it lists was processed, whatever became of it.
        https://www.twilio.com/docs/sendgrid/api-reference/email-activity/filter-all-messages"""
        query = f"unique_args['{ACTION_ID_ARG}']=\"{message_key}\""
        for attempt in (1, 2):
            try:
                response = self._api.client.messages.get(query_params={"query": query, "limit": 10},
                                                         timeout=self._timeout_seconds)
                break
            except ProviderHTTPError as err:
                status = int(err.status_code)
                wait = _seconds_until_reset(err.headers) if status == 429 else None
                if wait is not None and wait <= ACTIVITY_RATE_LIMIT_WAIT_SECONDS and attempt == 1:
                    time.sleep(wait)   # its rate limit is low: wait for the reset once, then give up
                    continue
                if status in (401, 403):
                    return ProviderActivity(None, detail="SendGrid's Email Activity API is not available to this "
                                                         f"account or key (HTTP {status})")
                return ProviderActivity(None, detail=f"SendGrid's Email Activity API answered HTTP {status}")
            except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as err:
                return ProviderActivity(None, detail="SendGrid's Email Activity API did not answer "
                                                     f"({type(err).__name__})")
        try:
            listed = json.loads(response.body.decode("utf-8")).get("messages")
            ids = [str(m["msg_id"]) for m in listed if isinstance(m, dict) and m.get("msg_id")]
        except (AttributeError, TypeError, KeyError, UnicodeDecodeError, ValueError):
            return ProviderActivity(None, detail="SendGrid's Email Activity API gave an answer that is not a list "
                                                 "of messages")
        return ProviderActivity(bool(ids), ids[0] if ids else None)

    def _payload(self, email: OutboundEmail) -> dict:
        try:
            mail = Mail(
                from_email=From(email.from_email, email.from_name or None),
                to_emails=To(email.to_email, email.to_name or None),
                subject=email.subject,
                plain_text_content=PlainTextContent(email.text),
                html_content=HtmlContent(email.html),
            )
            if email.reply_to:
                mail.reply_to = ReplyTo(email.reply_to)
            for key, value in email.custom_args.items():
                mail.add_custom_arg(CustomArg(key, value))
            # add_category inserts at the front; feeding it reversed keeps the caller's order.
            for category in reversed(email.categories):
                mail.add_category(Category(category))
            if not email.track_engagement:
                mail.tracking_settings = TrackingSettings(click_tracking=ClickTracking(False, False),
                                                          open_tracking=OpenTracking(False))
            return mail.get()
        except SendGridException as err:
            # Raised when content looks like it embeds an API key: never send that.
            raise PermanentSendError(f"message refused before sending: {_short(str(err))}") from None

    def _refusal(self, err: ProviderHTTPError) -> SendError:
        status = int(err.status_code)
        reason = self._scrub(_provider_message(err.body) or str(err.reason or "no reason given"))
        if status == 429:
            return TransientSendError(
                reason, status=status, retry_after_seconds=_seconds_until_reset(err.headers)
            )
        if status >= 500:
            return TransientSendError(reason, status=status)
        return PermanentSendError(reason, status=status)

    def _network_failure(self, err: urllib.error.URLError) -> SendError:
        cause = err.reason
        if isinstance(cause, TimeoutError):
            return TransientSendError(f"could not reach {self._host} within {self._timeout_seconds:g} s")
        if not isinstance(cause, OSError):
            # e.g. "unknown url type": a configuration mistake that no retry will fix.
            return PermanentSendError(self._scrub(f"cannot call {self._host}: {cause}"))
        detail = f"{type(cause).__name__}: {cause}"
        return TransientSendError(self._scrub(f"cannot reach {self._host}: {detail}"))

    def _scrub(self, text: str) -> str:
        return _short(text.replace(self._api_key, "[redacted]"))


class OutboxGateway:
    """Writes each message to a folder instead of sending it (no SENDGRID_API_KEY set).

    One `<id>.json` with every field, and the `<id>.html` beside it for a quick look in a browser.
    Write failures (disk full, permissions) raise OSError: nothing was sent, and nothing pretends.
    """

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"OutboxGateway(folder={str(self.folder)!r})"

    def send(self, email: OutboundEmail) -> str:
        message_id = f"outbox-{uuid.uuid4().hex}"
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "message_id": message_id,
            "written_at": datetime.now(timezone.utc).isoformat(),
            **asdict(email),
        }
        record["custom_args"] = dict(email.custom_args)
        record["categories"] = list(email.categories)
        _write_atomically(self.folder / f"{message_id}.html", email.html)
        # The JSON goes last: its presence means the message is complete.
        _write_atomically(
            self.folder / f"{message_id}.json", json.dumps(record, ensure_ascii=False, indent=2)
        )
        return message_id

    def activity(self, message_key: str) -> ProviderActivity:
        """The outbox keeps no activity log; a message it was writing when its run died is written again
        (no one receives the outbox, so nothing can arrive twice)."""
        return ProviderActivity(None, detail="the outbox keeps no activity log")


class GatewayConfigError(ValueError):
    """The environment names a SendGrid host the product cannot talk to."""


def sendgrid_host_from_environment() -> str | None:
    """DUNNING_SENDGRID_HOST when set, checked to be http(s)://host[:port]; checked even when no key is
    set, so a mistake shows the night it is made rather than the night the key arrives."""
    value = os.environ.get(SENDGRID_HOST_ENV, "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or "@" in parts.netloc
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        # A value with user:password@ in it is not quoted: it may hold credentials pasted by mistake.
        shown = repr(value) if "@" not in value else "a value with credentials in it (not shown)"
        raise GatewayConfigError(f"{SENDGRID_HOST_ENV} must be http(s)://host[:port] (e.g. {DEFAULT_SENDGRID_HOST}), "
                                 f"got {shown}: fix it or unset it")
    return value


def gateway_from_environment(outbox_folder: Path, timeout_seconds: float, api_key: str | None = None) -> EmailGateway:
    """SendGrid when a key is given or SENDGRID_API_KEY is set (DUNNING_SENDGRID_HOST overrides the
    host), else the outbox: the product never pretends to send."""
    host = sendgrid_host_from_environment()
    api_key = (api_key or os.environ.get("SENDGRID_API_KEY", "")).strip()
    if not api_key:
        return OutboxGateway(outbox_folder)
    return SendGridGateway(api_key, host=host, timeout_seconds=timeout_seconds)


def _provider_message(body: bytes | None) -> str | None:
    """The `errors[].message` texts of a SendGrid error body, joined; None if there are none."""
    if not body:
        return None
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return None
    messages = [
        str(item["message"])
        for item in errors
        if isinstance(item, dict) and item.get("message")
    ]
    return "; ".join(messages) or None


def _seconds_until_reset(headers: object) -> float | None:
    """X-RateLimit-Reset is an epoch second; None when absent or unreadable."""
    raw = headers.get("X-RateLimit-Reset") if hasattr(headers, "get") else None
    try:
        reset_at = float(raw) if raw is not None else None
    except ValueError:
        return None
    if reset_at is None or not math.isfinite(reset_at):
        return None
    return max(0.0, reset_at - time.time())


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 1] + "…"


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
