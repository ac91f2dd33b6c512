"""The mise en demeure PDF, its registered-letter cover sheet and the legal dossier (dunning.documents.letters).

Every check on a PDF reads the text pypdf extracts from the real file, as a clerk reading the
printed page would. The penalty figures are worked out by hand in each scenario's docstring.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from dunning.documents.dossier import DOSSIER_FILES, write_dossier
from dunning.documents.pdf import DocumentError
from dunning.documents.letters import (
    FormalNoticeLetter, ar_cover_path, render_ar_cover_pdf, render_formal_notice_pdf, sha256_hex,
)
from dunning.documents.rendering import RenderingError
from dunning.law_fr.procedure import (
    SMALL_CLAIMS_LIMIT, ChronologyEntry, DossierContext, NoticeSent, recommended_procedure,
)
from dunning.law_fr.statement import Basis, InvoicePenalty, PenaltyStatement
from letters import (
    CONSUMER_NOTICE_ON, DEADLINE, LETTER_DATE, TEMPLATES_DIR, ateliers_demo, b2b_case, b2b_letter,
    boulangerie, brasserie_liegeoise, claire_dubois, commercial_statement, consumer_invoice, consumer_letter,
    consumer_statement, harbour_tools, page_count, part_paid_letter, text_of, usd_letter, usd_statement,
)

# --- the mise en demeure --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def b2b_pdf() -> bytes:
    return render_formal_notice_pdf(b2b_letter(), TEMPLATES_DIR)


@pytest.fixture(scope="module")
def consumer_pdf() -> bytes:
    return render_formal_notice_pdf(consumer_letter(), TEMPLATES_DIR)


def test_formal_notice_is_a_pdf_of_at_most_two_pages(b2b_pdf):
    assert b2b_pdf.startswith(b"%PDF-")
    assert 1 <= page_count(b2b_pdf) <= 2


@pytest.mark.parametrize(
    ("what", "fragment"),
    [
        ("creditor raison sociale", "Ateliers Demo SAS"),
        ("creditor RCS with the greffe's city (R123-237)", "RCS Paris 552 100 554"),
        ("creditor legal form and share capital", "SAS au capital de 50 000,00 €"),
        ("creditor address", "12 rue de la Paix 75002 Paris"),
        ("debtor", "Boulangerie Martin SARL 8 place Bellecour 69002 Lyon"),
        ("place and date", "Paris, le 7 janvier 2026"),
        ("registered letter", "Lettre recommandée avec demande d'avis de réception"),
        ("the words", "mise en demeure"),
        ("first invoice", "F2025-0142 24 octobre 2025 23 novembre 2025 1 234,56 € 1 234,56 €"),
        ("second invoice, half paid", "F2025-0157 29 octobre 2025 28 novembre 2025 500,00 € 250,00 €"),
        ("principal", "Principal restant dû 1 484,56 €"),
        ("interest detail", "38 jours à 12,15 % sur 1 234,56 € du 24 novembre 2025 au 31 décembre 2025"),
        ("interest across 1 January", "7 jours à 12,15 % sur 1 234,56 € du 1er janvier 2026 au 7 janvier 2026"),
        ("interest on the half-paid invoice", "40 jours à 12,15 % sur 250,00 € du 29 novembre 2025 au 7 janvier 2026"),
        ("interest of the first invoice", "18,49 €"),
        ("interest of the second invoice", "3,33 €"),
        ("penalties to the letter's date", "Pénalités de retard au 7 janvier 2026 21,82 €"),
        ("indemnity", "Indemnité forfaitaire pour frais de recouvrement 80,00 €"),
        ("indemnity per invoice", "40,00 €"),
        ("total", "Total dû au 7 janvier 2026 1 586,38 €"),
        ("legal basis", "pénalités de retard au taux de la BCE majoré de 10 points (article L441-10 du Code de commerce)"),
        ("indemnity basis", "indemnité forfaitaire pour frais de recouvrement de 40 € par facture (article D441-5)"),
        ("demand and deadline", "nous vous mettons en demeure de nous régler la somme de 1 586,38 € au plus tard le 15 janvier 2026"),
        ("consequence: the court of the district", "nous saisirons le tribunal de commerce dont le ressort comprend Lyon "
                                                  "(69002) d'une requête en injonction de payer"),
        ("IBAN", "IBAN FR76 3000 6000 0112 3456 7890 189"),
        ("BIC", "BIC AGRIFRPP"),
        ("amount to pay", "Montant 1 586,38 €"),
        ("payment reference", "Référence à indiquer C-0042-20260107"),
        ("contact", "recouvrement@ateliers-demo.fr"),
        ("contact phone", "+33 1 23 45 67 89"),
        ("signature: a named signatory and her capacity", "Marie Dupont, directrice financière Ateliers Demo SAS"),
    ],
)
def test_b2b_formal_notice_states(b2b_pdf, what, fragment):
    assert fragment in text_of(b2b_pdf), what


def test_formal_notice_in_english_for_an_english_debtor_abroad():
    text = text_of(render_formal_notice_pdf(b2b_letter(harbour_tools()), TEMPLATES_DIR))

    for fragment in (
        "formal notice",
        "Registered letter with acknowledgement of receipt",
        "Harbour Tools Ltd 4 Dock Street BS1 4RT Bristol UNITED KINGDOM",
        "75002 Paris FRANCE",                # the sender's country, on a letter going abroad
        "Paris, January 7, 2026",
        "F2025-0142", "F2025-0157",
        "€1,234.56", "€250.00",
        "Late-payment penalties to January 7, 2026 €21.82",
        "Fixed recovery indemnity €80.00",
        "Total due as at January 7, 2026 €1,586.38",
        "no later than January 15, 2026",
        "38 days at 12.15% on €1,234.56 from November 24, 2025 to December 31, 2025",
        # A debtor abroad: no French court is named, the competent one is for the lawyer to determine.
        "we will bring proceedings for payment before the competent court",
        "article L441-10 of the French Commercial Code",
        "FR76 3000 6000 0112 3456 7890 189",
        "Payment reference C-0077-20260107",
    ):
        assert fragment in text
    assert "Madame" not in text
    assert "tribunal de commerce" not in text and "injonction de payer" not in text


def test_consumer_formal_notice_has_no_commercial_code_and_no_indemnity(consumer_pdf):
    text = text_of(consumer_pdf)

    for absent in ("L441", "D441", "Code de commerce", "40,00", "40 €", "ndemnité", "BCE"):
        assert absent not in text
    # Nothing has run on the day of the notice: no table of zeros.
    assert "Intérêts au taux légal au" not in text and "aucun jour échu" not in text
    for fragment in (
        "Mme Claire Dubois 14 rue des Lilas 33000 Bordeaux",
        "mise en demeure",
        "F2025-0201", "860,00 €",
        "La présente mise en demeure fait courir sur ces sommes les intérêts au taux légal (article 1344-1 du Code civil)",
        "la somme de 860,00 € au plus tard",
        "au plus tard le 10 mars 2026",
        "nous saisirons le tribunal judiciaire dont le ressort comprend Bordeaux (33000) d'une requête en injonction de payer",
    ):
        assert fragment in text


def test_the_same_letter_gives_the_same_bytes(b2b_pdf):
    # The ledger stores the sha256: a rerun must be able to recognise the letter it printed.
    again = render_formal_notice_pdf(b2b_letter(), TEMPLATES_DIR)
    assert again == b2b_pdf
    assert sha256_hex(again) == sha256_hex(b2b_pdf)


def test_sha256_hex_matches_hashlib(b2b_pdf):
    assert sha256_hex(b2b_pdf) == hashlib.sha256(b2b_pdf).hexdigest()
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert re.fullmatch(r"[0-9a-f]{64}", sha256_hex(b2b_pdf))


def test_pdf_metadata_names_the_document(b2b_pdf):
    info = PdfReader(io.BytesIO(b2b_pdf)).metadata
    assert info.title.startswith("Mise en demeure de payer")
    assert info.author == "Ateliers Demo SAS"


def test_formal_notice_prints_each_periods_balance_after_a_partial_payment():
    letter = part_paid_letter()
    text = text_of(render_formal_notice_pdf(letter, TEMPLATES_DIR))

    assert letter.statement.interest == Decimal("1028.75")
    for fragment in (
        "F2025-0090 20 avril 2025 20 mai 2025 12 000,00 € 10 000,00 €",
        "41 jours à 13,15 % sur 12 000,00 € du 21 mai 2025 au 30 juin 2025",
        "154 jours à 12,15 % sur 12 000,00 € du 1er juillet 2025 au 1er décembre 2025",
        "30 jours à 12,15 % sur 10 000,00 € du 2 décembre 2025 au 31 décembre 2025",
        "41 jours à 12,15 % sur 10 000,00 € du 1er janvier 2026 au 10 février 2026",
        "Pénalités de retard au 10 février 2026 1 028,75 €",
        "Total dû au 10 février 2026 11 068,75 €",
        "un paiement partiel porte intérêt jusqu'au jour de sa réception inclus",
    ):
        assert fragment in text, fragment


@pytest.mark.parametrize("language", ["fr", "en"])
def test_formal_notice_in_another_currency_owes_the_indemnity_apart_in_euros(language):
    debtor = boulangerie(language=language)
    text = text_of(render_formal_notice_pdf(usd_letter(debtor), TEMPLATES_DIR))

    expected = {
        "fr": ("Pénalités de retard au 7 janvier 2026 21,82 $US", "Total dû au 7 janvier 2026 1 506,38 $US",
               "En sus, à régler en euros : indemnité forfaitaire pour frais de recouvrement, due en euros quelle "
               "que soit la devise de la facture (article D441-5) 80,00 €",
               "la somme de 1 506,38 $US, ainsi que 80,00 € au titre de l'indemnité forfaitaire pour frais de "
               "recouvrement, au plus tard le 15 janvier 2026",
               "Indemnité forfaitaire, en euros 80,00 €", "Indemnité forfaitaire (en euros)"),
        "en": ("Late-payment penalties to January 7, 2026 $21.82", "Total due as at January 7, 2026 $1,506.38",
               "In addition, payable in euros: fixed recovery indemnity, owed in euros whatever the invoice currency "
               "(article D441-5 of the French Commercial Code) €80.00",
               "to pay the sum of $1,506.38, together with €80.00 as the fixed recovery indemnity, no later than",
               "Recovery indemnity, in euros €80.00", "Recovery indemnity (in euros)"),
    }[language]
    for fragment in expected:
        assert fragment in text, fragment
    # Each invoice's indemnity in euros, never a 0,00 line in dollars under a sentence about 40 € per invoice.
    assert text.count("40,00 €" if language == "fr" else "€40.00") == 2
    assert not re.search(r"(^|\s)(0,00 \$US|\$0\.00)", text)
    for absent in ("Indemnité forfaitaire pour frais de recouvrement 0", "Fixed recovery indemnity $"):
        assert absent not in text


# --- what a letter refuses to print ------------------------------------------------------------


def _with_context(letter: FormalNoticeLetter, **changes: object) -> FormalNoticeLetter:
    return FormalNoticeLetter(context=replace(letter.context, **changes), place=letter.place,
                              letter_date=letter.letter_date)


def _statement_with(statement: PenaltyStatement, **line_changes: object) -> PenaltyStatement:
    return replace(statement, lines=(replace(statement.lines[0], **line_changes),) + statement.lines[1:])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: replace(b2b_letter(), letter_date=date(2026, 1, 6)), "computed to 2026-01-07"),
        (lambda: _with_context(b2b_letter(), penalties=None), "needs its penalty statement"),
        (lambda: _with_context(b2b_letter(), penalties=replace(commercial_statement(),
                                                                lines=commercial_statement().lines[:1])),
         "no penalty line for invoice F2025-0157"),
        (lambda: _with_context(b2b_letter(), penalties=_statement_with(commercial_statement(),
                                                                        principal=Decimal("1000.00"))),
         "the open amount is 1234.56"),
        (lambda: _with_context(b2b_letter(), penalties=_statement_with(commercial_statement(),
                                                                        basis=Basis.consumer)),
         "consumer-rate interest for a business debtor"),
        (lambda: _with_context(consumer_letter(), penalties=_statement_with(consumer_statement(CONSUMER_NOTICE_ON),
                                                                             indemnity=Decimal("40.00"))),
         "a consumer owes interest at the legal rate only"),
        (lambda: _with_context(consumer_letter(), penalties=_statement_with(consumer_statement(CONSUMER_NOTICE_ON),
                                                                             basis=Basis.commercial)),
         "a consumer owes interest at the legal rate only"),
        (lambda: _with_context(b2b_letter(), debtor=boulangerie(address_line=None)), "no postal address"),
        (lambda: _with_context(b2b_letter(), response_deadline=date(2026, 1, 12)), "less than 8 days"),
        (lambda: _with_context(b2b_letter(), step="reminder_3"), "not formal_notice"),
        (lambda: replace(b2b_letter(), place="  "), "place of the letter is empty"),
    ],
    ids=["stale-penalties", "no-penalties", "missing-line", "wrong-principal", "business-at-consumer-rate",
         "consumer-with-indemnity", "consumer-at-commercial-rate", "no-address", "short-deadline",
         "not-a-formal-notice", "no-place"],
)
def test_letter_refuses_what_would_be_wrong_on_paper(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_hostile_debtor_name_is_printed_as_text_never_as_markup():
    name = "<b>Dupont</b> & Fils {{ 7*7 }}"
    text = text_of(render_formal_notice_pdf(b2b_letter(boulangerie(name=name)), TEMPLATES_DIR))
    assert name in text  # neither bold nor 49: the sandbox and the escaping both held


def test_accents_survive_and_letters_outside_the_font_are_transliterated():
    debtor = boulangerie(name="Zoë Łukasiewicz – Crème brûlée & Cie", address_line="3 allée d’Œuvre")
    text = text_of(render_formal_notice_pdf(b2b_letter(debtor), TEMPLATES_DIR))
    assert "Zoë Lukasiewicz – Crème brûlée & Cie" in text
    assert "3 allée d’Œuvre" in text


def test_a_character_no_font_can_print_is_refused_with_its_code_point():
    with pytest.raises(DocumentError, match=r"U\+5317") as caught:
        render_formal_notice_pdf(b2b_letter(boulangerie(name="北京 Trading")), TEMPLATES_DIR)
    assert isinstance(caught.value, RenderingError)  # what dispatch already catches


# --- the registered-letter cover sheet ----------------------------------------------------------


def test_ar_cover_sheet_carries_both_full_addresses():
    text = text_of(render_ar_cover_pdf(b2b_letter(), TEMPLATES_DIR))

    assert "Lettre recommandée avec demande d'avis de réception" in text
    assert "Expéditeur Ateliers Demo SAS 12 rue de la Paix 75002 Paris SIREN 552 100 554" in text
    assert "Destinataire Boulangerie Martin SARL 8 place Bellecour 69002 Lyon" in text
    assert "Mise en demeure de payer du 7 janvier 2026" in text
    assert "15 janvier 2026" in text


def test_ar_cover_sheet_in_english_keeps_the_french_postal_mention():
    text = text_of(render_ar_cover_pdf(b2b_letter(harbour_tools()), TEMPLATES_DIR))

    assert "Registered letter with acknowledgement of receipt" in text
    assert "Lettre recommandée avec demande d'avis de réception" in text
    assert "Sender Ateliers Demo SAS 12 rue de la Paix 75002 Paris FRANCE" in text
    assert "Recipient Harbour Tools Ltd 4 Dock Street BS1 4RT Bristol UNITED KINGDOM" in text


def test_ar_cover_sheet_for_a_consumer():
    text = text_of(render_ar_cover_pdf(consumer_letter(), TEMPLATES_DIR))
    assert "Destinataire Mme Claire Dubois 14 rue des Lilas 33000 Bordeaux" in text
    assert "L441" not in text and "40,00" not in text


# --- the legal dossier ----------------------------------------------------------------------------


def consumer_case() -> DossierContext:
    """Case 13: Mme Dubois, six weeks after her formal notice, with interest at the legal rate."""
    return DossierContext(
        case_id=13, status="acknowledged", opened_on=date(2026, 4, 15), company=ateliers_demo(),
        debtor=claire_dubois(), siren=None, currency="EUR", statement=consumer_statement(date(2026, 4, 15)),
        chronology=(
            ChronologyEntry(date(2026, 1, 18), "reminder_1", "letter", "cd" * 32),
            ChronologyEntry(date(2026, 3, 2), "formal_notice", "letter", "ef" * 32),
        ),
        notices=(NoticeSent(CONSUMER_NOTICE_ON, date(2026, 3, 10), (consumer_invoice().number,), "ef" * 32),),
        prescription_date=date(2028, 1, 15), is_consumer=True,
    )


@pytest.fixture()
def b2b_dossier(tmp_path, b2b_pdf) -> Path:
    """The dossier of case 12, with the notice and its AR cover sheet as the print queue holds them."""
    notice = tmp_path / "posted" / "formal_notice-C-0042-17.pdf"
    notice.parent.mkdir()
    notice.write_bytes(b2b_pdf)
    ar_cover_path(notice).write_bytes(render_ar_cover_pdf(b2b_letter(), TEMPLATES_DIR))
    return write_dossier(b2b_case(notice_sha=sha256_hex(b2b_pdf), posted=notice), tmp_path / "legal", TEMPLATES_DIR)


def test_dossier_folder_holds_the_summary_the_notice_and_its_ar_cover(b2b_dossier, tmp_path, b2b_pdf):
    assert b2b_dossier == tmp_path / "legal" / "case-12"
    assert sorted(path.name for path in b2b_dossier.iterdir()) == sorted(
        (*DOSSIER_FILES, "formal_notice-2026-01-07.pdf", "formal_notice-2026-01-07-ar-cover.pdf"))
    assert (b2b_dossier / "formal_notice-2026-01-07.pdf").read_bytes() == b2b_pdf
    assert "Lettre recommandée" in text_of((b2b_dossier / "formal_notice-2026-01-07-ar-cover.pdf").read_bytes())
    assert [path.name for path in (tmp_path / "legal").iterdir()] == ["case-12"]  # no temporary left behind


def test_dossier_summary_json_has_the_right_totals(b2b_dossier, b2b_pdf):
    summary = json.loads((b2b_dossier / "summary.json").read_text(encoding="utf-8"))

    assert summary["amounts"] == {
        "computed_to": "2026-01-07", "basis": "commercial",
        "principal": "1484.56", "penalties": "21.82", "indemnity": "80.00", "total": "1586.38",
        "separate_eur_indemnity": "0.00",
    }
    assert [(i["number"], i["penalties"], i["indemnity"], i["total"]) for i in summary["invoices"]] == [
        ("F2025-0142", "18.49", "40.00", "1293.05"),
        ("F2025-0157", "3.33", "40.00", "293.33"),
    ]
    assert summary["case_id"] == 12 and summary["status"] == "queued" and summary["opened_on"] == "2026-01-19"
    assert summary["debtor"]["siren"] == "801234567" and summary["debtor"]["address"]["city"] == "Lyon"
    assert summary["creditor"]["siren"] == "552100554"
    assert [entry["step"] for entry in summary["chronology"]] == ["reminder_1", "reminder_2", "formal_notice"]
    assert summary["formal_notices"] == [{
        "sent_on": "2026-01-07", "response_deadline": "2026-01-15", "invoices": ["F2025-0142", "F2025-0157"],
        "file": "formal_notice-2026-01-07.pdf", "ar_cover_file": "formal_notice-2026-01-07-ar-cover.pdf",
        "sha256": sha256_hex(b2b_pdf),
    }]
    assert summary["invoices"][1]["formal_notice"] == {"sent_on": "2026-01-07", "response_deadline": "2026-01-15"}
    assert summary["procedure"]["court"] == "tribunal de commerce"
    assert summary["procedure"]["cerfa"] == "Cerfa n°12946"
    assert summary["procedure"]["venue"] == {"city": "Lyon", "postal_code": "69002", "country": "FR"}
    assert summary["procedure"]["small_claims_alternative"] is True
    assert summary["procedure"]["european_order_for_payment"] is False
    assert [(p["start"], p["days"], p["principal"]) for p in summary["invoices"][0]["periods"]] == [
        ("2025-11-24", 38, "1234.56"), ("2026-01-01", 7, "1234.56")]
    assert [piece["kind"] for piece in summary["procedure"]["pieces"]] == [
        "invoice", "invoice", "contract", "reminder", "reminder", "formal_notice", "acknowledgement_of_receipt",
    ]
    assert summary["prescription_date"] == "2030-11-23"
    # Money is a string in the JSON: a float would already have lost cents somewhere.
    assert all(isinstance(summary["amounts"][key], str) for key in ("principal", "penalties", "indemnity", "total"))


def test_dossier_html_and_pdf_say_the_same_things(b2b_dossier, b2b_pdf):
    html = (b2b_dossier / "summary.html").read_text(encoding="utf-8")
    pdf_text = text_of((b2b_dossier / "dossier.pdf").read_bytes())
    html_text = " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u202f", " ").replace("\xa0", " ").split())

    for fragment in (
        "Dossier contentieux n° 12",
        "Ateliers Demo SAS", "SAS au capital de 50 000,00 € – RCS Paris 552 100 554",
        "Signataire : Marie Dupont, directrice financière", "Boulangerie Martin SARL", "SIREN 801 234 567",
        "Principal restant dû 1 484,56 €", "Pénalités de retard 21,82 €",
        "38 jours à 12,15 % sur 1 234,56 € du 24 novembre 2025 au 31 décembre 2025",
        "Indemnité forfaitaire pour frais de recouvrement 80,00 €", "Total 1 586,38 €",
        "26 novembre 2025 Première relance e-mail sg-msg-0001",
        "8 décembre 2025 Deuxième relance e-mail sg-msg-0002",
        "délai de paiement expirant le 15 janvier 2026",
        "injonction de payer", "tribunal de commerce dont le ressort comprend Lyon (69002)", "Cerfa n°12946",
        "procédure simplifiée de recouvrement des petites créances", "commissaire de justice",
        "23 novembre 2030", "L110-4",
        "Facture F2025-0142", "Contrat, bon de commande", "Avis de réception signé",
    ):
        assert fragment in html_text, f"summary.html lacks {fragment!r}"
        assert fragment in pdf_text, f"dossier.pdf lacks {fragment!r}"
    assert html.lstrip().startswith("{#") is False and "<!DOCTYPE html>" in html
    assert sha256_hex(b2b_pdf) in html


def test_consumer_dossier_goes_to_the_tribunal_judiciaire_without_commercial_code(tmp_path):
    case = write_dossier(consumer_case(), tmp_path, TEMPLATES_DIR)
    summary = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    text = text_of((case / "dossier.pdf").read_bytes())

    assert sorted(path.name for path in case.iterdir()) == sorted(DOSSIER_FILES)
    assert summary["amounts"] == {
        "computed_to": "2026-04-15", "basis": "consumer",
        "principal": "860.00", "penalties": "2.72", "indemnity": "0.00", "total": "862.72",
        "separate_eur_indemnity": "0.00",
    }
    assert summary["procedure"]["court"] == "tribunal judiciaire"
    assert summary["procedure"]["cerfa"] == "Cerfa n°12948"
    [notice] = summary["formal_notices"]
    assert notice["file"] is None and notice["ar_cover_file"] is None
    assert notice["sha256"] == "ef" * 32  # what the ledger recorded
    for fragment in ("Copie à joindre depuis l'archive", "tribunal judiciaire", "Cerfa n°12948", "Particulier (consommateur)", "Bordeaux (33000)",
                     "Intérêts au taux légal 2,72 €", "Total 862,72 €",
                     "44 jours à 2,62 % sur 860,00 € du 3 mars 2026 au 15 avril 2026",
                     "article 1344-1 du Code civil", "L218-2", "15 janvier 2028"):
        assert fragment in text
    for absent in ("L441", "D441", "Code de commerce", "40,00", "tribunal de commerce", "Indemnité"):
        assert absent not in text


@pytest.mark.parametrize(
    ("is_consumer", "court", "cerfa"),
    [(False, "tribunal de commerce", "Cerfa n°12946"), (True, "tribunal judiciaire", "Cerfa n°12948")],
)
def test_procedure_court_and_form_follow_who_the_debtor_is(is_consumer, court, cerfa):
    ctx = consumer_case() if is_consumer else b2b_case()
    procedure = recommended_procedure(ctx)
    assert (procedure.name, procedure.court, procedure.cerfa) == ("injonction de payer", court, cerfa)
    assert procedure.venue_city == ctx.debtor.city


def _one_invoice_statement(principal: str, interest: str) -> PenaltyStatement:
    return PenaltyStatement(computed_to=LETTER_DATE, currency="EUR", lines=(
        InvoicePenalty(invoice_number="F2025-0300", principal=Decimal(principal), due_date=date(2025, 11, 23),
                       basis=Basis.commercial, periods=(), interest=Decimal(interest), indemnity=Decimal("40.00")),
    ))


@pytest.mark.parametrize(
    ("principal", "interest", "offered"),
    [
        ("5000.00", "0.00", True),
        ("5000.01", "0.00", False),
        ("4990.00", "10.00", True),     # R125-1 CPCE counts principal and interest...
        ("4990.00", "10.01", False),
        ("4960.00", "0.00", True),      # ...but not the 40 EUR indemnity (total 5 000,00 + 40,00)
        ("120.00", "1.00", True),
    ],
)
def test_small_claims_alternative_up_to_5000_eur_principal_and_interest(principal, interest, offered):
    procedure = recommended_procedure(b2b_case(_one_invoice_statement(principal, interest)))
    assert procedure.small_claims_alternative is offered
    assert SMALL_CLAIMS_LIMIT == Decimal("5000.00")


def test_dossier_in_another_currency_shows_the_euro_indemnity_apart(tmp_path):
    case = write_dossier(b2b_case(usd_statement(), currency="USD"), tmp_path, TEMPLATES_DIR)
    summary = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    text = text_of((case / "dossier.pdf").read_bytes())

    assert summary["amounts"] == {
        "computed_to": "2026-01-07", "basis": "commercial",
        "principal": "1484.56", "penalties": "21.82", "indemnity": "0.00", "total": "1506.38",
        "separate_eur_indemnity": "80.00",
    }
    assert [i["separate_eur_indemnity"] for i in summary["invoices"]] == ["40.00", "40.00"]
    for fragment in ("Pénalités de retard 21,82 $US", "Total 1 506,38 $US",
                     "En sus, en euros : indemnité forfaitaire pour frais de recouvrement, due en euros quelle que "
                     "soit la devise des factures (article D441-5 du Code de commerce) 80,00 €",
                     "Indemnité (en euros)"):
        assert fragment in text, fragment
    assert not re.search(r"(^|\s)0,00 \$US", text)
    assert "Indemnité forfaitaire pour frais de recouvrement 0" not in text
    assert "petites créances" not in text  # the 5,000 EUR threshold is not applied to dollars


@pytest.mark.parametrize(
    ("debtor", "country", "european"),
    [(harbour_tools(), "GB", False), (brasserie_liegeoise(), "BE", True),
     (replace(brasserie_liegeoise(), country="DK", city="Aarhus", postal_code="8000"), "DK", False)],
    ids=["united-kingdom", "belgium", "denmark-outside-regulation-1896-2006"],
)
def test_a_debtor_abroad_gets_no_french_court_form_or_small_claims_route(tmp_path, debtor, country, european):
    ctx = b2b_case(debtor=debtor)
    procedure = recommended_procedure(ctx)

    assert (procedure.court, procedure.cerfa) == (None, None)
    assert procedure.abroad is True
    assert procedure.small_claims_alternative is False   # 1 506,38 € would qualify in France
    assert procedure.european_order_for_payment is european
    assert procedure.venue_country == country
    assert procedure.name == ("injonction de payer européenne (règlement (CE) n° 1896/2006) ou action devant la "
                              "juridiction étrangère compétente" if european
                              else "action devant la juridiction étrangère compétente")
    assert [piece.kind for piece in procedure.pieces][:3] == ["invoice", "invoice", "contract"]

    case = write_dossier(ctx, tmp_path, TEMPLATES_DIR)
    summary = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    text = text_of((case / "dossier.pdf").read_bytes())
    assert summary["procedure"]["court"] is None and summary["procedure"]["cerfa"] is None
    assert summary["procedure"]["venue"]["country"] == country
    assert summary["procedure"]["european_order_for_payment"] is european
    assert "Débiteur établi hors de France" in text
    # A sentence may run over a page break: read it without the page number and footer in between.
    text = re.sub(r" \d+/\d+ Dossier contentieux n° \d+ – .*? – code client \S+", "", text)
    assert "La juridiction compétente est à déterminer par l'avocat" in text
    for absent in ("tribunal de commerce", "tribunal judiciaire", "Cerfa", "petites créances",
                   "commissaire de justice", f"soit {debtor.city}"):
        assert absent not in text, absent
    if european:
        assert "injonction de payer européenne (règlement (CE) n° 1896/2006)" in text
        assert "formulaire type A" in text
    else:
        assert "1896/2006" in text  # only to say the debtor's state is not bound by it
        assert "injonction de payer européenne" not in text


def test_a_belgian_debtors_formal_notice_names_no_french_court():
    text = text_of(render_formal_notice_pdf(b2b_letter(brasserie_liegeoise()), TEMPLATES_DIR))
    assert "Brasserie Liégeoise SRL Rue Léopold 12 4000 Liège BELGIQUE" in text
    assert "nous saisirons la juridiction compétente d'une demande en paiement" in text
    assert "tribunal de commerce" not in text


@pytest.mark.parametrize("country", [None, "FR", "fr", "RE"])
def test_a_debtor_in_france_keeps_the_injonction_de_payer(country):
    procedure = recommended_procedure(b2b_case(debtor=boulangerie(country=country)))
    assert (procedure.name, procedure.court, procedure.cerfa) == ("injonction de payer", "tribunal de commerce",
                                                                  "Cerfa n°12946")
    assert procedure.abroad is False and procedure.small_claims_alternative is True


def test_small_claims_threshold_is_in_euros_only():
    statement = replace(_one_invoice_statement("100.00", "0.00"), currency="USD")
    assert recommended_procedure(b2b_case(statement, currency="USD")).small_claims_alternative is False


def test_small_claims_alternative_is_printed_only_when_offered(tmp_path):
    big = write_dossier(b2b_case(_one_invoice_statement("5000.01", "0.00")), tmp_path, TEMPLATES_DIR)
    assert "petites créances" not in text_of((big / "dossier.pdf").read_bytes())


def test_no_formal_notice_means_no_notice_or_ar_piece(tmp_path):
    ctx = replace(b2b_case(), chronology=b2b_case().chronology[1:], notices=())
    kinds = [piece.kind for piece in recommended_procedure(ctx).pieces]
    assert "formal_notice" not in kinds and "acknowledgement_of_receipt" not in kinds
    text = text_of((write_dossier(ctx, tmp_path, TEMPLATES_DIR) / "dossier.pdf").read_bytes())
    assert "Aucune mise en demeure n'a été adressée" in text


def test_rewriting_a_dossier_replaces_it_whole(b2b_dossier):
    # Written again without the notice (say, an operator regenerates it): no stale file survives.
    again = write_dossier(b2b_case(), b2b_dossier.parent, TEMPLATES_DIR)
    assert again == b2b_dossier
    assert sorted(path.name for path in again.iterdir()) == sorted(DOSSIER_FILES)
    assert [path.name for path in again.parent.iterdir()] == ["case-12"]


def test_dossier_refuses_a_formal_notice_other_than_the_one_posted(tmp_path, b2b_pdf):
    reprint = tmp_path / "formal_notice-C-0042-17.pdf"
    reprint.write_bytes(b2b_pdf + b"\n")
    with pytest.raises(ValueError, match="the ledger recorded"):
        write_dossier(b2b_case(notice_sha=sha256_hex(b2b_pdf), posted=reprint), tmp_path / "legal", TEMPLATES_DIR)
    assert not (tmp_path / "legal" / "case-12").exists()


def test_failed_rewrite_keeps_the_previous_dossier(b2b_dossier, tmp_path):
    broken = tmp_path / "broken-templates"
    shutil.copytree(TEMPLATES_DIR, broken)
    (broken / "fr" / "documents" / "dossier.html").write_text("{{ no_such_variable }}", encoding="utf-8")
    before = (b2b_dossier / "summary.json").read_bytes()
    with pytest.raises(RenderingError, match="no_such_variable"):
        write_dossier(b2b_case(), b2b_dossier.parent, broken)
    assert (b2b_dossier / "summary.json").read_bytes() == before
    assert (b2b_dossier / "formal_notice-2026-01-07.pdf").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"is_consumer": True}, "is_consumer=True"),
        ({"currency": "USD"}, "statement in EUR, case in USD"),
    ],
)
def test_dossier_context_refuses_contradictions(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        replace(b2b_case(), **changes)


@pytest.mark.parametrize(("invoices", "deadline", "message"), [
    ((), DEADLINE, "names no invoice"),
    (("F2025-0142",), date(2026, 1, 6), "deadline 2026-01-06 before it"),
])
def test_a_notice_without_invoice_or_with_its_deadline_before_it_is_refused(invoices, deadline, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        NoticeSent(LETTER_DATE, deadline, invoices)


def test_templates_outside_the_pdf_subset_are_refused(tmp_path):
    broken = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, broken)
    path = broken / "fr" / "documents" / "ar_cover.html"
    path.write_text(path.read_text(encoding="utf-8").replace("<h1>", "<h1><blink>").replace("</h1>", "</blink></h1>"),
                    encoding="utf-8")
    with pytest.raises(DocumentError, match="<blink>"):
        render_ar_cover_pdf(b2b_letter(), broken)


# --- what a person sees -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_every_document_rasterises_to_a_page_image(tmp_path, b2b_pdf, consumer_pdf, b2b_dossier):
    documents = {
        "formal_notice_fr": b2b_pdf,
        "formal_notice_consumer": consumer_pdf,
        "formal_notice_en": render_formal_notice_pdf(b2b_letter(harbour_tools()), TEMPLATES_DIR),
        "ar_cover": render_ar_cover_pdf(b2b_letter(), TEMPLATES_DIR),
        "dossier": (b2b_dossier / "dossier.pdf").read_bytes(),
    }
    for name, pdf in documents.items():
        source = tmp_path / f"{name}.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(source),
                        str(tmp_path / name)], check=True, timeout=60)
        image = tmp_path / f"{name}.png"
        assert image.read_bytes().startswith(b"\x89PNG")
        assert image.stat().st_size > 5_000, f"{name}: page 1 looks blank"


# --- the letter and its email copy (DESIGN.md rule 14) -------------------------------------------


def _words(text: str) -> str:
    """An email part as a reader sees it: no markup, no entities, every run of spaces as one."""
    import html as _html

    return " ".join(_html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("\u202f", " ").replace("\xa0", " ").split())


def _amounts(text: str) -> set[str]:
    """The amounts of a text: '1 484,56 €', '21,82 $US', '€1,586.38'. A French amount starts at a number's
    first digit, so the year of a date just before it ('28 novembre 2025 500,00 €') is not its thousands."""
    text = _words(text)
    french = re.findall(r"(?<!\d)\d{1,3}(?: \d{3})*,\d{2} (?:€|\$US)", text)
    english = re.findall(r"[€$]\d{1,3}(?:,\d{3})*\.\d{2}", text)
    return set(french + english)


@pytest.mark.parametrize("build", [b2b_letter, usd_letter, consumer_letter, part_paid_letter,
                                   lambda: b2b_letter(harbour_tools()), lambda: b2b_letter(brasserie_liegeoise())],
                         ids=["two-invoices", "usd", "consumer", "part-paid", "english-abroad", "belgian"])
def test_the_email_copy_states_every_amount_deadline_and_court_of_its_pdf(build):
    from dunning.documents.rendering import Renderer, format_date, format_money

    letter = build()
    pdf_bytes = render_formal_notice_pdf(letter, TEMPLATES_DIR)
    pdf = text_of(pdf_bytes)
    in_pdf = _amounts(pdf)
    message = Renderer(TEMPLATES_DIR).render_message(letter.context)
    notice = letter.context.notice
    assert notice is not None and in_pdf
    deadline = format_date(notice.response_deadline, letter.context.language)
    [consequence] = re.findall(r"(?:À défaut de paiement|If payment is not received).+?\.(?= |$)", pdf)
    for part in (message.text, message.html):
        assert _amounts(part) == in_pdf, (_amounts(part) ^ in_pdf)
        assert f"{'au plus tard le' if letter.context.language == 'fr' else 'no later than'} {deadline}" in _words(part)
        assert consequence in _words(part)
    # The subject names the sum claimed, as the letter's demand does.
    assert _amounts(message.subject) == _amounts(format_money(notice.total, letter.context.currency,
                                                              letter.context.language))
    assert _amounts(message.subject) <= in_pdf


def test_the_email_copy_and_the_pdf_read_one_set_of_figures():
    letter = b2b_letter()
    assert letter.context.notice is letter.context.notice   # worked out once per message
    assert (letter.context.notice.principal, letter.context.notice.total) == (Decimal("1484.56"), Decimal("1586.38"))
    assert letter.context.notice.court == "tribunal de commerce"
    assert [line.invoice_number for line in letter.context.notice.penalty_lines] == ["F2025-0142", "F2025-0157"]


@pytest.mark.parametrize(("language", "debtor", "quoted", "neutral"), [
    ("fr", boulangerie(), "Malgré nos rappels des 26 novembre et 8 décembre 2025, les 2 factures ci-dessous",
     "Sauf erreur de notre part, les 2 factures ci-dessous"),
    ("en", harbour_tools(), "Despite our reminders of November 26 and December 8, 2025, the 2 invoices below",
     "According to our records, the 2 invoices below"),
])
def test_the_pdf_quotes_the_reminders_sent_or_none(language, debtor, quoted, neutral):
    from dunning.rules.messages import EarlierReminder

    letter = b2b_letter(debtor)
    first_contact = text_of(render_formal_notice_pdf(letter, TEMPLATES_DIR))
    assert neutral in first_contact
    for claim in ("Malgré", "relances", "Despite", "previous reminders"):
        assert claim not in first_contact
    reminded = _with_context(letter, earlier_reminders=(EarlierReminder("reminder_1", date(2025, 11, 26)),
                                                          EarlierReminder("reminder_2", date(2025, 12, 8))))
    text = text_of(render_formal_notice_pdf(reminded, TEMPLATES_DIR))
    assert quoted in text and neutral not in text
