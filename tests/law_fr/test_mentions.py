"""What a letter says about its sender: the creditor's mandatory mentions on the formal notice and the
dossier (C. com. R123-237), the consumer mediator on every letter to a consumer (C. conso L616-1),
and a formal notice to a consumer in France written in French, its English copy as an annex."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from dunning.config import CompanyIdentity, ConfigError, Step
from dunning.documents.dossier import write_dossier
from dunning.documents.exports import export_rows
from dunning.documents.letters import FormalNoticeLetter, render_formal_notice_pdf
from dunning.documents.rendering import Renderer
from dunning.law_fr.mentions import MissingMentions
from dunning.rules.messages import MessageContext
from dunning.sources.config_files import load_yaml_model
from dunning.state.store import StateStore, state_engine
from ladder import run_the_ladder
from letters import (
    TEMPLATES_DIR, ateliers_demo, b2b_case, b2b_letter, boulangerie, consumer_letter, page_count, text_of,
)

ALL_MENTIONS = "legal_form, share_capital, rcs_city, signatory"


def without(company: CompanyIdentity, *keys: str) -> CompanyIdentity:
    return company.model_copy(update={key: None for key in keys})


# --- config/company.yaml ------------------------------------------------------------------------


def company_file(tmp_path, **changes):
    data = yaml.safe_load((TEMPLATES_DIR.parent / "config" / "company.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "company.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_company_file_has_every_mention_and_a_mediator():
    company = load_yaml_model(TEMPLATES_DIR.parent / "config" / "company.yaml", CompanyIdentity)
    assert company.missing(("legal_form", "share_capital", "rcs_city", "signatory", "consumer_mediator")) == []
    assert str(company.share_capital) == "50000.00"


def test_the_mentions_are_optional_in_the_file(tmp_path):
    path = company_file(tmp_path, legal_form=None, share_capital=None, rcs_city=None, signatory=None,
                        consumer_mediator=None)
    company = load_yaml_model(path, CompanyIdentity)
    assert company.missing(("legal_form", "share_capital", "rcs_city", "signatory")) == ALL_MENTIONS.split(", ")


@pytest.mark.parametrize(("changes", "error"), [
    ({"share_capital": "0"}, "share_capital: Input should be greater than 0"),
    ({"share_capital": "50 000"}, "share_capital: Input should be a valid decimal"),
    ({"signatory": {"name": "Marie Dupont"}}, "signatory.capacity: Field required"),
    ({"consumer_mediator": {"name": "CM2C", "website": "cm2c.net"}}, "consumer_mediator.website: String should match"),
    ({"consumer_mediator": {"name": "CM2C", "website": "https://cm2c.net", "phone": "1"}},
     "consumer_mediator.phone: unknown key"),
])
def test_a_wrong_mention_names_the_file_and_the_key(tmp_path, changes, error):
    path = company_file(tmp_path, **changes)
    with pytest.raises(ConfigError) as refused:
        load_yaml_model(path, CompanyIdentity)
    assert f"{path}: {error}" in str(refused.value)


# --- point 9: the creditor's mentions on the formal notice and the dossier ---------------------


def test_formal_notice_names_rcs_with_the_greffe_city_form_capital_signatory_and_debtor_siren():
    """RCS Paris 552 100 554, SAS au capital de 50 000,00 €, signed by Marie Dupont, directrice financière;
    the debtor's SIREN 801 234 567 under its address."""
    text = text_of(render_formal_notice_pdf(b2b_letter(boulangerie(siren="801234567")), TEMPLATES_DIR))
    assert "SAS au capital de 50 000,00 € – RCS Paris 552 100 554" in text
    assert "Boulangerie Martin SARL 8 place Bellecour 69002 Lyon SIREN 801 234 567" in text
    assert "Marie Dupont, directrice financière Ateliers Demo SAS" in text


def test_formal_notice_without_a_siren_for_the_debtor_prints_none():
    text = text_of(render_formal_notice_pdf(b2b_letter(boulangerie(siren=None)), TEMPLATES_DIR))
    assert "69002 Lyon Paris, le 7 janvier 2026" in text


def test_formal_notice_in_english_names_the_same_mentions():
    letter = b2b_letter(boulangerie(language="en", siren="801234567"))
    text = text_of(render_formal_notice_pdf(letter, TEMPLATES_DIR))
    assert "SAS with a share capital of €50,000.00 – RCS Paris 552 100 554" in text
    assert "SIREN 801 234 567" in text and "Marie Dupont, directrice financière" in text


@pytest.mark.parametrize("missing", [("legal_form", "share_capital", "rcs_city", "signatory"), ("signatory",),
                                     ("rcs_city", "share_capital")])
def test_a_formal_notice_without_its_mentions_is_refused_naming_every_missing_key(missing):
    context = replace(b2b_letter().context, company=without(ateliers_demo(), *missing))
    with pytest.raises(MissingMentions) as refused:
        FormalNoticeLetter(context=context, place="Paris", letter_date=context.as_of)
    named = [key for key in ALL_MENTIONS.split(", ") if key in missing]
    assert str(refused.value) == (
        f"config/company.yaml: {', '.join(named)} missing: the formal notice to debtor C-0042 cannot be printed "
        f"without {'them' if len(named) > 1 else 'it'}; fill in config/company.yaml and the next run sends it")
    assert isinstance(refused.value, ConfigError)   # what the dispatcher and the dossier task record as a failure


def test_the_dossier_summary_json_carries_the_mentions(tmp_path):
    import json

    summary = json.loads((write_dossier(b2b_case(), tmp_path, TEMPLATES_DIR) / "summary.json").read_text("utf-8"))
    creditor = summary["creditor"]
    assert (creditor["legal_form"], creditor["share_capital"], creditor["rcs_city"]) == ("SAS", "50000.00", "Paris")
    assert creditor["signatory"] == {"name": "Marie Dupont", "capacity": "directrice financière"}


def test_a_dossier_without_the_mentions_is_refused_and_writes_nothing(tmp_path):
    ctx = replace(b2b_case(), company=without(ateliers_demo(), "signatory"))
    with pytest.raises(MissingMentions, match=r"signatory missing: the dossier of case 12 cannot be printed"):
        write_dossier(ctx, tmp_path, TEMPLATES_DIR)
    assert list(tmp_path.iterdir()) == []


def test_reminders_go_out_without_the_mentions_and_say_the_siren():
    company = without(ateliers_demo(), "legal_form", "share_capital", "rcs_city", "signatory")
    context = replace(b2b_letter().context, step="reminder_1", response_deadline=None, penalties=None,
                      company=company)
    message = Renderer(TEMPLATES_DIR).render_message(context)
    assert "SIREN 552 100 554" in message.text and "RCS" not in message.text


# --- point 10: the court of the district --------------------------------------------------------


def test_no_document_names_a_court_by_its_town(tmp_path):
    """'tribunal de commerce dont le ressort comprend Lyon (69002)', never 'tribunal de commerce de Lyon'."""
    notice = text_of(render_formal_notice_pdf(b2b_letter(), TEMPLATES_DIR))
    dossier = text_of((write_dossier(b2b_case(), tmp_path, TEMPLATES_DIR) / "dossier.pdf").read_bytes())
    english = text_of(render_formal_notice_pdf(b2b_letter(boulangerie(language="en")), TEMPLATES_DIR))
    assert "le tribunal de commerce dont le ressort comprend Lyon (69002) d'une requête" in notice
    assert "devant le tribunal de commerce dont le ressort comprend Lyon (69002)" in dossier
    assert "the competent court, the tribunal de commerce whose district covers Lyon (69002), for an order" in english
    for text in (notice, dossier, english):
        assert not re.search(r"tribunal (de commerce|judiciaire) (de|of|du) ", text)


def test_the_legal_queue_names_the_court_by_its_district():
    from dunning.law_fr.procedure import recommended_procedure
    from dunning.law_fr.procedure import procedure_text

    text = procedure_text(recommended_procedure(b2b_case()))
    assert text.startswith("injonction de payer - tribunal de commerce whose district covers Lyon (69002) (Cerfa n°12946)")
    unknown = replace(b2b_case(), debtor=replace(b2b_case().debtor, city=None, postal_code="69002"))
    assert "tribunal de commerce whose district covers the debtor's domicile (Cerfa" in procedure_text(
        recommended_procedure(unknown))


# --- point 12: consumers and their mediator -----------------------------------------------------


def consumer_reminder(language: str, company: CompanyIdentity | None = None) -> MessageContext:
    context = consumer_letter().context
    return replace(context, step="reminder_1", response_deadline=None, penalties=None,
                   company=company or ateliers_demo(), debtor=replace(context.debtor, language=language))


@pytest.mark.parametrize(("language", "sentence"), [
    ("fr", "vous pouvez recourir gratuitement au médiateur de la consommation dont nous relevons : "
           "Médiation Démo Consommation, https://mediation-demo.example."),
    ("en", "you may refer it free of charge to the consumer mediator we fall under: Médiation Démo Consommation, "
           "https://mediation-demo.example."),
])
def test_a_consumer_reminder_names_the_consumer_mediator(language, sentence):
    renderer = Renderer(TEMPLATES_DIR)
    message = renderer.render_message(consumer_reminder(language))
    letter = renderer.render_letter(consumer_reminder(language))
    for part in (message.text, re.sub(r"<[^>]+>", "", message.html), re.sub(r"<[^>]+>", "", letter)):
        assert sentence in " ".join(part.split())


def test_a_business_is_not_told_about_the_consumer_mediator_and_needs_none():
    context = replace(b2b_letter().context, step="reminder_1", response_deadline=None, penalties=None,
                      company=without(ateliers_demo(), "consumer_mediator"))
    message = Renderer(TEMPLATES_DIR).render_message(context)
    assert "médiateur" not in message.text


def test_a_consumer_letter_without_a_mediator_is_refused_naming_the_key():
    context = consumer_reminder("fr", without(ateliers_demo(), "consumer_mediator"))
    with pytest.raises(MissingMentions, match=r"^config/company.yaml: consumer_mediator missing: a reminder_1 to "
                                              r"consumer P-0310 cannot be printed without it"):
        Renderer(TEMPLATES_DIR).render_message(context)


def test_a_consumer_formal_notice_names_the_mediator():
    text = text_of(render_formal_notice_pdf(consumer_letter(), TEMPLATES_DIR))
    assert "médiateur de la consommation dont nous relevons : Médiation Démo Consommation" in text


def english_consumer_letter(country: str = "FR") -> FormalNoticeLetter:
    letter = consumer_letter()
    debtor = replace(letter.context.debtor, language="en", country=country)
    return replace(letter, context=replace(letter.context, debtor=debtor))


def test_a_consumer_in_france_gets_the_formal_notice_in_french_with_the_english_copy_annexed():
    """Mme Dubois asked for English: the mise en demeure is French (860,00 €, by 10 mars 2026), and the
    same PDF goes on, from a new page, with the English letter as an annex for information."""
    letter = english_consumer_letter()
    assert letter.context.language == "fr" and letter.context.debtor_language == "en"
    pdf = render_formal_notice_pdf(letter, TEMPLATES_DIR)
    text = text_of(pdf)
    french, _, annex = text.partition("Annex: English translation of the letter above, for information. "
                                      "The formal notice is the French letter before this page.")
    assert annex, "no English annex"
    assert "Ce courrier vaut mise en demeure de payer" in french and "au plus tard le 10 mars 2026" in french
    assert "Traduction anglaise de la présente lettre jointe en annexe, pour information (page suivante)." in french
    assert "formal notice" not in french.replace("Formal", "")
    assert "This letter constitutes a formal notice to pay (mise en demeure)" in annex
    assert "no later than March 10, 2026" in annex and "€860.00" in annex
    assert "the consumer mediator we fall under: Médiation Démo Consommation" in annex
    assert page_count(pdf) >= 2


def test_the_email_copy_of_that_notice_is_the_french_letter():
    message = Renderer(TEMPLATES_DIR).render_message(english_consumer_letter().context)
    assert "Ce courrier vaut mise en demeure de payer" in " ".join(message.text.split())


def test_a_consumer_abroad_gets_the_formal_notice_in_the_language_asked_and_no_annex():
    letter = english_consumer_letter(country="GB")
    text = text_of(render_formal_notice_pdf(letter, TEMPLATES_DIR))
    assert letter.context.language == "en"
    assert "This letter constitutes a formal notice to pay" in text and "Annex" not in text and "annex" not in text


def test_a_business_asking_for_english_in_france_keeps_its_english_letter():
    letter = b2b_letter(boulangerie(language="en"))
    assert letter.context.language == "en"
    assert "Annex" not in text_of(render_formal_notice_pdf(letter, TEMPLATES_DIR))


# --- a night without the mentions ---------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_a_night_without_the_mentions_refuses_the_formal_notice_sends_the_rest_and_says_what_to_fill_in(backend):
    """FA-L1 reaches its formal notice on 19 February 2026 while company.yaml lacks the mentions: the notice
    is recorded failed with the keys, another debtor's reminder goes out, the run says what to fill in;
    the next night, with the file complete, the notice goes out with RCS Paris and the debtor's SIREN."""
    from flows.nightly import nightly_collection

    dates = run_the_ladder(backend, through=Step.reminder_3)
    night = dates[Step.formal_notice]
    backend.accounting.customer("OTHER")
    backend.accounting.invoice("O1", "OTHER", due=night - timedelta(days=10))
    company = backend.config_dir / "company.yaml"
    complete = company.read_text(encoding="utf-8")
    data = yaml.safe_load(complete)
    for key in ("legal_form", "share_capital", "rcs_city", "signatory"):
        data.pop(key)
    company.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    state = nightly_collection(as_of=night, return_state=True)

    assert state.is_failed()
    assert state.message.startswith(f"1 message(s) refused until config/company.yaml has {ALL_MENTIONS}")
    store = StateStore(state_engine(backend.state_url))
    rows = {(r["invoice_numbers"], r["step"]): r for r in export_rows(store, "actions", night)}
    notice = rows[("FA-L1", "formal_notice")]
    assert notice["status"] == "failed"
    assert f"config/company.yaml: {ALL_MENTIONS} missing: the formal notice to debtor LATE" in notice["last_error"]
    assert rows[("FA-O1", "reminder_1")]["status"] == "sent"

    company.write_text(complete, encoding="utf-8")
    next_night = night + timedelta(days=1)
    assert nightly_collection(as_of=next_night, return_state=True).is_completed()
    sent = {(r["invoice_numbers"], r["step"]): r for r in export_rows(store, "actions", next_night)}
    notice = sent[("FA-L1", "formal_notice")]
    assert notice["status"] == "sent"
    text = text_of(Path(notice["document_path"]).read_bytes())
    assert "SAS au capital de 50 000,00 € – RCS Paris 552 100 554" in text
    assert "SIREN 732 829 320" in text
    assert "tribunal de commerce dont le ressort comprend Lyon (69001)" in text
