"""Tables of the state database (SQLAlchemy Core). Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text,
)

from dunning.state.types import Money, UTCDateTime

__all__ = ["metadata", "runs", "actions", "decisions", "debtor_segments", "aging_lines", "quarantine", "audit_events",
           "holds", "legal_cases", "legal_case_invoices", "legal_case_events", "disputes", "promises",
           "promise_invoices", "payment_plans", "plan_invoices", "plan_installments", "delivery_events",
           "address_flags", "rate_entries"]

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
    # The latest delivery event SendGrid reported for the message (Event Webhook), and when it happened.
    Column("delivery_status", String(16)),  # processed | delivered | deferred | bounce | dropped | ...
    Column("delivery_updated_at", UTCDateTime),
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
    Column("kind", String(24), nullable=False, default="manual", server_default="manual"),  # manual | collective_procedure
    Column("bodacc_published_on", Date),    # collective procedure: the opening judgment's BODACC publication
    Column("claim_deadline", Date),         # ... and the last day to declare the claim to the mandataire
)

_OPEN_DISPUTE = text("closed_at IS NULL")

# A dispute (litige) on one invoice, from an operator or from the accounting system's flag.
disputes = Table(
    "disputes", metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", String(64), nullable=False),
    Column("invoice_number", String(64), nullable=False),
    Column("debtor_id", String(64), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("note", Text, nullable=False),
    Column("source", String(16), nullable=False),           # operator | accounting
    Column("opened_on", Date, nullable=False),
    Column("opened_by", String(128), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_on", Date),
    Column("closed_by", String(128)),
    Column("closed_at", UTCDateTime),
    Column("outcome", String(24)),
    Column("outcome_note", Text),
    Index("ix_disputes_invoice", "invoice_id"),
    Index("ix_disputes_debtor", "debtor_id"),
    # At most one open dispute per invoice, also under concurrent writers.
    Index("uq_disputes_open_invoice", "invoice_id", unique=True,
          postgresql_where=_OPEN_DISPUTE, sqlite_where=_OPEN_DISPUTE),
)

promises = Table(
    "promises", metadata,
    Column("id", Integer, primary_key=True),
    Column("debtor_id", String(64), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("promised_on", Date, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("status", String(16), nullable=False),           # open | kept | broken
    Column("made_on", Date, nullable=False),
    Column("made_by", String(128), nullable=False),
    Column("made_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Column("settled_on", Date),
    Column("settled_note", Text),
    Index("ix_promises_debtor", "debtor_id"),
    Index("ix_promises_status", "status"),
)

promise_invoices = Table(
    "promise_invoices", metadata,
    Column("promise_id", Integer, ForeignKey("promises.id"), primary_key=True),
    Column("invoice_id", String(64), primary_key=True),
    Column("invoice_number", String(64), nullable=False),
    Index("ix_promise_invoices_invoice", "invoice_id"),
)

# An échéancier: chosen invoices paid by installments instead of being chased.
payment_plans = Table(
    "payment_plans", metadata,
    Column("id", Integer, primary_key=True),
    Column("debtor_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),           # active | completed | broken | cancelled
    Column("grace_days", Integer, nullable=False),
    Column("created_on", Date, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Column("ended_on", Date),
    Column("ended_note", Text),
    Index("ix_payment_plans_debtor", "debtor_id"),
    Index("ix_payment_plans_status", "status"),
)

plan_invoices = Table(
    "plan_invoices", metadata,
    Column("plan_id", Integer, ForeignKey("payment_plans.id"), primary_key=True),
    Column("invoice_id", String(64), primary_key=True),
    Column("invoice_number", String(64), nullable=False),
    Column("amount", Money, nullable=False),                # the residual the plan covers
    Index("ix_plan_invoices_invoice", "invoice_id"),
)

plan_installments = Table(
    "plan_installments", metadata,
    Column("plan_id", Integer, ForeignKey("payment_plans.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("due_date", Date, nullable=False),
    Column("amount", Money, nullable=False),
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
    Column("opened_by_run", Integer, ForeignKey("runs.id")),   # none when an operator opened it (a small claim)
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

# Every event the SendGrid Event Webhook delivered, once (SendGrid may post an event more than once).
delivery_events = Table(
    "delivery_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("sg_event_id", String(128), nullable=False),
    Column("message_key", String(64)),          # custom_args.dunning_action_id: the ledger rows it concerns
    Column("sg_message_id", String(255)),
    Column("event", String(24), nullable=False),
    Column("email", String(320)),
    Column("detail", Text),                     # reason, bounce type and classification
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("sg_event_id", name="uq_delivery_events_sg_event_id"),
    Index("ix_delivery_events_message_key", "message_key"),
)

# A debtor address that hard-bounced or was dropped: its next steps go by letter until it changes
# in the accounting system or an operator clears the flag.
address_flags = Table(
    "address_flags", metadata,
    Column("id", Integer, primary_key=True),
    Column("debtor_id", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("event", String(24), nullable=False),       # bounce | dropped
    Column("reason", Text, nullable=False),
    Column("message_key", String(64)),
    Column("flagged_at", UTCDateTime, nullable=False),
    Column("cleared_at", UTCDateTime),
    Column("cleared_by", String(128)),
    Column("cleared_note", Text),
    Index("ix_address_flags_debtor", "debtor_id"),
    Index("uq_address_flags_active", "debtor_id", "email", unique=True,
          postgresql_where=text("cleared_at IS NULL"), sqlite_where=text("cleared_at IS NULL")),
)


# Rates an operator entered for a half-year config/legal_fr.yaml lacks (`dunning rates add`).
# Append-only like the audit trail: a correction is a new row, the latest per half-year wins.
# Rates are kept as the exact decimal text that was validated, on every backend.
rate_entries = Table(
    "rate_entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("half_year", String(7), nullable=False),          # 2026-H2
    Column("ecb_rate", String(16), nullable=False),           # ECB MRO rate in force on its first day, percent
    Column("legal_rate_other", String(16), nullable=False),   # taux de l'intérêt légal, other cases
    Column("legal_rate_individual", String(16), nullable=False),
    Column("source", Text, nullable=False),                   # the publications the numbers come from
    Column("entered_by", String(128), nullable=False),
    Column("entered_at", UTCDateTime, nullable=False),
    Index("ix_rate_entries_half_year", "half_year"),
)
