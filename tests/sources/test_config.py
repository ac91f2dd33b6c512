"""Configuration (dunning.config): the shipped files load; a wrong key or value names the file and the key."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
import yaml

from builders import CONFIG_DIR
from dunning.config import ConfigError, Segment, Step, StepAction
from dunning.sources.config_files import load_settings

# The ladder of DESIGN.md ("Default collection ladder"), days from the due date.
DESIGN_LADDER = {
    "reliable": {"reminder_1": 5, "reminder_2": 20, "reminder_3": 35, "formal_notice": 50, "legal_handoff": 65},
    "standard": {"pre_due": -5, "reminder_1": 3, "reminder_2": 15, "reminder_3": 30, "formal_notice": 45,
                 "legal_handoff": 60},
    "chronic": {"pre_due": -7, "reminder_1": 1, "reminder_2": 10, "reminder_3": 20, "formal_notice": 30,
                "legal_handoff": 45},
    "high_risk": {"pre_due": -7, "reminder_1": 1, "reminder_2": 7, "reminder_3": 15, "formal_notice": 21,
                  "legal_handoff": 35},
    "strategic": {"pre_due": -5, "reminder_1": 5, "reminder_2": 20, "reminder_3": 35, "formal_notice": 50},
}


@pytest.fixture(autouse=True)
def no_environment_overrides(monkeypatch):
    monkeypatch.delenv("DUNNING_CONFIG_DIR", raising=False)
    monkeypatch.delenv("DUNNING_FROM_EMAIL", raising=False)


@pytest.fixture
def config_copy(tmp_path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    return folder


def edit_yaml(path: Path, change: Callable[[dict], None]) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def config_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(folder)
    return str(raised.value)


# -- the shipped configuration ---------------------------------------------------------------------

def test_the_shipped_config_loads_with_the_design_ladder():
    settings = load_settings()

    policy = settings.policy
    assert settings.config_dir == CONFIG_DIR
    assert policy.tolerance == Decimal("1.00")
    for segment, steps in DESIGN_LADDER.items():
        ladder = policy.ladder.for_segment(Segment(segment))
        assert {step.value: ladder.rule(step).days for step in Step if ladder.rule(step)} == steps, segment
    strategic = policy.ladder.strategic
    assert strategic.reminder_3.action is StepAction.phone_task
    assert strategic.formal_notice.action is StepAction.approval
    assert strategic.legal_handoff is None
    gates = policy.gates
    assert (gates.formal_notice_after_reminder_days, gates.legal_handoff_after_formal_notice_days) == (7, 10)
    assert policy.limits.max_messages_per_debtor_per_day == 5
    assert policy.formal_notice.response_days == 8
    assert policy.first_contact_step is Step.reminder_1
    assert policy.min_days_between_messages == 7
    assert policy.legal.min_principal == Decimal("250.00")
    assert settings.company.siren == "552100554"


def test_dunning_config_dir_points_at_another_folder(config_copy, monkeypatch):
    edit_yaml(config_copy / "policy.yaml", lambda p: p["limits"].update(max_messages_per_debtor_per_day=3))
    monkeypatch.setenv("DUNNING_CONFIG_DIR", str(config_copy))

    assert load_settings().policy.limits.max_messages_per_debtor_per_day == 3


def test_dunning_from_email_overrides_the_sender(monkeypatch):
    monkeypatch.setenv("DUNNING_FROM_EMAIL", "factures@exemple.fr")

    assert load_settings(CONFIG_DIR).company.from_email == "factures@exemple.fr"


# -- wrong keys and values ------------------------------------------------------------------------------

def _set(*path_and_value):
    *path, key, value = path_and_value

    def change(data: dict) -> None:
        for part in path:
            data = data[part]
        data[key] = value
    return change


@pytest.mark.parametrize(
    ("change", "dotted_key", "says"),
    [
        pytest.param(_set("ladder", "standard", "reminder_4", 50), "ladder.standard.reminder_4", "unknown key",
                     id="unknown-ladder-step"),
        pytest.param(_set("limits", "max_mesages_per_debtor_per_day", 5), "limits.max_mesages_per_debtor_per_day",
                     "unknown key", id="misspelt-limit"),
        pytest.param(_set("dispatch", "max_workers", 0), "dispatch.max_workers", "greater than or equal to 1",
                     id="no-workers"),
        pytest.param(_set("formal_notice", "response_days", 20), "formal_notice.response_days",
                     "less than or equal to 15", id="response-days-beyond-15"),
        pytest.param(_set("formal_notice", "response_days", 5), "formal_notice.response_days",
                     "greater than or equal to 8", id="response-days-under-8"),
        pytest.param(_set("ladder", "standard", "reminder_2", 2), "ladder.standard",
                     "reminder_2 (2 days) must come after reminder_1 (3 days)", id="days-not-increasing"),
        pytest.param(_set("ladder", "chronic", "formal_notice", 20), "ladder.chronic",
                     "formal_notice (20 days) must come after reminder_3 (20 days)", id="two-steps-on-one-day"),
        pytest.param(_set("ladder", "standard", "pre_due", 2), "ladder.standard.pre_due", "negative",
                     id="pre-due-after-the-due-date"),
        pytest.param(_set("ladder", "standard", "pre_due", 5), "ladder.standard.pre_due", "negative",
                     id="pre-due-after-reminder-1"),
        pytest.param(_set("ladder", "reliable", "reminder_1", {"days": 5, "action": "fax"}),
                     "ladder.reliable.reminder_1.action", "send", id="unknown-action"),
        pytest.param(_set("tolerance", "a lot"), "tolerance", "decimal", id="tolerance-not-a-number"),
        pytest.param(lambda p: p["ladder"].pop("chronic"), "ladder.chronic", "required", id="segment-missing"),
        pytest.param(_set("dispatch", "resend_interrupted_after_minutes", 0), "dispatch.resend_interrupted_after_minutes",
                     "greater than or equal to 1", id="resend-at-once"),
        pytest.param(lambda p: p["dispatch"].update(timeout_seconds=120, resend_interrupted_after_minutes=3),
                     "dispatch", "at least 2 x timeout_seconds (240 s)", id="resend-before-the-answer-could-come"),
        pytest.param(_set("first_contact_step", "pre_due"), "first_contact_step",
                     "pre_due cannot be a first contact: use one of reminder_1, reminder_2, reminder_3",
                     id="first-contact-pre-due"),
        pytest.param(_set("first_contact_step", "formal_notice"), "first_contact_step",
                     "formal_notice cannot be a first contact", id="first-contact-formal-notice"),
        pytest.param(_set("first_contact_step", "legal_handoff"), "first_contact_step",
                     "legal_handoff cannot be a first contact", id="first-contact-legal-handoff"),
        pytest.param(_set("first_contact_step", "reminder_4"), "first_contact_step", "reminder_1",
                     id="first-contact-unknown-step"),
        pytest.param(_set("min_days_between_messages", -1), "min_days_between_messages",
                     "greater than or equal to 0", id="negative-spacing"),
        pytest.param(_set("legal", "min_principal", "-1.00"), "legal.min_principal", "greater than or equal to 0",
                     id="negative-small-claim-threshold"),
        pytest.param(_set("legal", "min_principle", "250.00"), "legal.min_principle", "unknown key",
                     id="misspelt-small-claim-threshold"),
        pytest.param(_set("webhook", "max_clock_skew_seconds", 0), "webhook.max_clock_skew_seconds",
                     "greater than or equal to 30", id="no-clock-skew-allowed"),
        pytest.param(_set("webhook", "max_body_bytes", 1024 ** 3), "webhook.max_body_bytes",
                     "less than or equal to 67108864", id="webhook-body-of-a-gigabyte"),
        pytest.param(_set("webhook", "max_skew", 600), "webhook.max_skew", "unknown key", id="misspelt-webhook-key"),
    ],
)
def test_a_wrong_policy_names_the_file_and_the_key(config_copy, change, dotted_key, says):
    path = edit_yaml(config_copy / "policy.yaml", change)

    message = config_error(config_copy)

    assert str(path) in message
    assert f"{dotted_key}:" in message, message
    assert says.lower() in message.lower(), message


@pytest.mark.parametrize(
    ("change", "dotted_key", "says"),
    [
        pytest.param(_set("iban", "FR76 3000 6000 0112 3456 7890 188"), "iban", "not a valid IBAN",
                     id="iban-bad-checksum"),
        pytest.param(_set("iban", "FR76"), "iban", "not a valid IBAN", id="iban-too-short"),
        pytest.param(_set("siren", "55210055"), "siren", "pattern", id="siren-eight-digits"),
        pytest.param(_set("contact", "email", "recouvrement.ateliers-demo.fr"), "contact.email", "pattern",
                     id="contact-email-without-at"),
        pytest.param(_set("address", "town", "Paris"), "address.town", "unknown key", id="unknown-address-key"),
    ],
)
def test_a_wrong_company_identity_names_the_file_and_the_key(config_copy, change, dotted_key, says):
    path = edit_yaml(config_copy / "company.yaml", change)

    message = config_error(config_copy)

    assert str(path) in message
    assert f"{dotted_key}:" in message, message
    assert says.lower() in message.lower(), message


@pytest.mark.parametrize("unknown", ["99", "67", "Zone D", ""])
def test_an_unknown_holiday_subdivision_is_refused_at_load_with_the_valid_ones(config_copy, unknown):
    path = edit_yaml(config_copy / "policy.yaml", _set("calendar", "subdivision", unknown))

    message = config_error(config_copy)

    assert f"{path}: calendar.subdivision:" in message, message
    assert f"{unknown!r} is not a French holiday subdivision" in message
    # The codes the holidays package knows, and where the Alsace-Moselle departements fit in.
    assert all(code in message for code in ("'57'", "'6AE'", "971", "974")), message
    assert "Bas-Rhin 67" in message and "Haut-Rhin 68" in message


@pytest.mark.parametrize(("written", "loaded"), [("57", "57"), (57, "57"), ("6AE", "6AE"), ("974", "974"),
                                                 (None, None)],
                         ids=["moselle", "moselle-unquoted", "alsace", "reunion", "metropolitan"])
def test_a_known_holiday_subdivision_loads(config_copy, written, loaded):
    edit_yaml(config_copy / "policy.yaml", _set("calendar", "subdivision", written))

    assert load_settings(config_copy).policy.calendar.subdivision == loaded


@pytest.mark.parametrize("step", ["reminder_1", "reminder_2", "reminder_3"])
def test_a_first_contact_may_start_at_any_amicable_reminder(config_copy, step):
    edit_yaml(config_copy / "policy.yaml", _set("first_contact_step", step))

    assert load_settings(config_copy).policy.first_contact_step is Step(step)


def test_every_problem_of_a_file_is_reported_at_once(config_copy):
    def two_mistakes(policy: dict) -> None:
        policy["dispatch"]["max_workers"] = 0
        policy["ladder"]["standard"]["reminder_4"] = 50

    edit_yaml(config_copy / "policy.yaml", two_mistakes)

    message = config_error(config_copy)

    assert "dispatch.max_workers:" in message and "ladder.standard.reminder_4:" in message


def test_the_shorthand_and_the_long_form_of_a_step_are_the_same(config_copy):
    edit_yaml(config_copy / "policy.yaml", _set("ladder", "standard", "reminder_1", {"days": 3}))

    assert load_settings(config_copy).policy.ladder.standard == load_settings(CONFIG_DIR).policy.ladder.standard


# -- unreadable files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["policy.yaml", "company.yaml"])
def test_a_missing_file_is_a_clear_config_error(config_copy, name):
    (config_copy / name).unlink()

    message = config_error(config_copy)

    assert str(config_copy / name) in message
    assert "file not found" in message


def test_a_missing_config_folder_is_a_clear_config_error(tmp_path):
    message = config_error(tmp_path / "nowhere")

    assert str(tmp_path / "nowhere" / "policy.yaml") in message
    assert "file not found" in message


def test_invalid_yaml_is_a_clear_config_error(config_copy):
    path = config_copy / "policy.yaml"
    path.write_text("tolerance: 1.00\nladder: {standard: [unclosed\n", encoding="utf-8")

    message = config_error(config_copy)

    assert str(path) in message
    assert "not valid YAML" in message


@pytest.mark.parametrize("content", ["", "- a list\n- not a mapping\n", "just text\n"],
                         ids=["empty", "a-list", "a-scalar"])
def test_a_file_that_is_not_a_mapping_is_a_clear_config_error(config_copy, content):
    path = config_copy / "company.yaml"
    path.write_text(content, encoding="utf-8")

    message = config_error(config_copy)

    assert str(path) in message
    assert "expected a mapping" in message
