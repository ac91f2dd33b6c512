"""The house's walls: the rules and the law do no IO, the package never reaches up into Prefect.

Read from the source (every import, every call), and checked again at run time in a fresh
interpreter, so a forbidden library pulled in through a helper is caught too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dunning"

# The pure rooms, and dunning.config: the models every room shares.
PURE = ("dunning.rules", "dunning.law_fr", "dunning.config")
# What a pure module may import from the package.
PURE_MAY_IMPORT = PURE
# Libraries whose only purpose is IO (databases, HTTP, files, processes, templates, PDFs, Prefect).
IO_LIBRARIES = frozenset({
    "alembic", "asyncio", "fastapi", "ftplib", "glob", "http", "httpx", "io", "jinja2", "os", "prefect",
    "psycopg", "pypdf", "python_http_client", "reportlab", "requests", "sendgrid", "shutil", "smtplib",
    "socket", "sqlalchemy", "sqlite3", "ssl", "starlette", "subprocess", "tempfile", "urllib", "uvicorn",
    "yaml", "faker",
})
# Calls that touch the file system (a Path is a value; reading it is not) or a file format.
FILE_CALLS = frozenset({
    "read_text", "read_bytes", "write_text", "write_bytes", "open", "mkdir", "rmdir", "unlink", "touch",
    "iterdir", "glob", "rglob", "exists", "is_file", "is_dir", "stat", "cwd", "home", "resolve",
    "to_csv", "to_sql", "to_parquet", "to_excel", "to_json", "to_pickle", "to_hdf",
})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`: annotations, never run."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for inner in node.body:
                lines.update(range(inner.lineno, inner.end_lineno + 1))
    return lines


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """What in `source` breaks the pure rooms' walls, one line each."""
    tree = ast.parse(source)
    annotations_only = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in annotations_only:
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [_absolute(node, module, is_package)])
            for name in names:
                root = name.split(".")[0]
                if root in IO_LIBRARIES:
                    found.append(f"{module}:{node.lineno} imports {name}")
                elif root == "dunning" and not name.startswith(PURE_MAY_IMPORT):
                    found.append(f"{module}:{node.lineno} imports {name}, which is not a pure room")
        elif isinstance(node, ast.Call):
            called = node.func
            if isinstance(called, ast.Name) and called.id in {"open", "input", "print", "exec", "eval", "__import__"}:
                found.append(f"{module}:{node.lineno} calls {called.id}()")
            elif isinstance(called, ast.Attribute) and (called.attr in FILE_CALLS or called.attr.startswith("read_")):
                found.append(f"{module}:{node.lineno} calls .{called.attr}()")
    return found


def pure_modules() -> list[Path]:
    paths = [PACKAGE / "config.py"]
    for room in ("rules", "law_fr"):
        paths += sorted((PACKAGE / room).rglob("*.py"))
    return paths


@pytest.mark.parametrize("path", pure_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_pure_module_imports_and_calls_nothing_that_does_io(path):
    assert violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize("source, expected", [
    ("import sqlalchemy", "imports sqlalchemy"),
    ("from prefect import task", "imports prefect"),
    ("import os.path", "imports os.path"),
    ("from dunning.state.store import StateStore", "imports dunning.state.store, which is not a pure room"),
    ("from ..sources.accounting import AccountingSource", "imports dunning.sources.accounting, which is not a pure room"),
    ("text = open('policy.yaml').read()", "calls open()"),
    ("text = path.read_text()", "calls .read_text()"),
    ("frame = pd.read_sql(query, engine)", "calls .read_sql()"),
    ("frame.to_csv('out.csv')", "calls .to_csv()"),
])
def test_the_check_sees_each_kind_of_io(source, expected):
    found = violations(source, "dunning.rules.example")
    assert len(found) == 1 and found[0].endswith(expected), found


def test_the_check_lets_pure_code_and_annotations_through():
    source = (
        "from typing import TYPE_CHECKING\nfrom pathlib import Path\nimport pandas as pd\n"
        "from dunning.rules.money import ZERO\nfrom .calendar import BusinessCalendar\n"
        "if TYPE_CHECKING:\n    from dunning.documents.rendering import Renderer\n"
        "def f(frame: pd.DataFrame, where: Path) -> str:\n    return str(where / 'x') + str(frame.groupby('a').sum())\n"
    )
    assert violations(source, "dunning.rules.example") == []


def test_importing_every_pure_module_loads_no_io_library_and_no_other_room():
    modules = [module_name(path) for path in pure_modules()]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    heavy = {"sqlalchemy", "prefect", "sendgrid", "fastapi", "uvicorn", "httpx", "requests", "jinja2",
             "reportlab", "yaml", "psycopg", "alembic", "faker"}
    assert sorted(name for name in loaded if name.split(".")[0] in heavy) == []
    rooms = ("dunning.sources", "dunning.state", "dunning.delivery", "dunning.documents", "flows", "tasks")
    assert sorted(name for name in loaded if name.startswith(rooms)) == []


def test_the_package_never_imports_prefect_flows_or_tasks():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0] in {"prefect", "flows", "tasks"}]
    assert found == []
