"""Shared fixtures: real PostgreSQL, real SQLite files, the real Prefect engine, a SendGrid on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from dunning.state.store import upgrade_database
from sendgrid_server import TEST_API_KEY, sendgrid_server_fixture  # noqa: F401  (fixture)

from accounting_db import Accounting

PG_ADMIN_URL = os.environ.get("DUNNING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def _pg_admin():
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        pytest.fail(f"PostgreSQL is required for these tests and is unreachable at {PG_ADMIN_URL}: "
                    f"{str(error).splitlines()[0]}. Start it (see README, Tests) rather than skipping.",
                    pytrace=False)
    return engine


class PostgresDatabases:
    """Creates throwaway databases on the real server and drops them afterwards."""

    def __init__(self) -> None:
        self.admin = _pg_admin()
        self.created: list[str] = []

    def create(self, prefix: str) -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres():
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A copy of config/ with no backoff wait, so retries are fast; tests may edit it further."""
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    edit_policy(folder, dispatch={"max_workers": 4, "retries": 3, "retry_delay_seconds": 0,
                                  "retry_jitter_factor": 0, "timeout_seconds": 2},
                send_window={"start_hour": 0, "end_hour": 24, "business_days_only": False})
    return folder


def edit_policy(folder: Path, **sections) -> None:
    path = folder / "policy.yaml"
    policy = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key].update(value)
        else:
            policy[key] = value
    path.write_text(yaml.safe_dump(policy))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path, monkeypatch, postgres, config_dir):
    """Both databases on one backend, the environment pointing at them, the state migrated."""
    if request.param == "sqlite":
        accounting_url = f"sqlite:///{tmp_path / 'accounting.sqlite'}"
        state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        accounting_url = postgres.create("dunning_acc")
        state_url = postgres.create("dunning_state")
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", accounting_url)
    monkeypatch.setenv("DUNNING_STATE_URL", state_url)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUNNING_CONFIG_DIR", str(config_dir))
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    upgrade_database(state_url)
    accounting_engine = create_engine(accounting_url)
    yield Backend(request.param, Accounting(accounting_engine), state_url, tmp_path / "var", config_dir)
    accounting_engine.dispose()
    from dunning.state.store import state_engine

    state_engine(state_url).dispose()


class Backend:
    def __init__(self, name: str, accounting: Accounting, state_url: str, var_dir: Path, config_dir: Path):
        self.name, self.accounting, self.state_url = name, accounting, state_url
        self.var_dir, self.config_dir = var_dir, config_dir


@pytest.fixture
def sendgrid(sendgrid_server, monkeypatch):
    """The test SendGrid, with the product configured to use it."""
    monkeypatch.setenv("SENDGRID_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("DUNNING_SENDGRID_HOST", sendgrid_server.host)
    return sendgrid_server


class KeptRecords(logging.Handler):
    """A logging handler that keeps every record, for the tests that read what was logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def prefect_logs():
    """Every record Prefect's loggers emit during the test (they do not all propagate to the root)."""
    import flows.levers, flows.nightly  # noqa: E401,F401  (Prefect configures its loggers once, on import)

    handler = KeptRecords()
    logger = logging.getLogger("prefect")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
