"""Rate entries: the half-year rates an operator entered with `dunning rates add` (append-only);
a legal case an operator opens (a small claim handed over anyway) has no opening run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from dunning.state.migrations.append_only import drop_append_only, make_append_only
from dunning.state.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("half_year", sa.String(7), nullable=False),
        sa.Column("ecb_rate", sa.String(16), nullable=False),
        sa.Column("legal_rate_other", sa.String(16), nullable=False),
        sa.Column("legal_rate_individual", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("entered_by", sa.String(128), nullable=False),
        sa.Column("entered_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_rate_entries_half_year", "rate_entries", ["half_year"])
    # A rate that priced a claim must stay provable: corrections are new rows.
    make_append_only("rate_entries")
    with op.batch_alter_table("legal_cases") as batch:
        batch.alter_column("opened_by_run", existing_type=sa.Integer, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("legal_cases") as batch:
        batch.alter_column("opened_by_run", existing_type=sa.Integer, nullable=False)
    drop_append_only("rate_entries")
    op.drop_index("ix_rate_entries_half_year", table_name="rate_entries")
    op.drop_table("rate_entries")
