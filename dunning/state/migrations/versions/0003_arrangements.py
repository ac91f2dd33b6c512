"""Arrangements: disputes, promises to pay, payment plans, and the kind of a hold (collective procedure).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from dunning.state.types import Money, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# At most one open dispute per invoice: the store checks it inside its transaction, and the
# database refuses a second one that a concurrent writer might slip in (both backends support
# partial indexes).
_OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("invoice_number", sa.String(64), nullable=False),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),       # operator | accounting
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("closed_on", sa.Date),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("closed_at", UTCDateTime),
        sa.Column("outcome", sa.String(24)),
        sa.Column("outcome_note", sa.Text),
    )
    op.create_index("ix_disputes_invoice", "disputes", ["invoice_id"])
    op.create_index("ix_disputes_debtor", "disputes", ["debtor_id"])
    op.create_index("uq_disputes_open_invoice", "disputes", ["invoice_id"], unique=True,
                    postgresql_where=_OPEN, sqlite_where=_OPEN)
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("promised_on", sa.Date, nullable=False),
        sa.Column("grace_days", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),       # open | kept | broken
        sa.Column("made_on", sa.Date, nullable=False),
        sa.Column("made_by", sa.String(128), nullable=False),
        sa.Column("made_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("settled_on", sa.Date),
        sa.Column("settled_note", sa.Text),
    )
    op.create_index("ix_promises_debtor", "promises", ["debtor_id"])
    op.create_index("ix_promises_status", "promises", ["status"])
    op.create_table(
        "promise_invoices",
        sa.Column("promise_id", sa.Integer, sa.ForeignKey("promises.id"), primary_key=True),
        sa.Column("invoice_id", sa.String(64), primary_key=True),
        sa.Column("invoice_number", sa.String(64), nullable=False),
    )
    op.create_index("ix_promise_invoices_invoice", "promise_invoices", ["invoice_id"])
    op.create_table(
        "payment_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),       # active | completed | broken | cancelled
        sa.Column("grace_days", sa.Integer, nullable=False),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("ended_on", sa.Date),
        sa.Column("ended_note", sa.Text),
    )
    op.create_index("ix_payment_plans_debtor", "payment_plans", ["debtor_id"])
    op.create_index("ix_payment_plans_status", "payment_plans", ["status"])
    op.create_table(
        "plan_invoices",
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("payment_plans.id"), primary_key=True),
        sa.Column("invoice_id", sa.String(64), primary_key=True),
        sa.Column("invoice_number", sa.String(64), nullable=False),
        sa.Column("amount", Money, nullable=False),
    )
    op.create_index("ix_plan_invoices_invoice", "plan_invoices", ["invoice_id"])
    op.create_table(
        "plan_installments",
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("payment_plans.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("amount", Money, nullable=False),
    )
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("kind", sa.String(24), nullable=False, server_default="manual"))
        batch.add_column(sa.Column("bodacc_published_on", sa.Date))   # collective procedure: the judgment's publication
        batch.add_column(sa.Column("claim_deadline", sa.Date))        # ... and the last day to declare the claim


def downgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        for column in ("claim_deadline", "bodacc_published_on", "kind"):
            batch.drop_column(column)
    op.drop_table("plan_installments")
    op.drop_index("ix_plan_invoices_invoice", "plan_invoices")
    op.drop_table("plan_invoices")
    op.drop_index("ix_payment_plans_status", "payment_plans")
    op.drop_index("ix_payment_plans_debtor", "payment_plans")
    op.drop_table("payment_plans")
    op.drop_index("ix_promise_invoices_invoice", "promise_invoices")
    op.drop_table("promise_invoices")
    op.drop_index("ix_promises_status", "promises")
    op.drop_index("ix_promises_debtor", "promises")
    op.drop_table("promises")
    op.drop_index("uq_disputes_open_invoice", "disputes")
    op.drop_index("ix_disputes_debtor", "disputes")
    op.drop_index("ix_disputes_invoice", "disputes")
    op.drop_table("disputes")
