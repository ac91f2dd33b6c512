"""A SendGrid-compatible Mail Send endpoint and Email Activity query on 127.0.0.1, for tests over real HTTP.

The official client talks urllib to whatever host it is given, so tests point it here instead of
patching anything. The server answers like SendGrid (202 + X-Message-Id, SendGrid-shaped error
bodies) and can be told to misbehave, deterministically and from any thread:

    fail_next(count, status, headers=None, message=None)  the next `count` sends get `status`
                                                          (a 2xx: empty body, no X-Message-Id)
    fail_for(email, status, message=None)                 every send to `email` gets `status`
    hang_next(count, seconds)                              the next `count` sends wait first
    slow_down(seconds)                                     every send waits first (0: no wait)
    inject_faults(FaultProfile(seed=..., ...))             seeded random 5xx / 429 / hangs
    clear_faults()                                         the fault profile off (fail_for stays)
    clear_failures()                                       back to normal behaviour, profile included
    activity_unavailable(status=403)                       the Email Activity API refuses (None: it answers)

The Email Activity API (GET /v3/messages?query=unique_args['NAME']="VALUE"&limit=N) lists the
accepted messages whose custom arg NAME is VALUE, as SendGrid lists processed messages; each
query is logged in `activity_queries`, apart from the sends in `requests`.

Order of checks for one request: slow_down, hang_next, fail_next, the fault profile, Authorization,
JSON and payload validation, fail_for, then 202.

Three kinds of hang, on purpose:
- hang_next: the request waits, then is handled as usual. Like the real provider can, it may
  accept a message whose answer the client gave up waiting for.
- a FaultProfile hang: the request waits `hang_seconds`, then the connection is dropped without
  an answer, and the message is NEVER accepted: the provider did not process it (think of a load
  balancer that timed the request out before it reached Mail Send). That is the only kind of
  timeout a client can safely retry. A provider that accepted a message and then failed to answer
  would need an idempotency key to make the retry harmless, and SendGrid's Mail Send offers none;
  the product's ledger (custom_args.dunning_action_id) is then the only way to find the duplicate.
- a FaultProfile lost answer: the message IS accepted (it is in `accepted` and the activity log),
  then the connection is held past the client's timeout and dropped: the case only the activity
  log or a delivery event can settle without sending twice.

Every request is logged (`requests`) with what was answered: status, outcome, the message's
custom_args.dunning_action_id, the X-Message-Id when accepted, the error text, the response
headers (X-RateLimit-Reset...), which misbehaviour produced it, and when it arrived and was answered.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
import urllib.parse
from collections import Counter, deque
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
    "FaultProfile",
    "ActivityQuery",
    "Fault",
    "SendGridTestServer",
    "sendgrid_server_fixture",
]

TEST_API_KEY = "SG.test-secret-key-do-not-log"
MAIL_SEND_PATH = "/v3/mail/send"
ACTIVITY_PATH = "/v3/messages"

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
    received_at: float = 0.0               # epoch seconds (time.time()), when the body was read
    answered_at: float | None = None       # epoch seconds; None: no answer was sent (a hang)
    error: str | None = None               # the errors[].message texts of an error answer, joined
    headers: Mapping[str, str] = field(default_factory=dict)   # the answer's headers
    injected: str | None = None            # "fail_next" | "fault" | "fail_for" | "hang_next" | None

    @property
    def action_id(self) -> str | None:
        """custom_args.dunning_action_id of the message, if the body carried one."""
        return _action_id(self.body)

    @property
    def outcome(self) -> str:
        """accepted (2xx with an X-Message-Id) | unconfirmed (2xx without) | refused | unanswered |
        lost_answer (accepted, but the client never heard it)."""
        if self.status is None:
            return "lost_answer" if self.message_id else "unanswered"
        if 200 <= self.status < 300:
            return "accepted" if self.message_id else "unconfirmed"
        return "refused"


@dataclass(frozen=True)
class AcceptedMessage:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ActivityQuery:
    """One Email Activity query: the custom arg value asked about, the status answered, how many listed."""

    value: str | None
    status: int
    listed: int = 0


@dataclass(frozen=True)
class _Failure:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int | None            # None: hang for `hang_seconds`, then drop the connection unanswered
    headers: dict[str, str]
    body: bytes
    message_id: str | None = None
    hang_seconds: float = 0.0
    injected: str | None = None


@dataclass(frozen=True)
class Fault:
    """What the fault profile does to one request: status 500/503/429, or None for a hang."""

    kind: str                     # "server_error" | "rate_limited" | "hang" | "lost_answer"
    status: int | None


@dataclass(frozen=True)
class FaultProfile:
    """Seeded random faults, as shares of requests.

    The draw for a request depends only on the seed, the message's dunning_action_id and how many
    requests for that id came before (its attempt number), not on which thread got there first:
    a run with the same ledger ids meets the same faults, and a test can ask `fault(key, attempt)`
    what a given attempt met. Requests without a dunning_action_id are drawn in arrival order.
    """

    seed: int
    server_error: float = 0.0           # answered 500 or 503 (half each)
    rate_limited: float = 0.0           # answered 429 with X-RateLimit-Reset
    hang: float = 0.0                   # no answer for hang_seconds, then the connection drops
    lost_answer: float = 0.0            # accepted, then no answer for hang_seconds and the connection drops
    hang_seconds: float = 2.0           # make it longer than the client's timeout
    rate_limit_reset_seconds: int = 1   # X-RateLimit-Reset = the current epoch second + this

    def __post_init__(self) -> None:
        shares = (self.server_error, self.rate_limited, self.hang, self.lost_answer)
        if any(not 0 <= share <= 1 for share in shares) or sum(shares) > 1:
            raise ValueError(f"fault shares must be in [0, 1] and add up to at most 1, got {shares}")
        if self.hang_seconds < 0 or self.rate_limit_reset_seconds < 0:
            raise ValueError("hang_seconds and rate_limit_reset_seconds must not be negative")

    def fault(self, key: str, attempt: int) -> Fault | None:
        """The fault met by the `attempt`-th request (1-based) for `key`, or None: handled normally."""
        draw = random.Random(f"{self.seed}/{key}/{attempt}")
        u = draw.random()
        if u < self.server_error:
            return Fault("server_error", draw.choice((500, 503)))
        u -= self.server_error
        if u < self.rate_limited:
            return Fault("rate_limited", 429)
        u -= self.rate_limited
        if u < self.hang:
            return Fault("hang", None)
        u -= self.hang
        if u < self.lost_answer:
            return Fault("lost_answer", None)
        return None


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
        self._slow_down = 0.0
        self._faults: FaultProfile | None = None
        self._fault_attempts: Counter[str] = Counter()
        self._anonymous_requests = 0
        self._activity_status: int | None = None
        self._activity_failures: deque[int] = deque()
        self._activity_queries: list[ActivityQuery] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        # Requests being handled: stop() waits for them, so a hang cut short is recorded before it returns.
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

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
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
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

    @property
    def activity_queries(self) -> list[ActivityQuery]:
        with self._lock:
            return list(self._activity_queries)

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

    def slow_down(self, seconds: float) -> None:
        """Every send waits `seconds` before being handled as usual (a slow provider, so that
        concurrent senders overlap); 0 turns it off. Keep it below the client's timeout."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be non-negative, got {seconds!r}")
        with self._lock:
            self._slow_down = float(seconds)

    def inject_faults(self, profile: FaultProfile) -> None:
        """Turn seeded random faults on (replacing any earlier profile); attempts count afresh."""
        if not isinstance(profile, FaultProfile):
            raise TypeError("inject_faults takes a FaultProfile")
        with self._lock:
            self._faults = profile
            self._fault_attempts.clear()
            self._anonymous_requests = 0

    def clear_faults(self) -> None:
        """The fault profile off; fail_next, fail_for and hang_next are left as they are."""
        with self._lock:
            self._faults = None

    def activity_unavailable(self, status: int | None = 403, count: int | None = None) -> None:
        """The Email Activity API answers `status` (403: the account lacks the add-on, or the key the
        scope; a 429 carries X-RateLimit-Reset) to the next `count` queries, or to every query until
        called with None."""
        with self._lock:
            if count is None:
                self._activity_status = status
            else:
                _check_count(count)
                self._activity_failures.extend([status] * count)

    def clear_failures(self) -> None:
        with self._lock:
            self._next_failures.clear()
            self._hangs.clear()
            self._failures_by_email.clear()
            self._faults = None
            self._slow_down = 0.0

    # -- request handling (called from handler threads) ------------------------------------

    def _take_hang(self) -> float | None:
        with self._lock:
            return self._hangs.popleft() if self._hangs else None

    def _answer(self, method: str, path: str, authorization: str | None, raw: bytes,
                received_at: float, hang_next: bool = False) -> _Answer:
        body = _parse_json(raw)
        authorized = authorization == f"Bearer {self.api_key}"
        with self._lock:
            answer = self._decide(method, path, authorized, body)
            injected = "hang_next" if hang_next and answer.injected is None else answer.injected
            self._requests.append(
                RecordedRequest(
                    method, path, body, authorized, answer.status, answer.message_id,
                    received_at=received_at,
                    answered_at=None if answer.status is None else time.time(),
                    error=_provider_error(answer), headers=dict(answer.headers), injected=injected,
                )
            )
            if answer.message_id is not None:
                self._accepted.append(AcceptedMessage(answer.message_id, body))
        return answer

    def _record_unanswered(
        self, method: str, path: str, authorization: str | None, raw: bytes, received_at: float,
        injected: str = "hang_next",
    ) -> None:
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method, path, _parse_json(raw), authorization == f"Bearer {self.api_key}", None,
                    received_at=received_at, injected=injected,
                )
            )

    def _decide(self, method: str, path: str, authorized: bool, body: Any) -> _Answer:
        """Must be called with the lock held, so a queued failure is consumed exactly once."""
        if path != MAIL_SEND_PATH:
            return _error(404)
        if method != "POST":
            return _error(405)
        if self._next_failures:
            return _error_for(self._next_failures.popleft(), injected="fail_next")
        lost_answer = False
        if self._faults is not None:
            fault = self._draw_fault(body)
            lost_answer = fault is not None and fault.kind == "lost_answer"
            if fault is not None and not lost_answer:
                if fault.status is None:
                    # Never processed, never accepted: see the module docstring.
                    return _Answer(None, {}, b"", hang_seconds=self._faults.hang_seconds, injected="fault")
                headers = {}
                if fault.status == 429:
                    reset = int(time.time()) + self._faults.rate_limit_reset_seconds
                    headers["X-RateLimit-Reset"] = str(reset)
                return _error_for(_Failure(fault.status, headers), injected="fault")
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
                return _error_for(failure, injected="fail_for")
        message_id = secrets.token_urlsafe(16)
        if lost_answer:
            # Accepted, then the answer is lost: see the module docstring.
            return _Answer(None, {}, b"", message_id, hang_seconds=self._faults.hang_seconds, injected="fault")
        return _Answer(202, {"X-Message-Id": message_id}, b"", message_id)

    def _activity(self, method: str, query: str, authorization: str | None) -> _Answer:
        """GET /v3/messages: the accepted messages whose custom arg the query names."""
        if method != "GET":
            return _error(405)
        if authorization != f"Bearer {self.api_key}":
            return _error(401)
        params = urllib.parse.parse_qs(query)
        wanted = re.fullmatch(r"unique_args\['([^']+)'\]=\"([^\"]*)\"", (params.get("query") or [""])[0])
        limit = (params.get("limit") or ["10"])[0]
        with self._lock:
            status = self._activity_failures.popleft() if self._activity_failures else self._activity_status
            if status is not None:
                self._activity_queries.append(ActivityQuery(wanted and wanted.group(2), status))
                return _error_for(_Failure(status, {}, "access forbidden" if status == 403 else None))
            if wanted is None or not limit.isdigit() or not 1 <= int(limit) <= 1000:
                self._activity_queries.append(ActivityQuery(None, 400))
                return _error(400, errors=[_error_item("invalid query or limit", "query")])
            name, value = wanted.groups()
            listed = [m for m in self._accepted if (m.payload.get("custom_args") or {}).get(name) == value]
            self._activity_queries.append(ActivityQuery(value, 200, len(listed)))
        messages = [{"from_email": m.payload["from"]["email"], "msg_id": f"{m.message_id}.filter0001.{n}.0",
                     "subject": m.payload.get("subject"), "to_email": next(_recipients(m.payload), None),
                     "status": "processed", "opens_count": 0, "clicks_count": 0,
                     "last_event_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                    for n, m in enumerate(listed[:int(limit)])]
        return _Answer(200, {}, json.dumps({"messages": messages}).encode())

    def _draw_fault(self, body: Any) -> Fault | None:
        assert self._faults is not None
        key = _action_id(body)
        if key is None:
            self._anonymous_requests += 1
            key, attempt = "-", self._anonymous_requests
        else:
            self._fault_attempts[key] += 1
            attempt = self._fault_attempts[key]
        return self._faults.fault(key, attempt)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when a pool of senders connects at once, and a
    # dropped SYN costs the client a one-second retransmission: a fault the test did not ask for.
    request_queue_size = 128

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
        with owner._idle:
            owner._in_flight += 1
        try:
            self._serve(method)
        finally:
            with owner._idle:
                owner._in_flight -= 1
                owner._idle.notify_all()

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        target = urllib.parse.urlsplit(self.path)
        if target.path == ACTIVITY_PATH:
            self._write(owner._activity(method, target.query, self.headers.get("Authorization")))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > owner.max_body_bytes:
            self._write(_error(413))  # without reading the body, as a proxy would
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        received_at = time.time()
        authorization = self.headers.get("Authorization")
        if owner._slow_down and owner._stopping.wait(owner._slow_down):
            owner._record_unanswered(method, self.path, authorization, raw, received_at, "slow_down")
            self.close_connection = True
            return
        hang = owner._take_hang()
        if hang is not None and owner._stopping.wait(hang):
            owner._record_unanswered(method, self.path, authorization, raw, received_at)
            self.close_connection = True
            return
        answer = owner._answer(method, self.path, authorization, raw, received_at, hang is not None)
        if answer.status is None:
            # A fault-profile hang: hold the connection past the client's timeout, then drop it
            # without a word. The message was logged as unanswered and never accepted.
            owner._stopping.wait(answer.hang_seconds)
            self.close_connection = True
            return
        self._write(answer)

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


def _error_for(failure: _Failure, injected: str | None = None) -> _Answer:
    headers = dict(failure.headers)
    if 200 <= failure.status < 300:
        # An acceptance the client cannot confirm: no X-Message-Id unless the test gave one.
        return _Answer(failure.status, headers, b"", injected=injected)
    if failure.status == 429 and not any(k.lower() == "x-ratelimit-reset" for k in headers):
        headers["X-RateLimit-Reset"] = str(int(time.time()) + 1)
    if failure.status == 429:
        headers.setdefault("X-RateLimit-Limit", "600")
        headers.setdefault("X-RateLimit-Remaining", "0")
    errors = [_error_item(failure.message)] if failure.message else None
    answer = _error(failure.status, errors=errors, headers=headers)
    return _Answer(answer.status, answer.headers, answer.body, injected=injected)


def _action_id(body: Any) -> str | None:
    custom_args = body.get("custom_args") if isinstance(body, dict) else None
    value = custom_args.get("dunning_action_id") if isinstance(custom_args, dict) else None
    return value if isinstance(value, str) else None


def _provider_error(answer: _Answer) -> str | None:
    """The errors[].message texts of an error answer, as the gateway reads them."""
    if answer.status is None or answer.status < 400 or not answer.body:
        return None
    document = _parse_json(answer.body)
    items = document.get("errors") if isinstance(document, dict) else None
    messages = [str(i["message"]) for i in items or [] if isinstance(i, dict) and i.get("message")]
    return "; ".join(messages) or None


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
