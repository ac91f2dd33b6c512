"""Delivery events keep no IP address or user agent: those SendGrid reported on open and click
events before the product stopped storing them are removed from the stored payloads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from dunning.rules.delivery_events import TRACKING_FIELDS, without_tracking_data

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_events = sa.table("delivery_events", sa.column("id", sa.Integer), sa.column("payload", sa.JSON))


def upgrade() -> None:
    conn = op.get_bind()
    # Open and click events are the only ones that carry them; read in batches, whatever the volume.
    last = 0
    while True:
        rows = conn.execute(sa.select(_events.c.id, _events.c.payload).where(_events.c.id > last)
                            .order_by(_events.c.id).limit(1000)).all()
        if not rows:
            break
        for row in rows:
            if isinstance(row.payload, dict) and any(key in row.payload for key in TRACKING_FIELDS):
                conn.execute(sa.update(_events).where(_events.c.id == row.id).values(
                    payload=without_tracking_data(row.payload)))
        last = rows[-1].id


def downgrade() -> None:
    """What was removed is gone: nothing to restore."""
