"""The state database: ours, managed by Alembic. Never mixed with the accounting database."""
