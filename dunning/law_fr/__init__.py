"""French law as computation: rate tables, penalties and indemnities, prescription, the court, the
form and the mandatory mentions. No IO: imports only the standard library, pydantic, dunning.config
and dunning.rules; tests/test_architecture.py holds that boundary."""
