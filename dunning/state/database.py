"""The state database itself: where it is, one engine per URL, migrating it, and checking that it
answers and is migrated before anything reads or writes it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from dunning.databases import Database, DatabaseUnavailable, driver_line
from dunning.paths import default_var_dir

__all__ = ["STATE_URL_ENV", "StateSchemaError", "StateUnavailable", "check_migrated", "state_database",
           "state_engine", "state_url", "upgrade_database"]


class StateSchemaError(RuntimeError):
    """The state database is missing or not at the code's migration."""


class StateUnavailable(StateSchemaError, DatabaseUnavailable):
    """The state database cannot be reached as configured (URL, driver, folder, server, role)."""


STATE_URL_ENV = "DUNNING_STATE_URL"
_ADVICE = f"check that the server is up and that {STATE_URL_ENV} names the right host, port, database and role"


def state_url() -> str:
    return os.environ.get(STATE_URL_ENV) or f"sqlite:///{default_var_dir() / 'state.sqlite'}"


def state_database(url: str | None = None) -> Database:
    url = url or state_url()
    return Database("state", STATE_URL_ENV, url, from_env=url == os.environ.get(STATE_URL_ENV))


def state_engine(url: str | None = None) -> Engine:
    """One engine (and pool) per URL for the life of the process."""
    return _engine(url or state_url())


@lru_cache(maxsize=16)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Concurrent task threads write the ledger: wait for the lock rather than fail at once.
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def upgrade_database(url: str | None = None) -> str:
    """Apply the Alembic migrations; returns the revision now in place."""
    from alembic import command

    database = state_database(url)
    url, path = database.url, database.sqlite_file(database.parsed(StateUnavailable))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    database.probe(StateUnavailable, _ADVICE)
    command.upgrade(_alembic_config(url), "head")
    with create_engine(url).connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def check_migrated(url: str | None = None) -> None:
    """Raise StateUnavailable if the state database cannot be reached, StateSchemaError unless it is
    at the latest migration: each says what to do."""
    from alembic.script import ScriptDirectory

    database = state_database(url)
    path = database.sqlite_file(database.parsed(StateUnavailable))
    if path is not None and not path.parent.is_dir():
        raise StateUnavailable(f"{database.named()} is not reachable: its folder {path.parent} does not exist; "
                               f"check {STATE_URL_ENV} (`dunning db upgrade` creates the folder and the file)")
    if path is not None and not path.exists():
        raise StateSchemaError(f"{database.named()} does not exist: run `dunning db upgrade`")
    database.probe(StateUnavailable, _ADVICE)
    head = ScriptDirectory.from_config(_alembic_config(database.url)).get_current_head()
    try:
        with state_engine(database.url).connect() as conn:
            current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except SQLAlchemyError as error:
        raise StateSchemaError(f"{database.named()} answers but is not migrated ({driver_line(error)}): "
                               "run `dunning db upgrade`") from None
    if current != head:
        raise StateSchemaError(f"{database.named()} is at revision {current}, the code needs {head}: "
                               f"run `dunning db upgrade`")
