"""`dunning legal`: the legal queue, its cases and their dossiers."""

from __future__ import annotations

from typing import Optional

import typer

from dunning.rules.calendar import paris_today

from flows.cli.support import NOTE, OPERATOR, fail, migrated_store, operator_name, pull_lever, trace_of

legal_app = typer.Typer(help="The legal queue: cases handed over after the formal notice.", no_args_is_help=True)


def _legal_queue():
    from dunning.state.legal_queue import LegalQueueStore

    return LegalQueueStore(migrated_store().engine)


@legal_app.command("list")
def legal_list(status: Optional[str] = typer.Option(None, help="queued, acknowledged, filed or resolved")) -> None:
    """The cases, newest last: id, debtor, status, principal, penalties, indemnity, invoices."""
    from dunning.documents.exports import export_rows

    rows = [r for r in export_rows(migrated_store(), "legal-queue", None) if status is None or r["status"] == status]
    if not rows:
        typer.echo("No legal case" + (f" with status {status}." if status else "."))
    for r in rows:
        typer.echo(f"{r['case_id']:>5}  {r['status']:<12} {r['debtor_id']:<12} {r['principal']:>12} {r['currency']}  "
                   f"penalties {r['penalties'] or '-'}  indemnity {r['indemnity'] or '-'}  {r['invoice_numbers']}")


@legal_app.command("show")
def legal_show(case_id: int) -> None:
    """One case: parties, amounts, invoices, evidence, every status change, the dossier."""
    try:
        case = _legal_queue().case_detail(case_id)
    except LookupError as error:
        fail(str(error))
    typer.echo(f"Case {case['id']} - {case['status']}" + (f" ({case['resolution']})" if case["resolution"] else ""))
    typer.echo(f"Debtor: {case['debtor_id']} {case['debtor_name']}")
    typer.echo(f"Opened on {case['opened_on']}; procedure: {case['procedure']}")
    typer.echo(f"Principal {case['principal']} {case['currency']}; penalties {case['penalties'] or '-'}; "
               f"indemnity {case['indemnity'] or '-'}" + (f" (computed to {case['penalties_to']})"
                                                          if case["penalties_to"] else ""))
    typer.echo("Invoices: " + ", ".join(f"{i['invoice_number']} ({i['amount']})" for i in case["invoices"]))
    typer.echo("Evidence:")
    for e in case["evidence"]:
        reference = e.get("provider_message_id") or e.get("document_sha256") or e.get("document") or "-"
        typer.echo(f"  {e['as_of']}  {e['invoice_number']:<14} {e['step']:<14} {e['channel']:<17} {reference}")
    typer.echo("History:")
    for ev in case["events"]:
        typer.echo(f"  {ev['occurred_at']:%Y-%m-%d %H:%M} UTC  {ev['actor']}: {ev['from_status']} -> {ev['to_status']}"
                   + (f" ({ev['resolution']})" if ev["resolution"] else "") + f" - {ev['note']}")
    if case["dossier_path"]:
        typer.echo(f"Dossier: {case['dossier_path']}")


def _move_case(case_id: int, verb: str, note: str, operator: Optional[str], resolution=None) -> None:
    from dunning.state.store import Trace

    try:
        message = _legal_queue().move_case(Trace(actor=operator_name(operator)), case_id, verb, note, paris_today(),
                                     resolution)
    except (LookupError, ValueError) as error:
        fail(str(error))
    typer.echo(message)


@legal_app.command("ack")
def legal_ack(case_id: int, note: str = NOTE, operator: Optional[str] = OPERATOR) -> None:
    """Take a queued case (a lawyer or the credit manager has it)."""
    _move_case(case_id, "ack", note, operator)


@legal_app.command("file")
def legal_file(case_id: int, note: str = NOTE, operator: Optional[str] = OPERATOR) -> None:
    """Record that the injonction de payer request was filed."""
    _move_case(case_id, "file", note, operator)


@legal_app.command("resolve")
def legal_resolve(case_id: int, resolution: str = typer.Option(..., "--resolution",
                                                                help="paid, settled, written_off or abandoned"),
                  note: str = NOTE, operator: Optional[str] = OPERATOR) -> None:
    """Close a case with its outcome."""
    from dunning.rules.legal_queue import Resolution

    try:
        outcome = Resolution(resolution)
    except ValueError:
        fail(f"--resolution must be one of {', '.join(r.value for r in Resolution)}, got {resolution!r}")
    _move_case(case_id, "resolve", note, operator, outcome)


@legal_app.command("handoff")
def legal_handoff(invoice: str = typer.Argument(..., help="Invoice number."), note: str = NOTE,
                  operator: Optional[str] = OPERATOR) -> None:
    """Hand a small claim (below legal.min_principal, waiting for a decision) to the legal queue anyway."""
    from dunning.state import operator_levers as levers

    pull_lever(lambda store, source, today: levers.hand_over_small_claim(store, source, trace_of(operator), invoice, note,
                                                                    today))

