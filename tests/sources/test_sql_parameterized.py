"""SQL is parameterized everywhere: no value is ever spliced into a statement's text."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

PROJECT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("dunning", "flows", "tasks") for p in (PROJECT / folder).rglob("*.py"))
SQL_CALLS = {"text", "exec_driver_sql", "execute", "executescript"}
# DDL built from identifiers only, no value: the demo's table names quoted by the dialect, and the
# append-only triggers named after their table (a literal of the migrations) and the verbs UPDATE and DELETE.
IDENTIFIERS_ONLY = {("dunning/sources/reference_schema.py", "exec_driver_sql"),
                    ("dunning/state/migrations/append_only.py", "execute")}


def _name(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def _built_at_run_time(node: ast.AST) -> bool:
    """An f-string, a concatenation, a %-format or a .format() call."""
    return (isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values)) or \
        (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod))) or \
        (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format")


def test_no_statement_text_is_built_from_values():
    spliced = []
    for path in SOURCES:
        relative = str(path.relative_to(PROJECT))
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if isinstance(node, ast.Call) and _name(node) in SQL_CALLS and node.args and \
                    _built_at_run_time(node.args[0]) and (relative, _name(node)) not in IDENTIFIERS_ONLY:
                spliced.append(f"{relative}:{node.lineno} {_name(node)}(...)")
    assert len(SOURCES) > 40 and spliced == []


def test_the_accounting_queries_take_bind_parameters_only():
    queries = sorted((PROJECT / "sql").glob("*.sql"))
    assert len(queries) >= 7
    for query in queries:
        sql = query.read_text()
        assert not re.search(r"\{|%s|%\(", sql), f"{query.name} has a placeholder for string formatting"
    assert ":as_of" in (PROJECT / "sql" / "open_receivables.sql").read_text()


@pytest.mark.parametrize("hostile", ["FA-1' OR '1'='1", "FA-1'; DROP TABLE actions; --", 'FA-"1" --'])
def test_hostile_invoice_numbers_are_values_not_sql(backend, hostile):
    from sqlalchemy import inspect

    from dunning.state.store import state_engine
    from flows.cli import app

    result = CliRunner().invoke(app, ["export", "audit", "--invoice", hostile])
    assert result.exit_code == 2 and f"invoice {hostile} is in no decision or action" in result.output
    assert {"actions", "audit_events"} <= set(inspect(state_engine(backend.state_url)).get_table_names())
