"""Reaching a database before using it, so that what is wrong is one line that names the database
(accounting or state, which variable set it, the URL with its password masked) and what to check.

Never SQL, parameters or a password in these lines: the driver's first line only, scrubbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

__all__ = ["Database", "DatabaseUnavailable", "driver_line"]

_CONNECT_TIMEOUT_SECONDS = 10
_URL_SHAPE = "dialect+driver://user:password@host:port/database, or sqlite:///path/to/file"


class DatabaseUnavailable(RuntimeError):
    """A database that cannot be used as configured: the message names it and what to check."""


@dataclass(frozen=True)
class Database:
    """One of the product's databases as configured: `what` is "accounting" or "state"."""

    what: str
    env: str
    url: str
    from_env: bool

    def named(self) -> str:
        """`the accounting database <masked URL> (DUNNING_ACCOUNTING_URL)`; never the password."""
        where = self.env if self.from_env else f"the default, {self.env} is not set"
        try:
            shown = make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:
            shown = "(not a URL)"
        return f"the {self.what} database {shown} ({where})"

    def parsed(self, error: type[DatabaseUnavailable]) -> URL:
        """The URL, its driver importable, or `error` saying which."""
        try:
            url = make_url(self.url)
        except ArgumentError:
            raise error(f"{self.env} is not a SQLAlchemy URL ({_URL_SHAPE}): check the {self.what} "
                        f"database's {self.env}") from None
        try:
            url.get_dialect().import_dbapi()   # the driver's own module too: psycopg2 may not be installed
        except (NoSuchModuleError, ImportError):
            raise error(f"{self.named()} names an unknown or uninstalled driver {url.drivername!r}: check "
                        f"{self.env} (postgresql+psycopg://... or sqlite:///...)") from None
        return url

    def sqlite_file(self, url: URL) -> Path | None:
        """The file of a SQLite URL (None for another backend, or an in-memory database)."""
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    def probe(self, error: type[DatabaseUnavailable], advice: str) -> None:
        """Connect once and run `SELECT 1`; any failure is `error` with the driver's first line and `advice`."""
        url = self.parsed(error)
        connect_args = {"connect_timeout": _CONNECT_TIMEOUT_SECONDS} if url.get_backend_name() == "postgresql" else {}
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as failure:
            raise error(f"{self.named()} is not reachable ({driver_line(failure, url)}): {advice}") from None
        finally:
            engine.dispose()


def driver_line(failure: BaseException, url: URL | None = None) -> str:
    """The first line of the driver's own message (not SQLAlchemy's, which adds SQL and parameters)."""
    cause = getattr(failure, "orig", None) or failure
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    line = lines[0] if lines else type(cause).__name__
    if url is not None and url.password:
        line = line.replace(str(url.password), "***")
    return line
