"""Legal documents: the hash of each document sent, prescription dates, and the life of a legal case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from dunning.state.types import Money, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("document_sha256", sa.String(64)))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("prescription_date", sa.Date))   # each invoice carries its own
    with op.batch_alter_table("legal_cases") as batch:
        batch.add_column(sa.Column("resolution", sa.String(24)))        # paid | settled | written_off | abandoned
        batch.add_column(sa.Column("closed_on", sa.Date))
        batch.add_column(sa.Column("is_consumer", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("dossier_path", sa.Text))
        batch.add_column(sa.Column("penalties_to", sa.Date))             # the date penalties were computed to
    op.create_table(
        "legal_case_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_cases.id"), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("resolution", sa.String(24)),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("amount", Money),
    )
    op.create_index("ix_legal_case_events_case", "legal_case_events", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_legal_case_events_case", "legal_case_events")
    op.drop_table("legal_case_events")
    with op.batch_alter_table("legal_cases") as batch:
        for column in ("penalties_to", "dossier_path", "is_consumer", "closed_on", "resolution"):
            batch.drop_column(column)
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("prescription_date")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("document_sha256")
