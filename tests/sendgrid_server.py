"""A SendGrid-compatible Mail Send endpoint on 127.0.0.1, for tests over real HTTP.

The official client talks urllib to whatever host it is given, so tests point it here instead of
patching anything. The server answers like SendGrid (202 + X-Message-Id, SendGrid-shaped error
bodies) and can be told to misbehave, deterministically and from any thread:

    fail_next(count, status, headers=None, message=None)  the next `count` sends get `status`
                                                          (a 2xx: empty body, no X-Message-Id)
    fail_for(email, status, message=None)                 every send to `email` gets `status`
    hang_next(count, seconds)                              the next `count` sends wait first
    clear_failures()                                       back to normal behaviour

Order of checks for one request: hang, fail_next, Authorization, JSON and payload validation,
fail_for, then 202. A hung request is then handled as usual: like the real provider, it may accept
a message whose answer the client gave up waiting for.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "TEST_API_KEY",
    "MAIL_SEND_PATH",
    "RecordedRequest",
    "AcceptedMessage",
    "SendGridTestServer",
    "sendgrid_server_fixture",
]

TEST_API_KEY = "SG.test-secret-key-do-not-log"
MAIL_SEND_PATH = "/v3/mail/send"

_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "The from address does not match a verified Sender Identity.",
    404: "not found",
    405: "method not allowed",
    413: "The JSON payload you have included in your request is too large.",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, with what the server answered (status None: no answer sent)."""

    method: str
    path: str
    body: Any  # the parsed JSON, or None when the body was not JSON
    authorized: bool
    status: int | None
    message_id: str | None = None


@dataclass(frozen=True)
class AcceptedMessage:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    message_id: str | None = None


class SendGridTestServer:
    """Use as a context manager, or start() / stop()."""

    def __init__(self, api_key: str = TEST_API_KEY, *, max_body_bytes: int = 30 * 1024 * 1024):
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._accepted: list[AcceptedMessage] = []
        self._next_failures: deque[_Failure] = deque()
        self._hangs: deque[float] = deque()
        self._failures_by_email: dict[str, _Failure] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SendGridTestServer:
        if self._httpd is not None:
            raise RuntimeError("the SendGrid test server is already running")
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, owner=self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sendgrid-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes hung handlers at once
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SendGridTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the SendGrid test server is not running")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """What to give SendGridAPIClient(host=...) or DUNNING_SENDGRID_HOST."""
        return f"http://127.0.0.1:{self.port}"

    # -- what happened ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def accepted(self) -> list[AcceptedMessage]:
        with self._lock:
            return list(self._accepted)

    # -- misbehaviour ----------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """The next `count` sends get `status`, queued after earlier fail_next calls.

        A 429 without an explicit X-RateLimit-Reset gets one set to one second after the answer.
        """
        _check_count(count)
        failure = _Failure(status, dict(headers or {}), message)
        with self._lock:
            self._next_failures.extend([failure] * count)

    def fail_for(self, email: str, status: int, message: str | None = None) -> None:
        """Every send addressed to `email` (case-insensitive) gets `status` until cleared."""
        with self._lock:
            self._failures_by_email[email.strip().lower()] = _Failure(status, {}, message)

    def hang_next(self, count: int, seconds: float) -> None:
        """The next `count` sends wait `seconds` before being handled; stop() cuts the wait."""
        _check_count(count)
        with self._lock:
            self._hangs.extend([float(seconds)] * count)

    def clear_failures(self) -> None:
        with self._lock:
            self._next_failures.clear()
            self._hangs.clear()
            self._failures_by_email.clear()

    # -- request handling (called from handler threads) ------------------------------------

    def _take_hang(self) -> float | None:
        with self._lock:
            return self._hangs.popleft() if self._hangs else None

    def _answer(self, method: str, path: str, authorization: str | None, raw: bytes) -> _Answer:
        body = _parse_json(raw)
        authorized = authorization == f"Bearer {self.api_key}"
        with self._lock:
            answer = self._decide(method, path, authorized, body)
            self._requests.append(
                RecordedRequest(method, path, body, authorized, answer.status, answer.message_id)
            )
            if answer.message_id is not None:
                self._accepted.append(AcceptedMessage(answer.message_id, body))
        return answer

    def _record_unanswered(self, method: str, path: str, authorization: str | None, raw: bytes) -> None:
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method, path, _parse_json(raw), authorization == f"Bearer {self.api_key}", None
                )
            )

    def _decide(self, method: str, path: str, authorized: bool, body: Any) -> _Answer:
        """Must be called with the lock held, so a queued failure is consumed exactly once."""
        if path != MAIL_SEND_PATH:
            return _error(404)
        if method != "POST":
            return _error(405)
        if self._next_failures:
            return _error_for(self._next_failures.popleft())
        if not authorized:
            return _error(401)
        if not isinstance(body, dict):
            return _error(400, errors=[_error_item("Bad Request: the body must be a JSON object")])
        problems = _payload_errors(body)
        if problems:
            return _error(400, errors=problems)
        for email in _recipients(body):
            failure = self._failures_by_email.get(email.lower())
            if failure is not None:
                return _error_for(failure)
        message_id = secrets.token_urlsafe(16)
        return _Answer(202, {"X-Message-Id": message_id}, b"", message_id)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, *, owner: SendGridTestServer):
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a client that connects and sends nothing cannot hold a thread for long

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length > owner.max_body_bytes:
            self._write(_error(413))  # without reading the body, as a proxy would
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        authorization = self.headers.get("Authorization")
        hang = owner._take_hang()
        if hang is not None and owner._stopping.wait(hang):
            owner._record_unanswered(method, self.path, authorization, raw)
            self.close_connection = True
            return
        self._write(owner._answer(method, self.path, authorization, raw))

    def _write(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout) before the answer: that is the scenario under test.
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Silent: pytest output is for assertions."""


def _check_count(count: int) -> None:
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def _error_item(message: str, field_name: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field_name, "help": None}


def _error(
    status: int,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> _Answer:
    items = errors or [_error_item(_DEFAULT_MESSAGES.get(status, f"error {status}"))]
    body = json.dumps({"errors": items}).encode("utf-8")
    return _Answer(status, dict(headers or {}), body)


def _error_for(failure: _Failure) -> _Answer:
    headers = dict(failure.headers)
    if 200 <= failure.status < 300:
        # An acceptance the client cannot confirm: no X-Message-Id unless the test gave one.
        return _Answer(failure.status, headers, b"")
    if failure.status == 429 and not any(k.lower() == "x-ratelimit-reset" for k in headers):
        headers["X-RateLimit-Reset"] = str(int(time.time()) + 1)
    if failure.status == 429:
        headers.setdefault("X-RateLimit-Limit", "600")
        headers.setdefault("X-RateLimit-Remaining", "0")
    errors = [_error_item(failure.message)] if failure.message else None
    return _error(failure.status, errors=errors, headers=headers)


def _recipients(payload: dict[str, Any]) -> Iterator[str]:
    for personalization in payload.get("personalizations") or []:
        for kind in ("to", "cc", "bcc"):
            for address in personalization.get(kind) or []:
                if isinstance(address, dict) and isinstance(address.get("email"), str):
                    yield address["email"]


def _is_address(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("email"), str) and "@" in value["email"]


def _payload_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The v3 rules our gateway must respect, in SendGrid's error shape."""
    errors: list[dict[str, Any]] = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            _error_item(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        personalizations = []
    for index, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if not isinstance(to, list) or not to or not all(_is_address(a) for a in to):
            errors.append(
                _error_item(
                    "The to array is required for all personalization objects, and must have at "
                    "least one email object with a valid email address.",
                    f"personalizations.{index}.to",
                )
            )
        elif isinstance(personalization.get("custom_args"), dict):
            errors.extend(
                _custom_args_errors(
                    personalization["custom_args"], f"personalizations.{index}.custom_args"
                )
            )
    if not _is_address(payload.get("from")):
        errors.append(
            _error_item(
                "The from object must be provided for every email send. It is an object that "
                "requires the email parameter, but may also contain a name parameter.",
                "from.email",
            )
        )
    if "reply_to" in payload and not _is_address(payload["reply_to"]):
        errors.append(_error_item("The reply_to email does not contain a valid address.", "reply_to.email"))
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        errors.append(_error_item("The subject is required.", "subject"))
    errors.extend(_content_errors(payload.get("content")))
    custom_args = payload.get("custom_args", {})
    if not isinstance(custom_args, dict):
        errors.append(_error_item("custom_args must be an object.", "custom_args"))
    else:
        errors.extend(_custom_args_errors(custom_args, "custom_args"))
    categories = payload.get("categories", [])
    if not isinstance(categories, list) or len(categories) > 10 or not all(
        isinstance(c, str) and 0 < len(c) <= 255 for c in categories
    ):
        errors.append(
            _error_item("categories must be at most 10 strings of 1 to 255 characters.", "categories")
        )
    return errors


def _content_errors(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not content:
        return [
            _error_item(
                "Unless a valid template_id is provided, the content parameter is required.",
                "content",
            )
        ]
    for index, part in enumerate(content):
        well_formed = (
            isinstance(part, dict)
            and isinstance(part.get("type"), str)
            and isinstance(part.get("value"), str)
            and part["value"] != ""
        )
        if not well_formed:
            return [
                _error_item(
                    "The content value must be a string at least one character in length.",
                    f"content.{index}.value",
                )
            ]
    types = [part["type"] for part in content]
    if "text/plain" not in types or "text/html" not in types:
        return [_error_item("Both text/plain and text/html content are required.", "content")]
    if types[0] != "text/plain":
        return [
            _error_item(
                "If present, text/plain must be first, followed by text/html, followed by any "
                "other content.",
                "content",
            )
        ]
    return []


def _custom_args_errors(custom_args: dict[str, Any], field_name: str) -> list[dict[str, Any]]:
    bad = sorted(key for key, value in custom_args.items() if not isinstance(value, str))
    if bad:
        return [_error_item(f"Custom args must be strings; not: {', '.join(bad)}.", field_name)]
    return []


@pytest.fixture(name="sendgrid_server")
def sendgrid_server_fixture() -> Iterator[SendGridTestServer]:
    """A fresh server per test, expecting TEST_API_KEY; import into conftest.py to share it."""
    with SendGridTestServer() as server:
        yield server
