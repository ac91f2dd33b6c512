"""The SendGrid Event Webhook: a small HTTP service that records what happened to each email.

SendGrid signs every post (Signed Event Webhook): ECDSA P-256 with SHA-256 over the timestamp
header followed by the raw body. The body is read up to policy.yaml's webhook.max_body_bytes (a
larger one gets 413 and is not read further), its signature is checked on the bytes as received
before anything is parsed; an unsigned or wrongly signed post, or one stamped further from now than
webhook.max_clock_skew_seconds (a replay), gets 403; a signed post that is not a batch of events
gets 400; none of them changes anything.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from typing import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.concurrency import run_in_threadpool

from dunning.config import Policy, WebhookLimits
from dunning.rules.delivery_events import MalformedEvents, parse_events
from dunning.sources.config_files import default_config_dir, load_yaml_model
from dunning.state.delivery import DeliveryStore
from dunning.state.store import check_migrated, state_engine

__all__ = ["PUBLIC_KEY_ENV", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "EVENTS_PATH", "WebhookConfigError",
           "SignatureVerifier", "create_app", "app_from_environment"]

PUBLIC_KEY_ENV = "SENDGRID_WEBHOOK_PUBLIC_KEY"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
EVENTS_PATH = "/sendgrid/events"

logger = logging.getLogger("dunning.delivery.webhook")


class WebhookConfigError(RuntimeError):
    """The service cannot start: no verification key, or one that is not SendGrid's kind."""


class SignatureVerifier:
    """Checks SendGrid's signature with the verification key shown in its Mail Settings."""

    def __init__(self, public_key: str) -> None:
        try:
            key = EventWebhook().convert_public_key_to_ecdsa("".join(public_key.split()))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise WebhookConfigError(f"{PUBLIC_KEY_ENV} is not a public key: paste the verification key SendGrid "
                                     f"shows under Mail Settings > Event Webhook (base64, one line)") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise WebhookConfigError(f"{PUBLIC_KEY_ENV} is not an ECDSA P-256 key, which is what SendGrid signs "
                                     f"its events with")
        self._key = key

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "SignatureVerifier":
        value = environ.get(PUBLIC_KEY_ENV, "").strip()
        if not value:
            raise WebhookConfigError(f"{PUBLIC_KEY_ENV} is not set: enable Signed Event Webhook in SendGrid "
                                     f"(Mail Settings > Event Webhook) and set it to the verification key shown there")
        return cls(value)

    def verify(self, body: bytes, signature: str | None, timestamp: str | None) -> bool:
        """Whether SendGrid signed this timestamp and these exact bytes. The sendgrid helper's own
        verify_signature takes text; verifying the bytes as received leaves nothing to re-encode."""
        if not signature or not timestamp:
            return False
        try:
            self._key.verify(base64.b64decode(signature, validate=True), timestamp.encode("utf-8") + body,
                             ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or _TooLarge as soon as it is known to exceed `limit`: by its Content-Length before
    reading, or (chunked, or a Content-Length that lies) once limit + 1 bytes have come in."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def _clock_skew(timestamp: str | None, now: float) -> float | None:
    """How far the signed timestamp is from now, in seconds; None when it is not unix seconds."""
    try:
        return abs(now - int(timestamp or ""))
    except (ValueError, OverflowError):
        return None


def create_app(store: DeliveryStore, verifier: SignatureVerifier, limits: WebhookLimits = WebhookLimits()) -> FastAPI:
    app = FastAPI(title="dunning: SendGrid delivery events", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(EVENTS_PATH)
    async def receive_events(request: Request) -> JSONResponse:
        sender = request.client.host if request.client else "?"
        try:
            body = await _read_body(request, limits.max_body_bytes)
        except _TooLarge:
            logger.warning("Refused a post to %s from %s: larger than %d bytes.", EVENTS_PATH, sender,
                           limits.max_body_bytes)
            return JSONResponse({"error": f"body larger than {limits.max_body_bytes} bytes"}, status_code=413,
                                headers={"Connection": "close"})
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not verifier.verify(body, request.headers.get(SIGNATURE_HEADER), timestamp):
            logger.warning("Refused a post to %s from %s: missing or invalid SendGrid signature.", EVENTS_PATH, sender)
            return JSONResponse({"error": "missing or invalid SendGrid signature"}, status_code=403)
        # Checked once the signature holds, so only SendGrid learns why: a genuine post sent again later.
        skew = _clock_skew(timestamp, time.time())
        if skew is None or skew > limits.max_clock_skew_seconds:
            logger.warning("Refused a signed post to %s from %s: its timestamp is %s from now, more than the %d s "
                           "allowed (a replay, or a clock to set right).", EVENTS_PATH, sender,
                           "unreadable" if skew is None else f"{skew:.0f} s", limits.max_clock_skew_seconds)
            return JSONResponse({"error": f"signed timestamp more than {limits.max_clock_skew_seconds} s from now"},
                                status_code=403)
        try:
            events = parse_events(body)
        except MalformedEvents as error:
            logger.warning("Refused a signed post: %s.", error)
            return JSONResponse({"error": f"not a batch of SendGrid events: {error}"}, status_code=400)
        try:
            outcome = await run_in_threadpool(store.record_events, events)
        except SQLAlchemyError as error:
            # The error's text carries the SQL parameters (addresses, reasons): its class says enough.
            logger.error("Could not record a batch of %d delivery events: the state database answered %s; "
                         "nothing was recorded and SendGrid will post the batch again.", len(events),
                         type(error).__name__)
            return JSONResponse({"error": "the events could not be recorded now; post them again later"},
                                status_code=503)
        logger.info("Delivery events: %d received, %d new, %d duplicates, %d for unknown messages, %d ledger rows "
                    "updated, %d addresses flagged.", outcome.received, outcome.recorded, outcome.duplicates,
                    outcome.unknown_message, outcome.rows_updated, outcome.addresses_flagged)
        return JSONResponse(outcome.as_dict())

    return app


def app_from_environment() -> FastAPI:
    """The service as `dunning webhook serve` runs it; refuses to start without a usable key, a valid
    policy.yaml (its webhook limits) or a migrated state database."""
    verifier = SignatureVerifier.from_environment()
    limits = load_yaml_model(default_config_dir() / "policy.yaml", Policy).webhook
    check_migrated()
    return create_app(DeliveryStore(state_engine()), verifier, limits)
