"""Messages tell the truth (DESIGN.md rule 14), through the real Prefect engine on both backends.

A message quotes the earlier reminders its invoices were sent, with the dates the ledger recorded,
and claims none otherwise; the formal notice's email copy asks for what its registered letter asks
for. The nights below climb the ladder one step at a time, seven days or more apart.
"""

from __future__ import annotations

import html
import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from dunning.config import Step
from dunning.documents.exports import export_rows
from dunning.state.store import StateStore, state_engine
from ladder import record_delivery_event, run_the_ladder

pytestmark = pytest.mark.usefixtures("prefect_harness")

# Invoice FA-T1 is due on Monday 2 March 2026. The standard ladder sends reminder_1 at +3 (Thursday
# 5 March) and reminder_2 at +15 (Tuesday 17 March); reminder_3 (+30) is not due before 1 April.
DUE = date(2026, 3, 2)
REMINDER_1_NIGHT = date(2026, 3, 5)
REMINDER_2_NIGHT = date(2026, 3, 18)   # 13 days after the reminder_1: both ladders send reminder_2


def run_night(as_of: date) -> None:
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message


def ledger(backend) -> dict[tuple[str, str], dict]:
    rows = export_rows(StateStore(state_engine(backend.state_url)), "actions", None)
    return {(r["invoice_numbers"], r["step"]): r for r in rows}


def plain(text: str) -> str:
    """Markup and entities out, every run of spaces (babel's no-break ones included) as one space."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def outbox_email(backend, row: dict) -> dict:
    """The email as the outbox wrote it (no SendGrid key in these tests): subject, html, text."""
    assert row["status"] == "sent" and row["provider_message_id"].startswith("outbox-"), row
    return json.loads((backend.var_dir / "outbox" / f"{row['provider_message_id']}.json").read_text("utf-8"))


def pdf_text(path: Path) -> str:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return plain(" ".join(page.extract_text() for page in reader.pages))


def amounts(text: str) -> list[str]:
    """Every French amount in a text: '4 800,00 €', '95,87 €'."""
    return re.findall(r"\d{1,3}(?: \d{3})*,\d{2} €", text)


@pytest.fixture
def two_debtors(backend):
    """The same invoice twice: MAIL reads email, POST has no email address and gets letters."""
    books = backend.accounting
    books.customer("MAIL")
    books.invoice("T1", "MAIL", due=DUE, total="2400.00", issued=date(2026, 2, 1))
    books.customer("POST", email=None)
    books.invoice("T2", "POST", due=DUE, total="2400.00", issued=date(2026, 2, 1))
    return backend


def test_reminder_2_after_a_reminder_1_quotes_its_date(two_debtors):
    run_night(REMINDER_1_NIGHT)
    first = outbox_email(two_debtors, ledger(two_debtors)[("FA-T1", "reminder_1")])
    assert "Malgré" not in first["text"] and "Malgré" not in first["html"]   # the first reminder claims none

    run_night(REMINDER_2_NIGHT)
    rows = ledger(two_debtors)
    email = outbox_email(two_debtors, rows[("FA-T1", "reminder_2")])
    for part in (email["text"], email["html"]):
        assert "Malgré notre rappel du 5 mars 2026, la facture FA-T1, échue le 2 mars 2026, reste impayée" in plain(part)
        assert "précédent" not in part
    assert email["subject"].startswith("Deuxième relance")

    letter = rows[("FA-T2", "reminder_2")]
    assert (letter["channel"], letter["provider"]) == ("letter", "print_queue")
    printed = plain(Path(letter["document_path"]).read_text("utf-8"))
    assert "Malgré notre rappel du 5 mars 2026, la facture FA-T2" in printed
    assert "Paris, le 18 mars 2026" in printed


def test_the_first_message_to_an_invoice_claims_no_earlier_reminder(backend):
    """An invoice already 16 days overdue when the product goes live: whatever step is sent first, it
    opens neutrally."""
    backend.accounting.customer("LIVE")
    backend.accounting.invoice("G1", "LIVE", due=DUE, total="900.00")
    run_night(REMINDER_2_NIGHT)
    [row] = [r for (number, _), r in ledger(backend).items() if number == "FA-G1" and r["status"] == "sent"]
    email = outbox_email(backend, row)
    for part in (email["subject"], email["text"], email["html"]):
        for claim in ("Malgré", "précédent", "rappel du", "rappels des", "Deuxième relance"):
            assert claim not in part, (row["step"], claim)
    assert "Sauf erreur" in plain(email["text"])


def test_a_bounced_reminder_is_not_quoted(two_debtors):
    """SendGrid said the reminder_1 never reached the debtor: the next message does not pretend it did."""
    run_night(REMINDER_1_NIGHT)
    bounced = ledger(two_debtors)[("FA-T1", "reminder_1")]
    record_delivery_event(two_debtors, str(bounced["action_id"]), "bounce", f"{bounced['provider_message_id']}.f0")

    run_night(REMINDER_2_NIGHT)
    row = ledger(two_debtors)[("FA-T1", "reminder_2")]
    assert row["status"] == "sent"
    # The bounce turned the address into letters: read the message wherever it went.
    message = (Path(row["document_path"]).read_text("utf-8") if row["provider"] == "print_queue"
               else outbox_email(two_debtors, row)["text"])
    assert "Malgré" not in message and "5 mars 2026" not in message
    assert "Sauf erreur de notre part, la facture FA-T1" in plain(message)


def test_formal_notice_email_copy_and_pdf_agree_on_every_amount(backend):
    dates = run_the_ladder(backend, through=Step.formal_notice)
    assert (dates[Step.reminder_1], dates[Step.reminder_2], dates[Step.reminder_3], dates[Step.formal_notice]) == (
        date(2026, 1, 8), date(2026, 1, 20), date(2026, 2, 4), date(2026, 2, 19))
    notice = ledger(backend)[("FA-L1", "formal_notice")]
    assert notice["channel"] == "email_and_letter"
    pdf = pdf_text(Path(notice["document_path"]))
    copy = outbox_email(backend, notice)

    # Penalties to Thursday 19 February 2026: 45 days (6 January - 19 February) at 12.15 %:
    # 4 800,00 x 12.15 % x 45/365 = 71,90; with the 40,00 indemnity, 4 911,90 claimed.
    for document in (pdf, plain(copy["text"]), plain(copy["html"])):
        assert "mettons en demeure de nous régler la somme de 4 911,90 € au plus tard le 27 février 2026" in document
        assert ("nous saisirons le tribunal de commerce dont le ressort comprend Lyon (69001) d'une requête en "
                "injonction de payer") in document
        assert "juridiction compétente" not in document
        # It quotes the reminders the ledger sent, on their nights; pre_due was a courtesy notice.
        assert "Malgré nos rappels des 8 et 20 janvier et 4 février 2026, la facture FA-L1" in document
    assert plain(copy["subject"]) == "Mise en demeure de payer – facture FA-L1 – 4 911,90 €"

    claimed = set(amounts(pdf))
    assert {"4 800,00 €", "71,90 €", "40,00 €", "4 911,90 €"} <= claimed
    # Not one amount of the copy is missing from the letter, nor one of the letter from the copy.
    assert set(amounts(plain(copy["subject"]))) == {"4 911,90 €"}
    for part in (copy["text"], copy["html"]):
        assert set(amounts(plain(part))) == claimed
