"""`dunning webhook serve`: the SendGrid Event Webhook."""

from __future__ import annotations


import typer

from dunning.config import ConfigError
from dunning.state.store import StateSchemaError

from flows.cli.support import fail

webhook_app = typer.Typer(help="The SendGrid Event Webhook: what happened to each email.", no_args_is_help=True)


@webhook_app.command("serve")
def webhook_serve(host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (behind a TLS proxy)."),
                  port: int = typer.Option(8787, "--port", min=1, max=65535)) -> None:
    """Receive SendGrid's signed delivery events on /sendgrid/events (needs SENDGRID_WEBHOOK_PUBLIC_KEY;
    limits in policy.yaml, webhook)."""
    import logging

    import uvicorn

    from dunning.delivery.webhook import WebhookConfigError, app_from_environment

    try:
        service = app_from_environment()
    except (WebhookConfigError, ConfigError, StateSchemaError) as error:
        fail(str(error))
    # Each batch's counts (never an address or a key) go to the service's log next to uvicorn's access log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(service, host=host, port=port)

