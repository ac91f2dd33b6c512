"""Reading the configuration files of config/ (or DUNNING_CONFIG_DIR) into their models.

The models themselves (dunning.config, dunning.law_fr.penalties) are pure; this is where files are opened.
A file that is missing, not YAML or not valid raises ConfigError naming the file and the dotted key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dunning.config import CompanyIdentity, ConfigError, Policy
from dunning.law_fr.penalties import CONTRACTS_FILE, LEGAL_TABLES_FILE, ContractRates, LegalTables
from dunning.paths import PROJECT_DIR

__all__ = ["Settings", "default_config_dir", "load_yaml_model", "load_settings", "load_legal_tables",
           "load_contract_rates", "shown_path"]


@dataclass(frozen=True)
class Settings:
    policy: Policy
    company: CompanyIdentity
    config_dir: Path


def default_config_dir() -> Path:
    env = os.environ.get("DUNNING_CONFIG_DIR")
    return Path(env) if env else PROJECT_DIR / "config"


_M = TypeVar("_M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[_M]) -> _M:
    """Parse one YAML file into a strict model; errors name the file and the dotted key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{path}: {key}: {message}")
        raise ConfigError("\n".join(problems)) from None


def load_settings(config_dir: Path | None = None) -> Settings:
    folder = config_dir or default_config_dir()
    policy = load_yaml_model(folder / "policy.yaml", Policy)
    company = load_yaml_model(folder / "company.yaml", CompanyIdentity)
    from_email = os.environ.get("DUNNING_FROM_EMAIL")
    if from_email:
        company = company.model_copy(update={"from_email": from_email})
    return Settings(policy=policy, company=company, config_dir=folder)  # type: ignore[arg-type]


def shown_path(path: Path) -> str:
    """The file as the operator would type it: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_legal_tables(config_dir: Path | None = None) -> LegalTables:
    path = (config_dir or default_config_dir()) / LEGAL_TABLES_FILE
    tables = load_yaml_model(path, LegalTables)
    tables._source = Path(shown_path(path))
    return tables


def load_contract_rates(config_dir: Path | None = None) -> dict[str, Decimal]:
    """Contractual rates by debtor id. Checked against the legal floor when applied, half-year by half-year."""
    path = (config_dir or default_config_dir()) / CONTRACTS_FILE
    return dict(load_yaml_model(path, ContractRates).late_interest_rates or {})
