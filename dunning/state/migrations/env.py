"""Alembic environment: the URL comes from the caller (dunning db upgrade) or DUNNING_STATE_URL."""

from alembic import context
from sqlalchemy import create_engine

from dunning.state.schema import metadata
from dunning.state.store import state_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or state_url()

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
