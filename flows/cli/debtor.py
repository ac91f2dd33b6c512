"""`dunning debtor show`: one debtor, explained."""

from __future__ import annotations


import typer


from flows.cli.support import fail, migrated_store

debtor_app = typer.Typer(help="One debtor, explained.", no_args_is_help=True)


@debtor_app.command("show")
def debtor_show(debtor_id: str) -> None:
    """Segment and why, each open invoice's next step or what holds it back, and every action."""
    try:
        view = migrated_store().debtor_view(debtor_id)
    except LookupError as error:
        fail(str(error))
    typer.echo(f"Debtor {debtor_id}, as the run {view['run_id']} of {view['as_of']} saw it")
    if view["segment"]:
        seg = view["segment"]
        typer.echo(f"Segment: {seg['segment']} (risk score {seg['score']}): {seg['rule']}")
    for dispute in view["disputes"]:
        typer.echo(f"Open dispute on {dispute['invoice_number']} ({dispute['reason']}) since {dispute['opened_on']}: "
                   f"{dispute['note']}")
    for hold in view["holds"]:
        scope = f"invoice {hold['invoice_id']}" if hold["invoice_id"] else "the debtor"
        typer.echo(f"Hold {hold['id']} on {scope}" + (f" until {hold['until']}" if hold["until"] else "")
                   + f": {hold['reason']}")
    typer.echo("Invoices:")
    for d in view["decisions"]:
        if d["outcome"] == "superseded":
            continue
        step = f" {d['step']}" if d["step"] else ""
        typer.echo(f"  {d['invoice_number']:<16} {d['amount']:>12} {d['currency']}  {d['outcome']}{step}: {d['reason']}")
    typer.echo("Actions:")
    for a in view["history"]:
        reference = a["provider_message_id"] or a["document_sha256"] or ""
        typer.echo(f"  {a['as_of']}  {a['invoice_number']:<16} {a['step']:<14} {a['channel']:<17} "
                   f"{a['status']:<10} {reference}")

