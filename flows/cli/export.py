"""`dunning export`: machine-readable output on stdout."""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from typing import Optional

import typer
from sqlalchemy.exc import SQLAlchemyError

from dunning.state.store import StateSchemaError, StateStore, check_migrated, state_engine

from flows.cli.support import fail, parse_as_of

class Format(str, Enum):
    json = "json"
    csv = "csv"


class Export(str, Enum):
    actions = "actions"
    aging = "aging"
    segments = "segments"
    legal_queue = "legal-queue"
    audit = "audit"


def export(what: Export, as_of: Optional[str] = typer.Option(None, "--as-of"),
           invoice: Optional[str] = typer.Option(None, "--invoice", help="audit only: the trail of one invoice."),
           fmt: Format = typer.Option(Format.json, "--format")) -> None:
    """Machine-readable output on stdout: actions, aging, segments, legal-queue or audit."""
    from dunning.documents.exports import export_rows, invoice_audit_trail

    day = parse_as_of(as_of) if as_of else None
    if invoice and (what.value != "audit" or day):
        fail("--invoice goes with `export audit` alone (the trail of one invoice, every date)")
    try:
        check_migrated()
        store = StateStore(state_engine())
        rows = invoice_audit_trail(store, invoice) if invoice else export_rows(store, what.value, day)
    except (LookupError, StateSchemaError) as error:
        fail(str(error))
    except SQLAlchemyError as error:
        fail(f"could not read the state database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    if fmt is Format.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)

