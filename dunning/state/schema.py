"""Tables of the state database (SQLAlchemy Core). Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
)

from .types import Money, UTCDateTime

__all__ = ["metadata", "runs", "actions", "decisions", "debtor_segments", "aging_lines", "quarantine", "audit_events",
           "holds", "legal_cases", "legal_case_invoices", "legal_case_events"]

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("flow_run_id", String(64)),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),          # running | completed | failed
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("counts", JSON),
    Column("message", Text),
    Column("summary", Text),              # the run summary as printed, for `dunning run` and auditors
)

# The actions ledger: one row per invoice and step, ever (rule 7). Its id is all SendGrid sees.
actions = Table(
    "actions", metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", String(64), nullable=False),
    Column("invoice_number", String(64), nullable=False),
    Column("debtor_id", String(64), nullable=False),
    Column("step", String(24), nullable=False),
    Column("channel", String(24), nullable=False),
    Column("status", String(24), nullable=False),
    Column("reason", Text, nullable=False),
    Column("template", String(128)),
    Column("language", String(2)),
    Column("amount", Money),
    Column("currency", String(3)),
    Column("message_key", String(64)),      # shared by the rows one message covers
    Column("provider", String(16)),         # sendgrid | outbox | print_queue
    Column("provider_message_id", String(128)),
    Column("document_path", Text),
    Column("document_sha256", String(64)),  # the exact bytes sent: a formal notice can be proved
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("as_of", Date, nullable=False),  # as-of date of the run that last acted on the row
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("invoice_id", "step", name="uq_actions_invoice_step"),
    Index("ix_actions_message_key", "message_key"),
    Index("ix_actions_debtor", "debtor_id"),
)

# Every decision of every run, including what was held back and why.
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("invoice_id", String(64), nullable=False),
    Column("invoice_number", String(64), nullable=False),
    Column("debtor_id", String(64), nullable=False),
    Column("segment", String(16)),
    Column("step", String(24)),
    Column("step_date", Date),
    Column("prescription_date", Date),
    Column("outcome", String(24), nullable=False),
    Column("channel", String(24)),
    Column("reason", Text, nullable=False),
    Column("amount", Money),
    Column("currency", String(3)),
    Column("action_id", Integer, ForeignKey("actions.id")),
    Index("ix_decisions_run", "run_id"),
)

debtor_segments = Table(
    "debtor_segments", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("debtor_id", String(64), primary_key=True),
    Column("segment", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    Column("score", Integer, nullable=False),
)

# The aged balance each run computed, as it stood then: what `dunning export aging` shows.
aging_lines = Table(
    "aging_lines", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("debtor_id", String(64), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("debtor_name", Text, nullable=False),
    Column("segment", String(16), nullable=False),
    *(Column(name, Money, nullable=False) for name in
      ("not_due", "d1_30", "d31_60", "d61_90", "d90_plus", "unapplied_credit", "total_open")),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("source", String(24), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("number", String(64)),
    Column("debtor_id", String(64)),
    Column("kind", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_quarantine_run", "run_id"),
)

# Append-only: triggers refuse UPDATE and DELETE (see the migration).
audit_events = Table(
    "audit_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("flow_run_id", String(64)),
    Column("task_run_id", String(64)),
    Column("actor", String(128), nullable=False),
    Column("event", String(64), nullable=False),
    Column("subject_type", String(24), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON),
    Index("ix_audit_subject", "subject_type", "subject_id"),
    Index("ix_audit_run", "run_id"),
)

holds = Table(
    "holds", metadata,
    Column("id", Integer, primary_key=True),
    Column("debtor_id", String(64)),
    Column("invoice_id", String(64)),
    Column("until", Date),
    Column("reason", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
    Column("released_by", String(128)),
)

legal_cases = Table(
    "legal_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("debtor_id", String(64), nullable=False),
    Column("debtor_name", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(24), nullable=False),       # queued | acknowledged | filed | resolved
    Column("principal", Money, nullable=False),
    Column("penalties", Money),                         # computed by the French-law rules; null until then
    Column("indemnity", Money),
    Column("opened_on", Date, nullable=False),
    Column("opened_by_run", Integer, ForeignKey("runs.id"), nullable=False),
    Column("procedure", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolution", String(24)),                  # paid | settled | written_off | abandoned
    Column("closed_on", Date),
    Column("is_consumer", Boolean, nullable=False, default=False),
    Column("dossier_path", Text),
    Column("penalties_to", Date),
    Index("ix_legal_cases_debtor", "debtor_id"),
)

# Every status change of a case: who moved it, from what to what, and why.
legal_case_events = Table(
    "legal_case_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("legal_cases.id"), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("from_status", String(24)),
    Column("to_status", String(24), nullable=False),
    Column("resolution", String(24)),
    Column("note", Text, nullable=False),
    Column("amount", Money),
    Index("ix_legal_case_events_case", "case_id"),
)

legal_case_invoices = Table(
    "legal_case_invoices", metadata,
    Column("case_id", Integer, ForeignKey("legal_cases.id"), primary_key=True),
    Column("invoice_id", String(64), primary_key=True),
    Column("invoice_number", String(64), nullable=False),
    Column("amount", Money, nullable=False),
    Column("added_on", Date, nullable=False),
)
