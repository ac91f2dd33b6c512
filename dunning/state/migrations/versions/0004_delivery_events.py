"""Delivery events from the SendGrid Event Webhook, each message's delivery status, and debtor
addresses flagged for correction after a hard bounce or a drop.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from dunning.state.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("delivery_status", sa.String(16)))
        batch.add_column(sa.Column("delivery_updated_at", UTCDateTime))
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sg_event_id", sa.String(128), nullable=False),
        sa.Column("message_key", sa.String(64)),          # custom_args.dunning_action_id
        sa.Column("sg_message_id", sa.String(255)),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("detail", sa.Text),                     # reason, bounce type and classification
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.UniqueConstraint("sg_event_id", name="uq_delivery_events_sg_event_id"),
    )
    op.create_index("ix_delivery_events_message_key", "delivery_events", ["message_key"])
    op.create_table(
        "address_flags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("debtor_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),       # bounce | dropped
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("message_key", sa.String(64)),
        sa.Column("flagged_at", UTCDateTime, nullable=False),
        sa.Column("cleared_at", UTCDateTime),
        sa.Column("cleared_by", sa.String(128)),
        sa.Column("cleared_note", sa.Text),
    )
    op.create_index("ix_address_flags_debtor", "address_flags", ["debtor_id"])
    op.create_index("uq_address_flags_active", "address_flags", ["debtor_id", "email"], unique=True,
                    postgresql_where=_ACTIVE, sqlite_where=_ACTIVE)


def downgrade() -> None:
    op.drop_index("uq_address_flags_active", table_name="address_flags")
    op.drop_index("ix_address_flags_debtor", table_name="address_flags")
    op.drop_table("address_flags")
    op.drop_index("ix_delivery_events_message_key", table_name="delivery_events")
    op.drop_table("delivery_events")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("delivery_updated_at")
        batch.drop_column("delivery_status")
