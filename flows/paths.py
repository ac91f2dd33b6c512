"""Where the product keeps its files: templates beside the code, data under var/."""

from __future__ import annotations

from pathlib import Path

from dunning.accounting import default_var_dir

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"


def outbox_dir() -> Path:
    return default_var_dir() / "outbox"


def print_queue_dir() -> Path:
    return default_var_dir() / "print_queue"
