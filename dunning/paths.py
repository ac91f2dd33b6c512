"""Where the product keeps its files: templates beside the code, data under var/."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_DIR", "TEMPLATES_DIR", "default_var_dir", "outbox_dir", "print_queue_dir", "legal_dir"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"


def default_var_dir() -> Path:
    """Where the embedded databases, the outbox, the print queue and the dossiers live."""
    return Path(os.environ.get("DUNNING_VAR_DIR", Path.cwd() / "var"))


def outbox_dir() -> Path:
    return default_var_dir() / "outbox"


def print_queue_dir() -> Path:
    return default_var_dir() / "print_queue"


def legal_dir() -> Path:
    """One folder per legal case: its dossier for the lawyer."""
    return default_var_dir() / "legal"
