"""Rendering of reminder emails and print-queue letters (dunning.documents.rendering + templates/)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from dunning.config import CompanyIdentity, Step
from dunning.documents.rendering import (
    Renderer, RenderingError, format_date, format_date_list, format_money, format_rate,
)
from dunning.law_fr.statement import Basis, InvoicePenalty, PenaltyStatement, RatePeriod
from dunning.rules.messages import (
    INSTALLMENT_STEPS, MESSAGE_STEPS, Debtor, EarlierReminder, InstallmentDue, InvoiceLine, MessageContext,
    resolve_language,
)
from dunning.sources.config_files import load_settings

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

# The invoice every single-invoice scenario chases: due on 23 November 2026, nothing paid yet.
DUE = date(2026, 11, 23)
# Days from the due date at which each step runs in the standard ladder (DESIGN.md).
STEP_OFFSET = {"pre_due": -5, "reminder_1": 3, "reminder_2": 15, "reminder_3": 30, "formal_notice": 45}
RESPONSE_DAYS = 8
# The ladder steps chase invoices; the installment steps chase one installment of a payment plan.
LADDER_STEPS = tuple(step for step in MESSAGE_STEPS if step not in INSTALLMENT_STEPS)

# What each language must show for that invoice.
EXPECTED = {
    "fr": {
        "amount": "1 234,56 €",
        "due": "23 novembre 2026",
        "days": {
            "pre_due": "échéance dans 5 jours",
            "reminder_1": "3 jours de retard",
            "reminder_2": "15 jours de retard",
            "reminder_3": "30 jours de retard",
            "formal_notice": "45 jours de retard",
        },
    },
    "en": {
        "amount": "€1,234.56",
        "due": "November 23, 2026",
        "days": {
            "pre_due": "due in 5 days",
            "reminder_1": "3 days overdue",
            "reminder_2": "15 days overdue",
            "reminder_3": "30 days overdue",
            "formal_notice": "45 days overdue",
        },
    },
}


def plain(text: str) -> str:
    """Babel writes French amounts with narrow (U+202F) and regular (U+00A0) no-break spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


@pytest.fixture(scope="module")
def company() -> CompanyIdentity:
    return load_settings().company


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES_DIR)


def boulangerie(language: str = "fr", **changes: object) -> Debtor:
    """A B2B customer in Lyon with an email address."""
    debtor = Debtor(
        id="C-0042",
        name="Boulangerie Martin SARL",
        email="compta@boulangerie-martin.fr",
        language=language,
        is_consumer=False,
        address_line="8 place Bellecour",
        postal_code="69002",
        city="Lyon",
        country="FR",
    )
    return replace(debtor, **changes)


def invoice_f0142(as_of: date) -> InvoiceLine:
    """Invoice F2026-0142: 1 234,56 € due on 23 November 2026, nothing paid."""
    return InvoiceLine(
        number="F2026-0142",
        issue_date=date(2026, 10, 24),
        due_date=DUE,
        amount_total=Decimal("1234.56"),
        residual=Decimal("1234.56"),
        days_overdue=(as_of - DUE).days,
    )


def invoice_f0157_half_paid(as_of: date) -> InvoiceLine:
    """Invoice F2026-0157: 500,00 € due on 28 November 2026, half paid."""
    due = date(2026, 11, 28)
    return InvoiceLine(
        number="F2026-0157",
        issue_date=date(2026, 10, 29),
        due_date=due,
        amount_total=Decimal("500.00"),
        residual=Decimal("250.00"),
        days_overdue=(as_of - due).days,
    )


def one_invoice_context(
    company: CompanyIdentity, step: str, language: str = "fr", debtor: Debtor | None = None
) -> MessageContext:
    """The boulangerie's invoice F2026-0142 at `step`, on the day the standard ladder sends it."""
    as_of = DUE + timedelta(days=STEP_OFFSET[step])
    return MessageContext(
        step=step,
        as_of=as_of,
        company=company,
        debtor=debtor or boulangerie(language),
        invoices=(invoice_f0142(as_of),),
        currency="EUR",
        response_deadline=as_of + timedelta(days=RESPONSE_DAYS) if step == "formal_notice" else None,
    )


def two_invoices_context(company: CompanyIdentity, step: str = "reminder_2", language: str = "fr") -> MessageContext:
    """Both of the boulangerie's open invoices grouped in one message on 26 December 2026."""
    as_of = date(2026, 12, 26)
    return MessageContext(
        step=step,
        as_of=as_of,
        company=company,
        debtor=boulangerie(language),
        invoices=(invoice_f0142(as_of), invoice_f0157_half_paid(as_of)),
        currency="EUR",
        response_deadline=as_of + timedelta(days=RESPONSE_DAYS) if step == "formal_notice" else None,
    )


# --- formatting helpers -------------------------------------------------------------------------


def test_format_money_french_uses_babel_spaces_and_trailing_euro_sign():
    formatted = format_money(Decimal("1234.56"), "EUR", "fr")
    assert re.fullmatch(r"1[\u202f\u00a0 ]234,56[\u00a0\u202f ]€", formatted)
    assert plain(formatted) == "1 234,56 €"


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        (Decimal("1234.56"), "EUR", "en", "€1,234.56"),
        (Decimal("1234.56"), "USD", "en", "$1,234.56"),
        (Decimal("0.50"), "EUR", "fr", "0,50 €"),
        (Decimal("1000000"), "EUR", "fr", "1 000 000,00 €"),
        (Decimal("1234.56"), "EUR", "de", "1 234,56 €"),  # unknown language: French
    ],
)
def test_format_money(amount, currency, language, expected):
    assert plain(format_money(amount, currency, language)) == expected


def test_format_money_refuses_float():
    with pytest.raises(TypeError, match="Decimal"):
        format_money(1234.56, "EUR", "fr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "language", "expected"),
    [
        (date(2026, 11, 23), "fr", "23 novembre 2026"),
        (date(2026, 11, 23), "en", "November 23, 2026"),
        (date(2026, 11, 1), "fr", "1er novembre 2026"),
        (date(2026, 11, 1), "en", "November 1, 2026"),
        (date(2026, 11, 23), "it", "23 novembre 2026"),
    ],
)
def test_format_date(day, language, expected):
    assert format_date(day, language) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "fr"), ("en", "en"), ("EN", "en"), ("en-GB", "en"), ("de", "fr"), ("", "fr"), (None, "fr")],
)
def test_resolve_language_falls_back_to_french(language, expected):
    assert resolve_language(language) == expected


# --- the message context --------------------------------------------------------------------------


def test_single_invoice_context_derives_total_reference_and_lateness(company):
    context = one_invoice_context(company, "reminder_2")
    assert context.total_due == Decimal("1234.56")
    assert isinstance(context.total_due, Decimal)
    assert context.payment_reference == "F2026-0142"
    assert context.max_days_overdue == 15


def test_grouped_context_references_debtor_and_date(company):
    context = two_invoices_context(company)
    assert context.total_due == Decimal("1484.56")
    assert context.payment_reference == "C-0042-20261226"
    assert context.max_days_overdue == 33


def test_context_accepts_step_enum_and_keeps_its_plain_value(company):
    context = replace(one_invoice_context(company, "reminder_1"), step=Step.reminder_1)
    assert context.step == "reminder_1"
    assert type(context.step) is str


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"step": "legal_handoff"}, "no message for step 'legal_handoff'"),
        ({"step": "reminder_9"}, "no message for step 'reminder_9'"),
        ({"invoices": ()}, "has no invoice"),
        ({"step": "formal_notice", "response_deadline": None}, "needs a response_deadline"),
    ],
)
def test_context_rejects_what_cannot_be_rendered(company, changes, message):
    with pytest.raises(ValueError, match=message):
        replace(one_invoice_context(company, "reminder_1"), **changes)


# --- every step in every language ------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", LADDER_STEPS)
def test_message_states_amount_invoice_due_date_lateness_payment_and_contact(renderer, company, step, language):
    message = renderer.render_message(one_invoice_context(company, step, language))
    expected = EXPECTED[language]

    subject = plain(message.subject)
    assert "F2026-0142" in subject
    assert expected["amount"] in subject
    assert "\n" not in message.subject

    for part in (plain(message.html), plain(message.text)):
        assert expected["amount"] in part
        assert "F2026-0142" in part
        assert expected["due"] in part
        assert expected["days"][step] in part
        assert company.iban in part
        assert company.bic in part
        assert "F2026-0142" in part  # the payment reference of a single invoice is its number
        assert company.contact.name in part
        assert company.contact.email in part
        assert company.contact.phone in part

    assert message.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in message.html
    assert "<" not in message.text  # plain text carries no markup


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", LADDER_STEPS)
def test_every_step_renders_a_letter_for_the_print_queue(renderer, company, step, language):
    debtor = boulangerie(language, email=None)
    letter = plain(renderer.render_letter(one_invoice_context(company, step, language, debtor)))
    expected = EXPECTED[language]

    assert letter.lstrip().startswith("<!DOCTYPE html>")
    assert "@page" in letter
    for fragment in (
        "Boulangerie Martin SARL",
        "8 place Bellecour",
        "69002 Lyon",
        "F2026-0142",
        expected["amount"],
        expected["due"],
        company.iban,
        company.bic,
        company.contact.email,
    ):
        assert fragment in letter


@pytest.mark.parametrize("language", ["fr", "en"])
def test_templates_never_print_none(renderer, company, language):
    debtor = boulangerie(language, email=None, address_line=None, postal_code=None, city=None, country=None)
    context = one_invoice_context(company, "reminder_1", language, debtor)
    context = replace(context, invoices=(replace(context.invoices[0], issue_date=None),))

    letter = renderer.render_letter(context)
    message = renderer.render_message(context)

    assert "None" not in letter
    assert "None" not in message.html
    assert "None" not in message.text


def test_letter_abroad_ends_with_the_country_name(renderer, company):
    debtor = boulangerie("fr", address_line="Rue Neuve 12", postal_code="1000", city="Bruxelles", country="BE")
    letter = renderer.render_letter(one_invoice_context(company, "reminder_1", "fr", debtor))
    assert "BELGIQUE" in letter


# --- grouped invoices ------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", LADDER_STEPS)
def test_grouped_message_lists_both_invoices_and_the_total(renderer, company, step, language):
    message = renderer.render_message(two_invoices_context(company, step, language))
    total = {"fr": "1 484,56 €", "en": "€1,484.56"}[language]
    half_paid = {"fr": "250,00 €", "en": "€250.00"}[language]

    assert "F2026-0142" in message.subject and "F2026-0157" in message.subject
    assert total in plain(message.subject)
    for part in (plain(message.html), plain(message.text)):
        assert "F2026-0142" in part
        assert "F2026-0157" in part
        assert half_paid in part
        assert total in part
        assert "C-0042-20261226" in part


def test_subject_counts_invoices_beyond_three(renderer, company):
    context = two_invoices_context(company)
    lines = tuple(replace(context.invoices[0], number=f"F2026-09{i:02d}") for i in range(5))
    message = renderer.render_message(replace(context, invoices=lines))
    assert "5 factures" in message.subject
    assert all(line.number in message.text for line in lines)


# --- the formal notice (mise en demeure) ------------------------------------------------------


def test_formal_notice_letter_is_a_mise_en_demeure_with_deadline_and_consequence(renderer, company):
    context = one_invoice_context(company, "formal_notice", "fr", boulangerie("fr"))
    assert context.response_deadline == date(2027, 1, 15)
    letter = plain(renderer.render_letter(context))

    assert "mise en demeure" in letter
    assert "Lettre recommandée avec demande d'avis de réception" in letter
    assert "au plus tard le <strong>15 janvier 2027</strong>" in letter
    # The court its PDF names (a merchant in France: the tribunal de commerce), never a vague one.
    assert (
        "À défaut de paiement dans ce délai, nous saisirons le tribunal de commerce dont le ressort comprend "
        "Lyon (69002) d'une requête en injonction de payer" in letter
    )
    assert "juridiction compétente" not in letter
    assert "1 234,56 €" in letter
    assert company.iban in letter
    assert "Paris, le 7 janvier 2027" in letter
    # The email copy's preamble is not part of the letter itself.
    assert "Copie de la mise en demeure" not in letter


def test_formal_notice_email_is_a_copy_of_the_letter(renderer, company):
    message = renderer.render_message(one_invoice_context(company, "formal_notice", "fr"))
    for part in (message.html, message.text):
        assert "Copie de la mise en demeure" in part
        assert "mise en demeure" in part
        assert "15 janvier 2027" in part
        assert "injonction de payer" in part


def test_formal_notice_in_english(renderer, company):
    context = one_invoice_context(company, "formal_notice", "en")
    letter = plain(renderer.render_letter(context))
    message = renderer.render_message(context)

    assert message.subject.startswith("Formal notice")
    for document in (letter, message.text):
        assert "formal notice" in document
        assert "January 15, 2027" in document
        assert "order for payment" in document


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", LADDER_STEPS)
def test_consumers_get_no_code_de_commerce_reference(renderer, company, step, language):
    debtor = boulangerie(language, name="Mme Claire Dubois", is_consumer=True)
    context = one_invoice_context(company, step, language, debtor)
    message = renderer.render_message(context)
    for document in (message.html, message.text, renderer.render_letter(context)):
        assert "Code de commerce" not in document
        assert "L441" not in document
        # The one article a consumer is told of: the mise en demeure starts interest at the legal rate.
        for civil_code in ("(article 1344-1 du Code civil)", "(article 1344-1 of the French Civil Code)"):
            document = document.replace(civil_code, "") if step == "formal_notice" else document
        assert not re.search(r"\barticles?\b", document, re.IGNORECASE)


# --- tone escalates ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_each_step_has_its_own_subject(renderer, company, language):
    subjects = {
        step: renderer.render_message(one_invoice_context(company, step, language)).subject
        for step in LADDER_STEPS
    }
    assert len(set(subjects.values())) == len(LADDER_STEPS)


@pytest.mark.parametrize(("language", "last_notice"), [("fr", "Dernière relance amiable"), ("en", "Final reminder")])
def test_reminder_3_says_it_is_the_last_amicable_notice(renderer, company, language, last_notice):
    first = renderer.render_message(one_invoice_context(company, "reminder_1", language))
    last = renderer.render_message(one_invoice_context(company, "reminder_3", language))

    assert last.subject != first.subject
    assert last.subject.startswith(last_notice)
    assert last_notice not in first.subject
    next_step = {"fr": "mise en demeure", "en": "formal notice"}[language]
    assert next_step in last.text
    assert next_step not in first.text


def test_french_messages_use_vouvoiement_and_formal_greeting(renderer, company):
    contexts = [one_invoice_context(company, step, "fr") for step in LADDER_STEPS]
    contexts += [plan_7_context(company, step, "fr") for step in INSTALLMENT_STEPS]
    for context in contexts:
        message = renderer.render_message(context)
        assert "Madame, Monsieur," in message.text
        assert not re.search(r"\b(tu|te|ton|ta|tes)\b", message.text)


# --- hostile data is inert ---------------------------------------------------------------------

HOSTILE_NAMES = ["<script>alert(1)</script>", "{{ 7*7 }}", "{% for x in y %}", "Dupont & Fils \"SA\" <b>"]


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_hostile_debtor_name_is_escaped_in_html_and_literal_in_text(renderer, company, hostile, language):
    context = one_invoice_context(company, "reminder_1", language, boulangerie(language, name=hostile))
    message = renderer.render_message(context)
    letter = renderer.render_letter(context)

    assert hostile in message.text
    for html in (message.html, letter):
        assert "<script>" not in html
        assert "<b>" not in html
        if "<" in hostile:
            assert "&lt;" in html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_script_in_debtor_name_is_escaped(renderer, company, language):
    name = "<script>alert(1)</script>"
    context = one_invoice_context(company, "reminder_1", language, boulangerie(language, name=name))
    message = renderer.render_message(context)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in renderer.render_letter(context)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_template_syntax_in_data_is_never_evaluated(renderer, company, language):
    as_of = DUE + timedelta(days=3)
    context = MessageContext(
        step="reminder_1",
        as_of=as_of,
        company=company,
        debtor=boulangerie(language, name="{{ 7*7 }}", id="{% raw %}"),
        invoices=(
            replace(invoice_f0142(as_of), number="{{ 7*7 }}"),
            replace(invoice_f0142(as_of), number="<i>F2026-0143</i>"),
        ),
        currency="EUR",
    )
    message = renderer.render_message(context)

    assert "{{ 7*7 }}" in message.subject
    assert "{{ 7*7 }}" in message.text
    assert "{% raw %}" in message.text  # the grouped payment reference carries the debtor id
    assert "<i>F2026-0143</i>" in message.text
    assert "&lt;i&gt;F2026-0143&lt;/i&gt;" in message.html
    for part in (message.subject, message.html, message.text):
        assert "49" not in part


def test_newline_in_data_cannot_break_the_subject_line(renderer, company):
    context = one_invoice_context(company, "reminder_1")
    context = replace(context, invoices=(replace(context.invoices[0], number="F1\r\nBcc: x@example.org"),))
    subject = renderer.render_message(context).subject
    assert "\n" not in subject and "\r" not in subject


# --- language fallback ------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "es", "", "xx"])
def test_unknown_language_renders_in_french(renderer, company, language):
    message = renderer.render_message(one_invoice_context(company, "reminder_1", language))
    assert "Madame, Monsieur," in message.text
    assert "1 234,56 €" in plain(message.text)
    assert "23 novembre 2026" in message.html


# --- the environment is strict and sandboxed -----------------------------------------------------


def write_step_templates(root: Path, subject: str, body: str = "ok") -> Path:
    (root / "fr").mkdir(parents=True)
    (root / "fr" / "reminder_1.subject.txt").write_text(subject, encoding="utf-8")
    (root / "fr" / "reminder_1.html").write_text(body, encoding="utf-8")
    (root / "fr" / "reminder_1.txt").write_text(body, encoding="utf-8")
    return root


def test_missing_variable_is_an_error_not_a_blank(tmp_path, company):
    renderer = Renderer(write_step_templates(tmp_path, "Relance {{ no_such_variable }}"))
    with pytest.raises(RenderingError, match="fr/reminder_1.subject.txt") as caught:
        renderer.render_message(one_invoice_context(company, "reminder_1"))
    assert isinstance(caught.value.__cause__, UndefinedError)
    assert "C-0042" in str(caught.value)  # the opaque debtor id, for the operator


def test_missing_attribute_is_an_error_not_a_blank(tmp_path, company):
    renderer = Renderer(write_step_templates(tmp_path, "Relance {{ debtor.nickname }}"))
    with pytest.raises(RenderingError) as caught:
        renderer.render_message(one_invoice_context(company, "reminder_1"))
    assert isinstance(caught.value.__cause__, UndefinedError)


def test_printing_none_is_an_error(tmp_path, company):
    renderer = Renderer(write_step_templates(tmp_path, "Relance {{ debtor.email }}"))
    context = one_invoice_context(company, "reminder_1", debtor=boulangerie(email=None))
    with pytest.raises(RenderingError, match="printed None"):
        renderer.render_message(context)


def test_templates_are_sandboxed(tmp_path, company):
    renderer = Renderer(write_step_templates(tmp_path, "{{ debtor.__class__.__mro__ }}"))
    with pytest.raises(RenderingError) as caught:
        renderer.render_message(one_invoice_context(company, "reminder_1"))
    assert isinstance(caught.value.__cause__, SecurityError)


def test_missing_template_is_a_rendering_error(tmp_path, company):
    renderer = Renderer(write_step_templates(tmp_path, "Relance"))
    with pytest.raises(RenderingError, match="fr/reminder_2.subject.txt"):
        renderer.render_message(one_invoice_context(company, "reminder_2"))


def test_templates_dir_must_exist(tmp_path):
    with pytest.raises(RenderingError, match="not found"):
        Renderer(tmp_path / "nowhere")


def test_html_is_autoescaped_and_text_is_not(tmp_path, company):
    root = write_step_templates(tmp_path, "{{ debtor.name }}", body="{{ debtor.name }}")
    context = one_invoice_context(company, "reminder_1", debtor=boulangerie(name="A & B <C>"))
    message = Renderer(root).render_message(context)
    assert message.subject == "A & B <C>"
    assert message.text == "A & B <C>"
    assert message.html == "A &amp; B &lt;C&gt;"


# --- penalties, from reminder_2 on -----------------------------------------------------------------


def statement_f0142(as_of: date, basis: Basis = Basis.commercial, interest: str = "6.16",
                    indemnity: str = "40.00") -> PenaltyStatement:
    """F2026-0142 at reminder_2 (15 days late): 1 234,56 x 12.15 % x 15/365 = 6.1643 -> 6,16, plus 40,00.

    Later steps reuse these figures: the templates print what they are given, which is all these tests check.
    """
    return PenaltyStatement(computed_to=as_of, currency="EUR", lines=(
        InvoicePenalty(
            invoice_number="F2026-0142", principal=Decimal("1234.56"), due_date=DUE, basis=basis,
            periods=(RatePeriod(start=DUE + timedelta(days=1), end=as_of, days=(as_of - DUE).days,
                                principal=Decimal("1234.56"), rate=Decimal("12.15"), interest=Decimal("6.164344")),),
            interest=Decimal(interest), indemnity=Decimal(indemnity),
        ),
    ))


def with_penalties(context: MessageContext, **changes: object) -> MessageContext:
    return replace(context, penalties=statement_f0142(context.as_of, **changes))


def documents(renderer: Renderer, context: MessageContext) -> list[str]:
    message = renderer.render_message(context)
    return [plain(part) for part in (message.html, message.text, renderer.render_letter(context))]


PENALTY_TEXT = {
    "fr": ("Pénalités de retard au", "6,16 €", "Indemnité forfaitaire pour frais de recouvrement", "40,00 €",
           "Total, pénalités et indemnité comprises", "1 280,72 €"),
    "en": ("Late-payment penalties to", "€6.16", "Fixed recovery indemnity", "€40.00",
           "Total including penalties and indemnity", "€1,280.72"),
}
COMMERCIAL_BASIS = {
    "fr": "pénalités de retard au taux de la BCE majoré de 10 points (article L441-10 du Code de commerce) et "
          "indemnité forfaitaire pour frais de recouvrement de 40 € par facture (article D441-5)",
    "en": "late-payment penalties at the ECB rate plus 10 percentage points (article L441-10 of the French "
          "Commercial Code) and a fixed recovery indemnity of €40 per invoice (article D441-5)",
}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["reminder_2", "reminder_3", "formal_notice"])
def test_penalties_and_indemnity_are_shown_from_reminder_2_on(renderer, company, step, language):
    context = with_penalties(one_invoice_context(company, step, language))
    for document in documents(renderer, context):
        for fragment in PENALTY_TEXT[language]:
            assert fragment in document
        assert COMMERCIAL_BASIS[language] in document


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["pre_due", "reminder_1"])
def test_courtesy_steps_never_show_penalties(renderer, company, step, language):
    context = with_penalties(one_invoice_context(company, step, language))
    assert context.shows_penalties is False
    for document in documents(renderer, context):
        assert "L441" not in document
        assert PENALTY_TEXT[language][0] not in document
        assert PENALTY_TEXT[language][5] not in document


@pytest.mark.parametrize("language", ["fr", "en"])
def test_nothing_owed_shows_nothing(renderer, company, language):
    context = with_penalties(one_invoice_context(company, "reminder_3", language), interest="0.00", indemnity="0.00")
    assert context.shows_penalties is False
    for document in documents(renderer, context):
        assert "L441" not in document
        assert PENALTY_TEXT[language][4] not in document


def test_formal_notice_demands_the_total_with_penalties(renderer, company):
    context = with_penalties(one_invoice_context(company, "formal_notice", "fr"))
    letter = plain(renderer.render_letter(context))
    assert (
        "nous vous mettons en demeure de nous régler la somme de <strong>1 280,72 €</strong> "
        "au plus tard le <strong>15 janvier 2027</strong>" in letter
    )
    message = renderer.render_message(context)
    assert "la somme de 1 280,72 € au plus tard le 15 janvier 2027" in plain(message.text)
    # Subject and payment instructions ask for the same sum, not the principal alone.
    assert plain(message.subject).endswith("– 1 280,72 €")
    assert "Montant : 1 280,72 €" in plain(message.text)
    assert "Montant : 1 234,56 €" not in plain(message.text)


@pytest.mark.parametrize(
    ("language", "wording"),
    [
        ("fr", "pénalités de retard au taux contractuel (article L441-10 du Code de commerce)"),
        ("en", "late-payment penalties at the contractual rate (article L441-10 of the French Commercial Code)"),
    ],
)
def test_contractual_rate_wording(renderer, company, language, wording):
    context = with_penalties(one_invoice_context(company, "reminder_2", language), basis=Basis.contractual)
    for document in documents(renderer, context):
        assert wording in document
        assert "BCE" not in document and "ECB" not in document


@pytest.mark.parametrize(
    ("language", "wording", "label"),
    [
        ("fr", "intérêts au taux légal (article 1344-1 du Code civil) à compter de la mise en demeure",
         "Total, intérêts compris"),
        ("en", "interest at the statutory rate (article 1344-1 of the French Civil Code) from the date of the "
               "formal notice", "Total including interest"),
    ],
)
def test_consumer_interest_is_worded_without_commercial_code(renderer, company, language, wording, label):
    # A consumer in France gets a French formal notice whatever the language field: English wording is for one abroad.
    debtor = boulangerie(language, name="Mme Claire Dubois", is_consumer=True, country="FR" if language == "fr" else "GB")
    context = with_penalties(one_invoice_context(company, "formal_notice", language, debtor),
                             basis=Basis.consumer, interest="2.10", indemnity="0.00")
    for document in documents(renderer, context):
        assert wording in document
        assert label in document
        for absent in ("Code de commerce", "Commercial Code", "L441", "D441", "40,00", "40.00", "ndemnity",
                       "ndemnité"):
            assert absent not in document


def test_context_refuses_penalties_of_another_currency_or_invoice(company):
    context = one_invoice_context(company, "reminder_2")
    statement = statement_f0142(context.as_of)
    with pytest.raises(ValueError, match="penalties in USD, invoices in EUR"):
        replace(context, penalties=replace(statement, currency="USD"))
    foreign = replace(statement, lines=(replace(statement.lines[0], invoice_number="F2026-0999"),))
    with pytest.raises(ValueError, match="not in the message: F2026-0999"):
        replace(context, penalties=foreign)


def usd_context(company: CompanyIdentity, step: str, language: str, interest: str = "6.16") -> MessageContext:
    """F2026-0142 billed in US dollars: interest in dollars, the D441-5 indemnity owed in euros apart.

    PenaltyStatement keeps `indemnity` in the invoice currency (0.00 here) and carries the 40.00 EUR in
    separate_eur_indemnity: the total in dollars is 1 234,56 + 6,16 = 1 240,72 $US, without the euros.
    """
    context = replace(one_invoice_context(company, step, language), currency="USD")
    statement = statement_f0142(context.as_of, interest=interest, indemnity="0.00")
    line = replace(statement.lines[0], separate_eur_indemnity=Decimal("40.00"))
    return replace(context, penalties=replace(statement, currency="USD", lines=(line,)))


USD_PENALTY_TEXT = {
    "fr": ("6,16 $US", "Total, pénalités comprises", "1 240,72 $US",
           "En sus, à régler en euros, indemnité forfaitaire pour frais de recouvrement (due en euros quelle que "
           "soit la devise de la facture)", "40,00 €"),
    "en": ("$6.16", "Total including penalties", "$1,240.72",
           "In addition, payable in euros, fixed recovery indemnity (owed in euros whatever the invoice currency)",
           "€40.00"),
}


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["reminder_2", "reminder_3", "formal_notice"])
def test_invoice_in_another_currency_shows_the_euro_indemnity_as_its_own_line(renderer, company, step, language):
    context = usd_context(company, step, language)
    assert context.total_with_penalties == Decimal("1240.72")  # dollars only
    for document in documents(renderer, context):
        for fragment in USD_PENALTY_TEXT[language]:
            assert fragment in document, fragment
        assert COMMERCIAL_BASIS[language] in document  # "40 € per invoice" now matches a line in euros
        # Never a 0,00 indemnity in dollars, nor a total claiming to include an indemnity it leaves out.
        assert not re.search(r"(^|[\s>])(0,00 \$US|\$0\.00)", document)
        assert PENALTY_TEXT[language][4] not in document


def test_formal_notice_in_another_currency_demands_the_euro_indemnity_apart(renderer, company):
    context = usd_context(company, "formal_notice", "fr")
    letter = plain(renderer.render_letter(context))
    assert (
        "de nous régler la somme de <strong>1 240,72 $US</strong>, ainsi que <strong>40,00 €</strong> au titre "
        "de l'indemnité forfaitaire pour frais de recouvrement, au plus tard le <strong>15 janvier 2027</strong>"
        in letter
    )
    text = plain(renderer.render_message(usd_context(company, "formal_notice", "en")).text)
    assert ("formal notice to pay the sum of $1,240.72, together with €40.00 as the fixed recovery indemnity, "
            "no later than January 15, 2027") in text
    assert "Recovery indemnity, in euros: €40.00" in text


def test_a_euro_indemnity_alone_is_still_shown(company):
    # Interest rounds to 0.00 on a tiny dollar invoice, but 40 EUR are owed: the message must say so.
    assert usd_context(company, "reminder_2", "fr", interest="0.00").shows_penalties is True


def test_total_with_penalties_adds_interest_and_indemnity(company):
    context = with_penalties(one_invoice_context(company, "reminder_2"))
    assert context.total_with_penalties == Decimal("1280.72")
    assert one_invoice_context(company, "reminder_2").total_with_penalties == Decimal("1234.56")


@pytest.mark.parametrize(
    ("rate", "language", "expected"),
    [(Decimal("12.15"), "fr", "12,15 %"), (Decimal("12.15"), "en", "12.15%"), (Decimal("3"), "fr", "3,00 %")],
)
def test_format_rate(rate, language, expected):
    assert plain(format_rate(rate, language)) == expected


@pytest.mark.parametrize(("language", "sentence"), [
    ("fr", "au plus tard le 20 mars 2026 ; cet engagement n'a pas été tenu"),
    ("en", "by March 20, 2026; that promise was not kept"),
])
def test_the_step_after_a_broken_promise_says_it_was_not_kept(company, renderer, language, sentence):
    from dataclasses import replace

    context = replace(one_invoice_context(company, "reminder_2", language), broken_promise_on=date(2026, 3, 20))
    message = renderer.render_message(context)
    assert sentence in plain(message.text) and sentence in plain(message.html)
    assert sentence in plain(renderer.render_letter(context))
    kept = renderer.render_message(one_invoice_context(company, "reminder_2", language))
    assert "not kept" not in kept.text and "pas été tenu" not in kept.text


@pytest.mark.parametrize(("language", "sentence"), [
    ("fr", "Si vous réglez avant le 1er avril 2026, vous pouvez déduire un escompte de 1,50 %, soit 18,52 € : "
           "1 216,04 € à régler."),
    ("en", "If you pay by April 1, 2026, you may deduct an early-payment discount of 1.50%, that is €18.52: "
           "€1,216.04 to pay."),
])
def test_reminder_1_can_offer_an_early_payment_discount(company, renderer, language, sentence):
    from dataclasses import replace

    from dunning.rules.messages import EarlyPaymentDiscount

    plain_context = one_invoice_context(company, "reminder_1", language)
    offer = EarlyPaymentDiscount(rate=Decimal("1.50"), amount=Decimal("18.52"), deadline=date(2026, 4, 1))
    message = renderer.render_message(replace(plain_context, discount=offer))
    assert sentence in " ".join(plain(message.text).split()) and sentence in " ".join(plain(message.html).split())
    assert "escompte" not in renderer.render_message(plain_context).text.lower()


# --- payment plans: one installment at a time ---------------------------------------------------

# Plan 7: F2026-0142 and F2026-0163 (1 800,00 € in all) paid in three installments of 600,00 €.
# The first was paid on time against F2026-0142; the second is due on 29 January 2027.
INSTALLMENT_2 = InstallmentDue(plan_id=7, seq=2, count=3, due_date=date(2027, 1, 29), amount=Decimal("600.00"))
# Reminded five days before its due date, and five days after it once unpaid.
INSTALLMENT_AS_OF = {"installment_pre_due": date(2027, 1, 24), "installment_overdue": date(2027, 2, 3)}

INSTALLMENT_EXPECTED = {
    "fr": {
        "amount": "600,00 €",
        "due": "29 janvier 2027",
        "number": "n° 2/3",
        "plan": "plan de règlement n° 7",
        "payment": "Montant de l'échéance : 600,00 €",
        "balance": "1 200,00 €",
        "subject": {
            "installment_pre_due": "Échéance n° 2/3 de votre plan de règlement : 600,00 € au 29 janvier 2027",
            "installment_overdue":
                "Échéance n° 2/3 de votre plan de règlement non réglée : 600,00 € au 29 janvier 2027",
        },
        "plan_ends": "le plan de règlement prendrait fin",
    },
    "en": {
        "amount": "€600.00",
        "due": "January 29, 2027",
        "number": "2 of 3",
        "plan": "payment plan no. 7",
        "payment": "Installment amount: €600.00",
        "balance": "€1,200.00",
        "subject": {
            "installment_pre_due": "Installment 2 of 3 of your payment plan: €600.00 due on January 29, 2027",
            "installment_overdue": "Unpaid installment 2 of 3 of your payment plan: €600.00 due on January 29, 2027",
        },
        "plan_ends": "the payment plan will end",
    },
}


def plan_7_context(company: CompanyIdentity, step: str, language: str = "fr", debtor: Debtor | None = None,
                   installment: InstallmentDue | None = INSTALLMENT_2) -> MessageContext:
    """The boulangerie's plan 7 at `step` for its second installment: 1 200,00 € still open on two invoices."""
    as_of = INSTALLMENT_AS_OF[step]
    f0163_due = date(2026, 12, 10)
    return MessageContext(
        step=step,
        as_of=as_of,
        company=company,
        debtor=debtor or boulangerie(language),
        invoices=(
            replace(invoice_f0142(as_of), residual=Decimal("634.56")),
            InvoiceLine(number="F2026-0163", issue_date=date(2026, 11, 10), due_date=f0163_due,
                        amount_total=Decimal("565.44"), residual=Decimal("565.44"),
                        days_overdue=(as_of - f0163_due).days),
        ),
        currency="EUR",
        installment=installment,
    )


def test_installment_context_references_the_plan_and_installment(company):
    context = plan_7_context(company, "installment_overdue")
    assert context.payment_reference == "PLAN-7-2"
    assert context.total_due == Decimal("1200.00")


@pytest.mark.parametrize("step", INSTALLMENT_STEPS)
def test_installment_step_without_installment_is_refused(company, step):
    with pytest.raises(ValueError, match=f"at {step} needs an installment"):
        plan_7_context(company, step, installment=None)


def test_ladder_step_with_an_installment_is_refused(company):
    with pytest.raises(ValueError, match="at reminder_1 takes no installment"):
        replace(one_invoice_context(company, "reminder_1"), installment=INSTALLMENT_2)


@pytest.mark.parametrize(("seq", "amount"), [(0, "600.00"), (4, "600.00"), (2, "0.00")])
def test_installment_that_cannot_exist_is_refused(seq, amount):
    with pytest.raises(ValueError, match="plan 7: installment"):
        InstallmentDue(plan_id=7, seq=seq, count=3, due_date=date(2027, 1, 29), amount=Decimal(amount))


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", INSTALLMENT_STEPS)
def test_installment_message_states_amount_due_date_number_plan_invoices_payment_and_contact(
    renderer, company, step, language
):
    message = renderer.render_message(plan_7_context(company, step, language))
    expected = INSTALLMENT_EXPECTED[language]

    assert plain(message.subject) == expected["subject"][step]
    for part in (plain(message.html), plain(message.text)):
        for fragment in (expected["amount"], expected["due"], expected["number"], expected["plan"],
                         "F2026-0142", "F2026-0163", expected["balance"], "PLAN-7-2",
                         company.iban, company.bic, company.contact.email, company.contact.phone):
            assert fragment in part, fragment
    # The bank transfer asked for is the installment, not the plan's whole balance.
    assert expected["payment"] in plain(message.text)
    assert "Montant : " not in message.text and "Amount: " not in message.text

    assert message.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in message.html
    assert "<" not in message.text


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", INSTALLMENT_STEPS)
def test_installment_reminder_renders_a_letter_for_the_print_queue(renderer, company, step, language):
    debtor = boulangerie(language, email=None)
    letter = plain(renderer.render_letter(plan_7_context(company, step, language, debtor)))
    expected = INSTALLMENT_EXPECTED[language]

    assert letter.lstrip().startswith("<!DOCTYPE html>")
    assert "@page" in letter
    for fragment in ("69002 Lyon", expected["subject"][step], expected["amount"], expected["due"],
                     expected["plan"], "F2026-0163", "PLAN-7-2", company.iban, company.bic):
        assert fragment in letter, fragment
    assert "None" not in letter


@pytest.mark.parametrize("language", ["fr", "en"])
def test_only_the_overdue_installment_says_the_plan_would_end(renderer, company, language):
    plan_ends = INSTALLMENT_EXPECTED[language]["plan_ends"]
    overdue = renderer.render_message(plan_7_context(company, "installment_overdue", language))
    pre_due = renderer.render_message(plan_7_context(company, "installment_pre_due", language))
    assert plan_ends in overdue.text and plan_ends in overdue.html
    assert plan_ends not in pre_due.text and plan_ends not in pre_due.html


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", INSTALLMENT_STEPS)
def test_installment_reminders_never_show_penalties(renderer, company, step, language):
    context = with_penalties(plan_7_context(company, step, language))
    assert context.shows_penalties is False
    for document in documents(renderer, context):
        assert "L441" not in document
        assert PENALTY_TEXT[language][0] not in document


# --- earlier reminders: quoted with their dates, or not at all (DESIGN.md rule 14) -----------------

REMINDER_1_ON = date(2026, 11, 26)   # the standard ladder's reminder_1 of F2026-0142 (+3)
SECOND_ON = date(2026, 12, 3)        # a second one, before the reminder_2 of 8 December
QUOTED = {
    "fr": {1: "Malgré notre rappel du 26 novembre 2026, la facture F2026-0142",
           2: "Malgré nos rappels des 26 novembre et 3 décembre 2026, la facture F2026-0142"},
    "en": {1: "Despite our reminder of November 26, 2026, invoice F2026-0142",
           2: "Despite our reminders of November 26 and December 3, 2026, invoice F2026-0142"},
}
NEUTRAL = {"fr": "Sauf erreur de notre part, la facture F2026-0142", "en": "According to our records, invoice F2026-0142"}
# Every way the templates ever claimed an earlier reminder.
CLAIMS = ("Malgré", "précédent", "relances amiables", "Deuxième relance", "Despite", "previous", "Second reminder")


def sent_before(*days: date) -> tuple[EarlierReminder, ...]:
    steps = ("reminder_1", "reminder_2", "reminder_3")
    return tuple(EarlierReminder(step=steps[index], sent_on=day) for index, day in enumerate(days))


def every_part(renderer: Renderer, context: MessageContext) -> list[str]:
    message = renderer.render_message(context)
    return [plain(part) for part in (message.subject, message.html, message.text, renderer.render_letter(context))]


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["reminder_2", "reminder_3", "formal_notice"])
def test_a_first_contact_says_nothing_of_earlier_reminders(renderer, company, step, language):
    context = with_penalties(one_invoice_context(company, step, language))
    assert context.earlier_reminders == ()
    parts = every_part(renderer, context)
    for part in parts:
        for claim in CLAIMS:
            assert claim not in part, claim
    assert all(NEUTRAL[language] in part for part in parts[1:])


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["reminder_2", "reminder_3", "formal_notice"])
@pytest.mark.parametrize("count", [1, 2])
def test_earlier_reminders_are_quoted_with_their_dates(renderer, company, step, language, count):
    context = replace(one_invoice_context(company, step, language),
                      earlier_reminders=sent_before(REMINDER_1_ON, SECOND_ON)[:count])
    for part in every_part(renderer, context)[1:]:
        assert QUOTED[language][count] in part
        assert NEUTRAL[language] not in part


@pytest.mark.parametrize("language", ["fr", "en"])
def test_reminder_2_is_called_the_second_only_after_a_first(renderer, company, language):
    context = one_invoice_context(company, "reminder_2", language)
    second = {"fr": "Deuxième relance", "en": "Second reminder"}[language]
    assert not renderer.render_message(context).subject.startswith(second)
    quoted = replace(context, earlier_reminders=sent_before(REMINDER_1_ON))
    assert renderer.render_message(quoted).subject.startswith(second)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["pre_due", "reminder_1"])
def test_courtesy_and_first_reminders_never_claim_an_earlier_one(renderer, company, step, language):
    for part in every_part(renderer, one_invoice_context(company, step, language)):
        for claim in CLAIMS:
            assert claim not in part, claim


def test_a_grouped_message_mentions_a_shared_reminder_once(renderer, company):
    """Both invoices had their reminder_1 in one message of 26 November: one reminder, not two."""
    shared = (EarlierReminder("reminder_1", REMINDER_1_ON), EarlierReminder(Step.reminder_1, REMINDER_1_ON))
    context = replace(two_invoices_context(company, "reminder_2"), earlier_reminders=shared)
    assert context.earlier_reminders == (EarlierReminder("reminder_1", REMINDER_1_ON),)
    text = plain(renderer.render_message(context).text)
    assert "Malgré notre rappel du 26 novembre 2026, les factures ci-dessous restent impayées" in text


def test_reminders_of_one_day_at_two_steps_are_two_reminders_of_one_date(renderer, company):
    context = replace(two_invoices_context(company, "reminder_3"),
                      earlier_reminders=(EarlierReminder("reminder_2", SECOND_ON),
                                         EarlierReminder("reminder_1", SECOND_ON)))
    assert "Malgré nos rappels du 3 décembre 2026, les factures" in plain(renderer.render_message(context).text)


def test_a_message_cannot_quote_a_reminder_of_its_own_date_or_later(company):
    context = one_invoice_context(company, "reminder_2")
    with pytest.raises(ValueError, match="cannot quote a reminder of 2026-12-08"):
        replace(context, earlier_reminders=sent_before(context.as_of))


@pytest.mark.parametrize(
    ("days", "fr", "en"),
    [
        ([date(2026, 8, 4)], "du 4 août 2026", "of August 4, 2026"),
        ([date(2026, 8, 1)], "du 1er août 2026", "of August 1, 2026"),
        ([date(2026, 8, 19), date(2026, 8, 4)], "des 4 et 19 août 2026", "of August 4 and 19, 2026"),
        ([date(2026, 7, 28), date(2026, 8, 4)], "des 28 juillet et 4 août 2026", "of July 28 and August 4, 2026"),
        ([date(2026, 7, 4), date(2026, 8, 1), date(2026, 9, 1)], "des 4 juillet, 1er août et 1er septembre 2026",
         "of July 4, August 1 and September 1, 2026"),
        ([date(2025, 12, 20), date(2026, 1, 4)], "du 20 décembre 2025 et du 4 janvier 2026",
         "of December 20, 2025 and January 4, 2026"),
        ([date(2026, 8, 4), date(2026, 8, 4)], "du 4 août 2026", "of August 4, 2026"),
    ],
)
def test_format_date_list(days, fr, en):
    assert format_date_list(days, "fr") == fr
    assert format_date_list(days, "en") == en


# --- the formal notice's email copy is its letter -------------------------------------------------


def test_formal_notice_copy_asks_for_the_total_everywhere_it_states_an_amount(renderer, company):
    """Subject, request and payment box: 1 280,72 € (principal 1 234,56 + penalties 6,16 + 40,00), not 1 234,56."""
    context = with_penalties(one_invoice_context(company, "formal_notice", "fr"))
    assert context.notice.total == context.total_with_penalties == Decimal("1280.72")
    message = renderer.render_message(context)
    assert plain(message.subject) == "Mise en demeure de payer – facture F2026-0142 – 1 280,72 €"
    for part in (" ".join(plain(message.text).split()), " ".join(plain(re.sub(r"<[^>]+>", " ", message.html)).split())):
        assert "la somme de 1 280,72 € au plus tard le 15 janvier 2027" in part
        assert "Montant 1 280,72 €" in part.replace(" : ", " ")
        assert "Principal restant dû 1 234,56 €" in part.replace(" : ", " ")
        assert "nous saisirons le tribunal de commerce dont le ressort comprend Lyon (69002)" in part


@pytest.mark.parametrize(("debtor", "court"), [
    (boulangerie("fr"), "le tribunal de commerce dont le ressort comprend Lyon (69002) d'une requête en injonction "
                        "de payer"),
    (boulangerie("fr", is_consumer=True), "le tribunal judiciaire dont le ressort comprend Lyon (69002) d'une requête "
                                          "en injonction de payer"),
    (boulangerie("fr", country="BE"), "la juridiction compétente d'une demande en paiement"),
])
def test_formal_notice_copy_names_the_court_of_its_letter(renderer, company, debtor, court):
    context = one_invoice_context(company, "formal_notice", "fr", debtor)
    message = renderer.render_message(context)
    for part in (message.text, re.sub(r"<[^>]+>", " ", message.html)):
        assert f"À défaut de paiement dans ce délai, nous saisirons {court}." in " ".join(plain(part).split())
