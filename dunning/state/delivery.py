"""Delivery events in the state database: each message's delivery status, and the addresses to correct.

A posted batch is one transaction. Events are recorded once (the unique sg_event_id decides, also
between two posts racing each other), a message's ledger rows take the newest status only (events
arrive out of order), and every change of a row's status or of an address flag appends its audit
event in the same transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

from sqlalchemy import Connection, bindparam, select, update

from dunning.rules.calendar import utc_now
from dunning.rules.delivery_events import AddressFlag, DeliveryEvent, flag_for, supersedes, unique
from dunning.state.schema import actions, address_flags, delivery_events
from dunning.state.store import StateStore, Trace, _chunks, dialect_insert

__all__ = ["WEBHOOK", "BatchOutcome", "DeliveryStore"]

WEBHOOK = Trace(actor="sendgrid-webhook")


@dataclass(frozen=True)
class BatchOutcome:
    """What one posted batch did: counts only, for the HTTP answer and the log."""

    received: int
    recorded: int              # new events stored
    duplicates: int            # already stored, or repeated within the batch
    unknown_message: int       # new events naming no message of our ledger (stored all the same)
    rows_updated: int          # ledger rows given a newer delivery status
    addresses_flagged: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Row:
    id: int
    debtor_id: str
    status: str | None
    at: object


class DeliveryStore(StateStore):
    """The state store plus what SendGrid's Event Webhook reported."""

    def record_events(self, events: Sequence[DeliveryEvent], trace: Trace = WEBHOOK) -> BatchOutcome:
        batch, repeats = unique(events)
        with self.engine.begin() as conn:
            # The insert comes first: on SQLite it takes the write lock, so what is read next stays true.
            new = self._insert_new(conn, batch)
            fresh = sorted((e for e in batch if e.sg_event_id in new), key=lambda e: (e.occurred_at, e.sg_event_id))
            rows = self._ledger_rows(conn, {e.message_key for e in fresh if e.message_key})
            audit: list[tuple] = []
            changed: dict[int, _Row] = {}
            unknown = flagged = 0
            for event in fresh:
                members = rows.get(event.message_key, [])
                if not members:
                    unknown += 1
                    continue
                status = event.delivery_status
                for row in members if status else ():
                    if not supersedes(status, event.occurred_at, row.status, row.at):
                        continue
                    if status != row.status:
                        audit.append((f"delivery.{status}", "action", str(row.id), event.sentence(),
                                      _details(event, status)))
                    row.status, row.at = status, event.occurred_at
                    changed[row.id] = row
                for debtor_id in sorted({r.debtor_id for r in members}):
                    flag = flag_for(event, debtor_id)
                    if flag is not None and self._flag(conn, flag):
                        flagged += 1
                        audit.append(("address.flagged", "debtor", debtor_id, _flagged_sentence(flag),
                                      {"email": flag.email, "event": flag.event, "reason": flag.reason,
                                       "message_key": flag.message_key, "sg_event_id": event.sg_event_id}))
            if changed:
                conn.execute(update(actions).where(actions.c.id == bindparam("row_id")).values(
                    delivery_status=bindparam("new_status"), delivery_updated_at=bindparam("new_at")),
                    [{"row_id": r.id, "new_status": r.status, "new_at": r.at} for r in changed.values()])
            self._append_audit(conn, trace, audit)
        return BatchOutcome(received=len(events), recorded=len(new), duplicates=repeats + len(batch) - len(new),
                            unknown_message=unknown, rows_updated=len(changed), addresses_flagged=flagged)

    @staticmethod
    def _insert_new(conn: Connection, batch: Sequence[DeliveryEvent]) -> set[str]:
        """Insert what is not stored yet; returns the sg_event_ids this call stored."""
        received_at = utc_now()
        rows = [{"sg_event_id": e.sg_event_id, "message_key": e.message_key, "sg_message_id": e.sg_message_id,
                 "event": e.event, "email": e.email, "detail": e.detail, "occurred_at": e.occurred_at,
                 "received_at": received_at, "payload": e.payload}
                for e in sorted(batch, key=lambda e: e.sg_event_id)]     # one lock order for racing posts
        stored: set[str] = set()
        for chunk in _chunks(rows, 100):
            statement = dialect_insert(conn, delivery_events).values(list(chunk)).on_conflict_do_nothing(
                index_elements=["sg_event_id"]).returning(delivery_events.c.sg_event_id)
            stored.update(conn.execute(statement).scalars())
        return stored

    @staticmethod
    def _ledger_rows(conn: Connection, keys: set[str]) -> dict[str, list[_Row]]:
        rows: dict[str, list[_Row]] = {}
        query = select(actions.c.id, actions.c.message_key, actions.c.debtor_id, actions.c.delivery_status,
                       actions.c.delivery_updated_at).where(
            actions.c.message_key.in_(bindparam("keys", expanding=True))).order_by(actions.c.id).with_for_update()
        for chunk in _chunks(sorted(keys)):
            for r in conn.execute(query, {"keys": list(chunk)}):
                rows.setdefault(r.message_key, []).append(
                    _Row(r.id, r.debtor_id, r.delivery_status, r.delivery_updated_at))
        return rows

    @staticmethod
    def _flag(conn: Connection, flag: AddressFlag) -> bool:
        """Flag the address unless it already is (one active flag per debtor and address)."""
        statement = dialect_insert(conn, address_flags).values(
            debtor_id=flag.debtor_id, email=flag.email, event=flag.event, reason=flag.reason,
            message_key=flag.message_key, flagged_at=flag.flagged_at,
        ).on_conflict_do_nothing(index_elements=["debtor_id", "email"],
                                 index_where=address_flags.c.cleared_at.is_(None)).returning(address_flags.c.id)
        return conn.execute(statement).first() is not None

    # -- the addresses to correct ------------------------------------------------------------
    def active_address_flags(self) -> list[AddressFlag]:
        query = select(address_flags).where(address_flags.c.cleared_at.is_(None)).order_by(
            address_flags.c.debtor_id, address_flags.c.flagged_at)
        with self.engine.connect() as conn:
            return [_flag_of(r) for r in conn.execute(query)]

    def clear_address_flags(self, trace: Trace, debtor_id: str, note: str) -> list[AddressFlag]:
        """An operator says the debtor's address may be emailed again (corrected, or the bounce was a fluke)."""
        if not note or not note.strip():
            raise ValueError("say why: clearing an address flag is recorded with its reason")
        cleared = self._clear(trace, {debtor_id: None}, note.strip())
        if not cleared:
            raise LookupError(f"debtor {debtor_id} has no flagged address")
        return cleared

    def clear_corrected_addresses(self, trace: Trace, emails: Mapping[str, str | None]) -> list[AddressFlag]:
        """Clear the flags whose debtor has another address in the accounting system now (`emails`:
        debtor id -> current email). A debtor with no email left keeps its flag: letters go anyway."""
        return self._clear(trace, emails, "the accounting system now gives another address", corrected_only=True)

    def _clear(self, trace: Trace, emails: Mapping[str, str | None], note: str,
               corrected_only: bool = False) -> list[AddressFlag]:
        cleared: list[AddressFlag] = []
        now = utc_now()
        with self.engine.begin() as conn:
            query = select(address_flags).where(address_flags.c.cleared_at.is_(None),
                                                address_flags.c.debtor_id.in_(bindparam("ids", expanding=True)))
            for chunk in _chunks(sorted(emails)):
                for r in conn.execute(query.order_by(address_flags.c.id), {"ids": list(chunk)}):
                    flag, current = _flag_of(r), emails[r.debtor_id]
                    if corrected_only and not flag.corrected_by(current):
                        continue
                    done = conn.execute(update(address_flags).where(
                        address_flags.c.id == r.id, address_flags.c.cleared_at.is_(None)).values(
                        cleared_at=now, cleared_by=trace.actor, cleared_note=note)).rowcount
                    if done:
                        cleared.append(flag)
            self._append_audit(conn, trace, [(
                "address.cleared", "debtor", f.debtor_id,
                f"Address {f.email} of debtor {f.debtor_id} (flagged after {f.what} on {f.flagged_on}) cleared by "
                f"{trace.actor}: {note}; emails may go to it again.",
                {"email": f.email, "event": f.event, "note": note}) for f in cleared])
        return cleared


def _flag_of(r) -> AddressFlag:
    return AddressFlag(debtor_id=r.debtor_id, email=r.email, event=r.event, reason=r.reason,
                       flagged_at=r.flagged_at, message_key=r.message_key)


def _flagged_sentence(flag: AddressFlag) -> str:
    return (f"Address {flag.email} of debtor {flag.debtor_id} flagged after {flag.what} on {flag.flagged_on} "
            f"({flag.reason}): the next steps go by letter until the address is corrected.")


def _details(event: DeliveryEvent, status: str) -> dict:
    return {"status": status, "event": event.event, "occurred_at": event.occurred_at,
            "sg_event_id": event.sg_event_id, "sg_message_id": event.sg_message_id,
            "message_key": event.message_key, "detail": event.detail}
