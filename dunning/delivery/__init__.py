"""The way out: the SendGrid gateway and the outbox, the dispatcher that renders, claims, sends and
records each message, and the delivery-event webhook. May import every room but flows and tasks."""
