"""The documents a collections team posts: the mise en demeure (formal notice to pay) as a PDF and
the cover sheet of its registered letter, laid out by dunning.documents.pdf.

Every word comes from ``templates/<language>/documents/``. A consumer in France gets the formal
notice in French, with the English letter annexed when that is the language they asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any


from dunning.config import Step
from dunning.documents.pdf import html_to_pdf, render_html
from dunning.law_fr.mentions import require_creditor_mentions
from dunning.law_fr.statement import PenaltyStatement, check_basis
from dunning.rules.messages import MessageContext

__all__ = [
    "MIN_RESPONSE_DAYS",
    "FormalNoticeLetter",
    "render_formal_notice_pdf",
    "render_ar_cover_pdf",
    "ar_cover_path",
    "sha256_hex",
]

# The shortest deadline the policy allows (config policy.formal_notice.response_days is 8 to 15).
MIN_RESPONSE_DAYS = 8


def sha256_hex(data: bytes) -> str:
    """The fingerprint stored in the ledger with the action, and printed in the dossier."""
    return hashlib.sha256(data).hexdigest()


# --- the mise en demeure ------------------------------------------------------------------------


@dataclass(frozen=True)
class FormalNoticeLetter:
    """One mise en demeure: the formal_notice message, posted from `place` on `letter_date`.

    The context carries the response deadline and the penalty statement computed to the letter
    date, for exactly the invoices of the letter.
    """

    context: MessageContext
    place: str           # the creditor's city, printed before the date
    letter_date: date

    def __post_init__(self) -> None:
        ctx = self.context
        who = f"formal notice to debtor {ctx.debtor.id}"
        if ctx.step != Step.formal_notice.value:
            raise ValueError(f"{who}: the message context is for step {ctx.step}, not formal_notice")
        if not self.place.strip():
            raise ValueError(f"{who}: the place of the letter is empty")
        require_creditor_mentions(ctx.company, f"the formal notice to debtor {ctx.debtor.id}")
        missing = [name for name in ("address_line", "postal_code", "city") if not getattr(ctx.debtor, name)]
        if missing:
            raise ValueError(f"{who}: no postal address ({', '.join(missing)} missing): a registered letter cannot be sent")
        assert ctx.response_deadline is not None  # MessageContext requires it at formal_notice
        if (ctx.response_deadline - self.letter_date).days < MIN_RESPONSE_DAYS:
            raise ValueError(
                f"{who}: deadline {ctx.response_deadline} is less than {MIN_RESPONSE_DAYS} days after "
                f"the letter date {self.letter_date}"
            )
        statement = ctx.penalties
        if statement is None:
            raise ValueError(f"{who}: the letter needs its penalty statement, computed to the letter date")
        if statement.computed_to != self.letter_date:
            raise ValueError(
                f"{who}: penalties computed to {statement.computed_to}, the letter is dated {self.letter_date}"
            )
        by_number = {line.invoice_number: line for line in statement.lines}
        for invoice in ctx.invoices:
            line = by_number.get(invoice.number)
            if line is None:
                raise ValueError(f"{who}: no penalty line for invoice {invoice.number}")
            # The letter claims each invoice net of the credits set against it.
            owed = invoice.residual - ctx.credited_to(invoice.number)
            if line.principal != owed:
                raise ValueError(
                    f"{who}: invoice {invoice.number}: penalties computed on {line.principal}, "
                    f"the open amount is {owed}"
                )
        check_basis(statement, ctx.debtor.is_consumer, who)

    @property
    def statement(self) -> PenaltyStatement:
        assert self.context.penalties is not None  # checked in __post_init__
        return self.context.penalties


def render_formal_notice_pdf(letter: FormalNoticeLetter, templates_dir: Path) -> bytes:
    """The mise en demeure, in the letter's language, ready for the print queue.

    A consumer in France gets it in French (MessageContext.language); when the debtor's language is
    another one, the same PDF goes on with the letter in that language as an annex, for information.
    """
    ctx = letter.context
    who = f"debtor {ctx.debtor.id}"
    annexed = ctx.debtor_language != ctx.language
    html = render_html(templates_dir, f"{ctx.language}/documents/formal_notice.html",
                   {**_letter_variables(letter), "translation_annexed": annexed}, who)
    annexes = [render_html(templates_dir, f"{ctx.debtor_language}/documents/formal_notice.html",
                       _letter_variables(letter, annex_language=ctx.debtor_language), who)] if annexed else []
    return html_to_pdf(html, f"formal notice to debtor {ctx.debtor.id}", annexes=annexes)


def render_ar_cover_pdf(letter: FormalNoticeLetter, templates_dir: Path) -> bytes:
    """The cover sheet of the registered letter with acknowledgement of receipt: both full addresses."""
    ctx = letter.context
    html = render_html(templates_dir, f"{ctx.language}/documents/ar_cover.html", _letter_variables(letter),
                   f"debtor {ctx.debtor.id}")
    return html_to_pdf(html, f"AR cover sheet for debtor {ctx.debtor.id}")


def ar_cover_path(notice_pdf: Path) -> Path:
    """Where the AR cover sheet of the formal notice printed at `notice_pdf` lies: beside it, the same
    name with "-ar-cover" after the step (formal_notice-ar-cover-<debtor>-<message>.pdf)."""
    notice_pdf = Path(notice_pdf)
    step = Step.formal_notice.value
    if not notice_pdf.name.startswith(f"{step}-"):
        raise ValueError(f"{notice_pdf.name} is not a formal notice of the print queue")
    return notice_pdf.with_name(f"{step}-ar-cover-{notice_pdf.name[len(step) + 1:]}")


def _letter_variables(letter: FormalNoticeLetter, annex_language: str | None = None) -> dict[str, Any]:
    # The figures are the context's FormalNoticeFigures, which the email copy prints too.
    ctx = letter.context
    return {
        "annex": annex_language is not None,   # a translation after the letter, not the letter itself
        "translation_annexed": False,           # the letter, followed by its translation
        "company": ctx.company,
        "debtor": ctx.debtor,
        "invoices": ctx.invoices,
        "credits": ctx.credits,
        "currency": ctx.currency,
        "language": annex_language or ctx.language,
        "place": letter.place,
        "letter_date": letter.letter_date,
        "penalties": letter.statement,
        "notice": ctx.notice,
        "earlier_reminders": ctx.earlier_reminders,
        "payment_reference": ctx.payment_reference,
    }
