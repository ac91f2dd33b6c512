"""Initial state schema: runs, actions ledger, decisions, segments, aging, quarantine, audit, holds, legal cases.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from dunning.state.migrations.append_only import drop_append_only, make_append_only
from dunning.state.types import Money, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("counts", sa.JSON),
        sa.Column("message", sa.Text),
        sa.Column("summary", sa.Text),
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("invoice_number", sa.String(64), nullable=False),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("template", sa.String(128)),
        sa.Column("language", sa.String(2)),
        sa.Column("amount", Money),
        sa.Column("currency", sa.String(3)),
        sa.Column("message_key", sa.String(64)),
        sa.Column("provider", sa.String(16)),
        sa.Column("provider_message_id", sa.String(128)),
        sa.Column("document_path", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.UniqueConstraint("invoice_id", "step", name="uq_actions_invoice_step"),
    )
    op.create_index("ix_actions_message_key", "actions", ["message_key"])
    op.create_index("ix_actions_debtor", "actions", ["debtor_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("invoice_number", sa.String(64), nullable=False),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("segment", sa.String(16)),
        sa.Column("step", sa.String(24)),
        sa.Column("step_date", sa.Date),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(24)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("amount", Money),
        sa.Column("currency", sa.String(3)),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id")),
    )
    op.create_index("ix_decisions_run", "decisions", ["run_id"])
    op.create_table(
        "debtor_segments",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("debtor_id", sa.String(64), primary_key=True),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
    )
    op.create_table(
        "aging_lines",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("debtor_id", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("debtor_name", sa.Text, nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        *(sa.Column(name, Money, nullable=False) for name in
          ("not_due", "d1_30", "d31_60", "d61_90", "d90_plus", "unapplied_credit", "total_open")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64)),
        sa.Column("debtor_id", sa.String(64)),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_quarantine_run", "quarantine", ["run_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("task_run_id", sa.String(64)),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(24), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_audit_subject", "audit_events", ["subject_type", "subject_id"])
    op.create_index("ix_audit_run", "audit_events", ["run_id"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("debtor_id", sa.String(64)),
        sa.Column("invoice_id", sa.String(64)),
        sa.Column("until", sa.Date),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("released_at", UTCDateTime),
        sa.Column("released_by", sa.String(128)),
    )
    op.create_table(
        "legal_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("debtor_name", sa.Text, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("principal", Money, nullable=False),
        sa.Column("penalties", Money),
        sa.Column("indemnity", Money),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("opened_by_run", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("procedure", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_legal_cases_debtor", "legal_cases", ["debtor_id"])
    op.create_table(
        "legal_case_invoices",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_cases.id"), primary_key=True),
        sa.Column("invoice_id", sa.String(64), primary_key=True),
        sa.Column("invoice_number", sa.String(64), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("added_on", sa.Date, nullable=False),
    )
    # Auditors rely on the trail being complete.
    make_append_only("audit_events")


def downgrade() -> None:
    drop_append_only("audit_events")
    for table in ("legal_case_invoices", "legal_cases", "holds", "audit_events", "quarantine",
                  "aging_lines", "debtor_segments", "decisions", "actions", "runs"):
        op.drop_table(table)
