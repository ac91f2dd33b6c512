"""`dunning`: the operator's command line (see DESIGN.md, "CLI contract"), one module per command group."""

from __future__ import annotations

import typer

from flows.cli import address, db, debtor, demo, export, legal, levers, run, webhook
from flows.cli.rates import rates_app
from flows.cli.support import prepare_temporary_server

app = typer.Typer(help="Receivables collection (relances clients): nightly runs, exports, demo data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command("run")(run.run)
app.command("dispatch")(run.dispatch)
app.command("resend-failed")(run.resend_failed)
app.command("export")(export.export)
for group, name in ((db.db_app, "db"), (demo.demo_app, "demo"), (levers.action_app, "action"),
                    (legal.legal_app, "legal"), (levers.dispute_app, "dispute"), (levers.promise_app, "promise"),
                    (levers.plan_app, "plan"), (levers.hold_app, "hold"), (rates_app, "rates"),
                    (debtor.debtor_app, "debtor"), (webhook.webhook_app, "webhook"), (address.address_app, "address")):
    app.add_typer(group, name=name)


@app.callback()
def _before_any_command(context: typer.Context) -> None:
    prepare_temporary_server(context.invoked_subcommand)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
