"""`dunning db`: the state database."""

from __future__ import annotations


import typer
from sqlalchemy.exc import SQLAlchemyError

from dunning.state.store import StateSchemaError, upgrade_database

from flows.cli.support import fail

db_app = typer.Typer(help="The state database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the state database (DUNNING_STATE_URL, default var/state.sqlite)."""
    try:
        revision = upgrade_database()
    except StateSchemaError as error:
        fail(str(error))
    except SQLAlchemyError as error:
        fail(f"could not migrate the state database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    typer.echo(f"State database at revision {revision}.")

