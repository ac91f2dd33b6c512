"""`dunning address`: debtor addresses that hard-bounced or were dropped."""

from __future__ import annotations

from typing import Optional

import typer


from flows.cli.support import NOTE, OPERATOR, fail, migrated_store, trace_of

address_app = typer.Typer(help="Debtor addresses that hard-bounced or were dropped: letters go until corrected.",
                          no_args_is_help=True)


def _deliveries():
    from dunning.state.delivery import DeliveryStore

    return DeliveryStore(migrated_store().engine)


@address_app.command("list")
def address_list() -> None:
    """The flagged addresses: debtor, email, what happened and when, SendGrid's reason."""
    flags = _deliveries().active_address_flags()
    if not flags:
        typer.echo("No address to correct.")
    for f in flags:
        typer.echo(f"{f.debtor_id:<12} {f.email:<32} {f.event:<8} {f.flagged_on}  {f.reason}")


@address_app.command("clear")
def address_clear(debtor: str = typer.Argument(..., help="Debtor (customer) id."), note: str = NOTE,
                  operator: Optional[str] = OPERATOR) -> None:
    """Let emails go to the debtor's flagged address again (say why: it was checked, or the bounce was a fluke)."""
    try:
        cleared = _deliveries().clear_address_flags(trace_of(operator), debtor, note)
    except (LookupError, ValueError) as error:
        fail(str(error))
    for f in cleared:
        typer.echo(f"Address {f.email} of debtor {debtor} cleared: emails may go to it again.")

