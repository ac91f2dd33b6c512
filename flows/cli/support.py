"""What every `dunning` command shares: one-line errors, who is acting, dates and amounts from options,
the state database checked before use, a lever pulled, and running a flow."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Callable, NoReturn, Optional

import typer
from sqlalchemy.exc import SQLAlchemyError

from dunning.rules.calendar import paris_today
from dunning.state.store import StateSchemaError, StateStore, check_migrated, state_engine

__all__ = ["fail", "operator_name", "prepare_temporary_server", "run_flow", "preflight", "check_prefect_home",
           "demo_accounting_engine", "parse_as_of", "option_date", "option_amount", "migrated_store", "trace_of",
           "pull_lever", "NOTE", "OPERATOR", "INVOICES", "GRACE_DAYS", "FLOW_COMMANDS", "STARTUP_TIMEOUT_ENV",
           "STARTUP_TIMEOUT_SECONDS"]

# The commands that run a flow in this process: Prefect needs a PREFECT_HOME it can write.
FLOW_COMMANDS = frozenset({"run", "dispatch", "resend-failed"})

# Without PREFECT_API_URL, Prefect starts a temporary server for each command that runs a flow. Its
# default wait (20 s) is too short on a loaded 2-core machine; the user's own setting wins.
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
STARTUP_TIMEOUT_SECONDS = 120


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def operator_name(value: Optional[str]) -> str:
    """Who is acting, for the audit trail: --operator, else DUNNING_OPERATOR, else the login name."""
    name = value or os.environ.get("DUNNING_OPERATOR") or os.environ.get("USER")
    if not name:
        fail("say who you are with --operator NAME (or DUNNING_OPERATOR): every lever is audited")
    return name


def prepare_temporary_server(command: Optional[str] = None) -> None:
    """Called before any command runs: Prefect reads its settings once, when it is first imported."""
    if command in FLOW_COMMANDS:
        check_prefect_home()
    if not os.environ.get("PREFECT_API_URL"):
        # The temporary server's shutdown races log spurious errors that would only alarm an operator.
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault(STARTUP_TIMEOUT_ENV, str(STARTUP_TIMEOUT_SECONDS))


def run_flow(flow: Callable, **parameters):
    """Run the flow and give back its final state; a temporary server that would not start is one line."""
    try:
        return flow(**parameters, return_state=True)
    except RuntimeError as error:
        if "ephemeral Prefect API server" not in str(error):
            raise
        fail(f"the temporary Prefect server did not start within {os.environ.get(STARTUP_TIMEOUT_ENV)} s. "
             f"Raise {STARTUP_TIMEOUT_ENV}, or start a Prefect server (`prefect server start`) and set "
             "PREFECT_API_URL to its API (e.g. http://127.0.0.1:4200/api)", code=1)


def check_prefect_home() -> None:
    """Prefect keeps its profile, results and temporary server's database in PREFECT_HOME; one it
    cannot write is a warning, then a server that never starts, unless it is said here first."""
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        fail(f"PREFECT_HOME {home} is not a folder this user can write ({error.strerror or type(error).__name__}): "
             "set PREFECT_HOME to a writable folder (Prefect keeps its settings and its temporary server's "
             "database there)")


def preflight(*, reads_accounting: bool = True) -> None:
    """What a command checks before it runs a flow, so a wrong setting is one line here rather than a
    flow run's traceback: the policy, the state database, the SendGrid host, the accounting database."""
    from dunning.sources.accounting import SourceUnavailable, check_source
    from dunning.config import ConfigError
    from dunning.sources.config_files import load_settings
    from dunning.delivery.gateway import GatewayConfigError, sendgrid_host_from_environment

    try:
        load_settings()
        check_migrated()
        sendgrid_host_from_environment()
        if reads_accounting:
            check_source()
    except (ConfigError, StateSchemaError, GatewayConfigError, SourceUnavailable) as error:
        fail(str(error))


def demo_accounting_engine(url: str):
    """An engine on the demo accounting database `dunning demo seed` fills (its SQLite file is created)."""
    from sqlalchemy import create_engine

    from dunning.sources.accounting import SourceUnavailable, accounting_database, check_source

    database = accounting_database(url)
    try:
        check_source(url, for_seeding=True)
        path = database.sqlite_file(database.parsed(SourceUnavailable))
    except SourceUnavailable as error:
        fail(str(error))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def parse_as_of(value: Optional[str]) -> date:
    if value is None:
        return paris_today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of must be a date as YYYY-MM-DD, got {value!r}")


def migrated_store() -> StateStore:
    try:
        check_migrated()
    except StateSchemaError as error:
        fail(str(error))
    return StateStore(state_engine())


NOTE = typer.Option(..., "--note", help="Why: recorded with the change.")


OPERATOR = typer.Option(None, "--operator", help="Who (default: DUNNING_OPERATOR, else the login name).")


def pull_lever(lever: Callable, reads_accounting: bool = True) -> None:
    """Call `lever(store, source, today)` (one of dunning.state.operator_levers, as the lever flows do);
    print what it did.

    Refusals (unknown invoice, a second open dispute, a plan that does not add up, an accounting
    database that does not answer...) exit 2 with the reason.
    """
    from dunning.sources.accounting import AccountingSource, SourceUnavailable
    from dunning.state.levers import LeverStore

    store = LeverStore(migrated_store().engine)
    try:
        result = lever(store, AccountingSource.checked() if reads_accounting else None, paris_today())
    except (LookupError, ValueError, SourceUnavailable) as error:
        fail(str(error))
    except SQLAlchemyError as error:
        fail(f"could not read or write a database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    typer.echo(result.message)


def option_date(value: str, option: str) -> date:
    from dunning.state.operator_levers import parse_date

    try:
        return parse_date(value, option)
    except ValueError as error:
        fail(str(error))


def option_amount(value: str, option: str):
    from dunning.state.operator_levers import parse_amount

    try:
        return parse_amount(value, option)
    except ValueError as error:
        fail(str(error))


def trace_of(operator: Optional[str]):
    from dunning.state.store import Trace

    return Trace(actor=operator_name(operator))


INVOICES = typer.Option(..., "--invoices", help="Invoice numbers, comma separated: FA-1,FA-2.")


GRACE_DAYS = typer.Option(3, "--grace-days", min=0, help="Days after the date before it counts as missed.")

