"""One case, every notice: the dossier of a case whose invoices had several formal notices, end to end.

Debtor LATE (standard ladder) owes FA-L1, 4 800,00 due Monday 5 January 2026, and FA-L2, 1 500,00 due
Monday 26 January 2026; a credit note FA-AV-1 of 1 000,00 is issued on 10 February 2026. Nights run on
every step date of both invoices, so each invoice gets its own formal notice (FA-L1 on 19 February,
FA-L2 on 12 March, deadlines 8 days later), the case opened for FA-L1 on 6 March is extended with
FA-L2 on 27 March, and its dossier is written again with both notices.

The dossier of 27 March 2026, at 12.15 % (ECB 2.15 % on 1 January 2026 + 10 points), actual/365:
    FA-L1: the credit is set against it, the oldest due, on 10 February (C. civ. 1347):
        6 January - 10 February, 36 days on 4 800,00: 4 800 x 12.15 % x 36 / 365 = 57.5211
        11 February - 27 March, 45 days on 3 800,00: 3 800 x 12.15 % x 45 / 365 = 56.9219
        penalties 114.44, principal 3 800,00, indemnity 40,00
    FA-L2: 27 January - 27 March, 60 days on 1 500,00: 1 500 x 12.15 % x 60 / 365 = 29.9589 -> 29.96, indemnity 40,00
    principal 5 300,00 + penalties 144.40 + indemnities 80,00 = 5 524,40
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from dunning.config import Segment
from dunning.documents.exports import export_rows
from dunning.documents.letters import ar_cover_path
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.planner import step_dates
from dunning.sources.config_files import load_settings
from dunning.state.store import StateStore, state_engine

pytestmark = pytest.mark.usefixtures("prefect_harness")

DUE_L1, DUE_L2 = date(2026, 1, 5), date(2026, 1, 26)


def text_of(path: Path) -> str:
    raw = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)
    return " ".join(raw.replace("\u202f", " ").replace("\xa0", " ").split())


@pytest.fixture
def two_notice_case(backend, sendgrid) -> tuple[dict, dict]:
    """Every night of both ladders run; returns the legal case and the ledger's formal notices by invoice."""
    from flows.nightly import nightly_collection

    books = backend.accounting
    books.customer("LATE")
    books.invoice("L1", "LATE", due=DUE_L1, total="4800.00", issued=date(2025, 12, 1))
    books.invoice("L2", "LATE", due=DUE_L2, total="1500.00", issued=date(2025, 12, 22))
    books.invoice("AV-1", "LATE", due=None, total="1000.00", kind="credit_note", issued=date(2026, 2, 10))
    ladder = load_settings(backend.config_dir).policy.ladder.for_segment(Segment.standard)
    nights = sorted({night for due in (DUE_L1, DUE_L2) for night in step_dates(due, ladder, BusinessCalendar()).values()})
    for night in nights:
        state = nightly_collection(as_of=night, return_state=True)
        assert state.is_completed(), (night, state.message)
    store = StateStore(state_engine(backend.state_url))
    notices = {r["invoice_numbers"]: r for r in export_rows(store, "actions", None) if r["step"] == "formal_notice"}
    [case] = export_rows(store, "legal-queue", None)
    return case, notices


def test_the_dossier_attaches_every_notice_and_its_ar_cover_as_posted(two_notice_case):
    case, notices = two_notice_case
    assert (case["invoice_numbers"], case["opened_on"]) == ("FA-L1, FA-L2", date(2026, 3, 6))
    assert [(n, r["as_of"], r["channel"]) for n, r in sorted(notices.items())] == [
        ("FA-L1", date(2026, 2, 19), "email_and_letter"), ("FA-L2", date(2026, 3, 12), "email_and_letter")]
    folder = Path(case["dossier_path"])

    assert sorted(p.name for p in folder.iterdir()) == [
        "dossier.pdf", "formal_notice-2026-02-19-ar-cover.pdf", "formal_notice-2026-02-19.pdf",
        "formal_notice-2026-03-12-ar-cover.pdf", "formal_notice-2026-03-12.pdf", "summary.html", "summary.json"]
    for number, day in (("FA-L1", "2026-02-19"), ("FA-L2", "2026-03-12")):
        posted = Path(notices[number]["document_path"])
        assert (folder / f"formal_notice-{day}.pdf").read_bytes() == posted.read_bytes()
        assert (folder / f"formal_notice-{day}-ar-cover.pdf").read_bytes() == ar_cover_path(posted).read_bytes()
        assert number in text_of(folder / f"formal_notice-{day}.pdf")


def test_the_dossier_states_each_invoices_own_notice_and_deadline_and_the_net_claim(two_notice_case):
    case, notices = two_notice_case
    folder = Path(case["dossier_path"])
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))

    assert [(n["sent_on"], n["response_deadline"], n["invoices"], n["file"], n["ar_cover_file"], n["sha256"])
            for n in summary["formal_notices"]] == [
        ("2026-02-19", "2026-02-27", ["FA-L1"], "formal_notice-2026-02-19.pdf",
         "formal_notice-2026-02-19-ar-cover.pdf", notices["FA-L1"]["document_sha256"]),
        ("2026-03-12", "2026-03-20", ["FA-L2"], "formal_notice-2026-03-12.pdf",
         "formal_notice-2026-03-12-ar-cover.pdf", notices["FA-L2"]["document_sha256"])]
    assert [(i["number"], i["formal_notice"], i["principal"], i["penalties"], i["indemnity"])
            for i in summary["invoices"]] == [
        ("FA-L1", {"sent_on": "2026-02-19", "response_deadline": "2026-02-27"}, "3800.00", "114.44", "40.00"),
        ("FA-L2", {"sent_on": "2026-03-12", "response_deadline": "2026-03-20"}, "1500.00", "29.96", "40.00")]
    assert [(p["days"], p["principal"]) for p in summary["invoices"][0]["periods"]] == [(36, "4800.00"), (45, "3800.00")]
    amounts = summary["amounts"]
    assert (amounts["computed_to"], amounts["principal"], amounts["penalties"], amounts["indemnity"],
            amounts["total"]) == ("2026-03-27", "5300.00", "144.40", "80.00", "5524.40")
    assert [(c["reference"], c["invoice_number"], c["on"], c["amount"]) for c in summary["credits_deducted"]] == [
        ("FA-AV-1", "FA-L1", "2026-02-10", "1000.00")]
    # One chronology line per message sent, with the invoices it was about: 10 messages.
    assert [(e["as_of"], e["step"], e["invoices"]) for e in summary["chronology"]][-3:] == [
        ("2026-02-19", "formal_notice", ["FA-L1"]), ("2026-02-25", "reminder_3", ["FA-L2"]),
        ("2026-03-12", "formal_notice", ["FA-L2"])]
    assert len(summary["chronology"]) == 10
    pieces = [(p["kind"], p["on"], p["invoices"]) for p in summary["procedure"]["pieces"]
              if p["kind"] in ("formal_notice", "acknowledgement_of_receipt")]
    assert pieces == [("formal_notice", "2026-02-19", ["FA-L1"]), ("acknowledgement_of_receipt", "2026-02-19", ["FA-L1"]),
                      ("formal_notice", "2026-03-12", ["FA-L2"]), ("acknowledgement_of_receipt", "2026-03-12", ["FA-L2"])]

    text = text_of(folder / "dossier.pdf")
    for fragment in (
        "Principal restant dû 5 300,00 €", "Pénalités de retard 144,40 €", "Total 5 524,40 €",
        "avoir FA-AV-1, 1 000,00 € au 10 février 2026",
        "mise en demeure du 19 février 2026, délai au 27 février 2026",
        "mise en demeure du 12 mars 2026, délai au 20 mars 2026",
        "Mise en demeure adressée le 19 février 2026 par lettre recommandée avec demande d'avis de réception, "
        "pour facture FA-L1, délai de paiement expirant le 27 février 2026",
        "Copie jointe : formal_notice-2026-03-12.pdf",
        "bordereau de la lettre recommandée : formal_notice-2026-03-12-ar-cover.pdf",
        "Mise en demeure du 19 février 2026, facture FA-L1", "Mise en demeure du 12 mars 2026, facture FA-L2",
        "Avis de réception signé de la mise en demeure du 19 février 2026",
        "Avis de réception signé de la mise en demeure du 12 mars 2026",
    ):
        assert fragment in text, fragment
