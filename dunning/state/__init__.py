"""The record: our own state database (schema, Alembic migrations, the ledger, levers, legal queue,
delivery events, entered rates), never mixed with the accounting database. May import the rules."""
