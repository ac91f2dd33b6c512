"""What every `dunning` command shares: one-line errors, who is acting, and running a flow."""

from __future__ import annotations

import os
from typing import Callable, NoReturn, Optional

import typer

__all__ = ["fail", "operator_name", "prepare_temporary_server", "run_flow", "STARTUP_TIMEOUT_ENV",
           "STARTUP_TIMEOUT_SECONDS"]

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


def prepare_temporary_server() -> None:
    """Called before any command runs: Prefect reads its settings once, when it is first imported."""
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
