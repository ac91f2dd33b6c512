"""Render reminder emails and print-queue letters from the Jinja2 templates in templates/.

Debtor data only ever reaches a template as a variable, never as template source, and the
environment is sandboxed: a debtor named ``{{ 7*7 }}`` is printed as those seven characters.
HTML templates are autoescaped; plain-text and subject templates are not, so a macro that
interpolates data must live in a file of the same kind as its caller (a macro defined in a .txt
file and called from an .html file would hand back unescaped markup).

Templates are laid out per language (``templates/<language>/``):

- ``email.html``, ``email.txt``: the email layouts; ``letter.html``: the printable letter layout
- ``<step>.subject.txt``, ``<step>.html``, ``<step>.txt``: one small file per step and part;
  ``<step>.html`` extends the layout it is given (email or letter), so a letter says exactly
  what the email says
- ``_invoices.*``, ``_penalties.*``, ``_payment.*``, ``_macros.*``: partials shared by the steps
- ``documents/``: the PDF documents (dunning.documents.letters), rendered by the same environment

From reminder_2 onwards a message may carry a PenaltyStatement: the late-payment interest and the
recovery indemnity are then shown beside the invoices, worded by the statement's legal basis. For
invoices not in euros the 40 EUR indemnity (D441-5) is a line of its own in euros, outside the total.

A message quotes the earlier reminders of its invoices that went out (EarlierReminder, read from the
ledger by the dispatcher), with their dates; when none did, it opens neutrally and claims none
(DESIGN.md rule 14). The formal notice's email copy reads the same FormalNoticeFigures as its PDF
(dunning.law_fr.formal_notice): the same amounts, deadline and court.

The installment steps remind one installment of a payment plan (échéancier), before its due date and
once it is overdue; their message carries an InstallmentDue, asks for that installment's amount under
the reference PLAN-<plan>-<seq>, and never shows penalties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency as _babel_format_currency
from babel.numbers import format_decimal as _babel_format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from dunning.law_fr.mentions import require_consumer_mediator
from dunning.rules.messages import EarlierReminder, MessageContext, resolve_language

__all__ = [
    "RenderedMessage",
    "RenderingError",
    "Renderer",
    "format_money",
    "format_date",
    "format_date_list",
    "format_rate",
    "template_environment",
]

# 'en' is babel's American English: '€1,234.56' and 'November 23, 2026'.
_LOCALES = {"fr": "fr_FR", "en": "en"}


class RenderingError(RuntimeError):
    """A template is missing or failed to render (a bug in a template, never in the data)."""


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """'1 234,56 €' in French (babel's narrow no-break spaces), '€1,234.56' in English."""
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        # A float here would already have lost cents; refuse rather than print a rounded guess.
        raise TypeError(f"format_money expects a Decimal, got {type(amount).__name__}")
    return _babel_format_currency(amount, currency, locale=_LOCALES[resolve_language(language)])


def format_rate(rate: Decimal, language: str) -> str:
    """An annual rate given in percent: '12,15 %' in French, '12.15%' in English."""
    lang = resolve_language(language)
    number = _babel_format_decimal(rate, format="#,##0.00", locale=_LOCALES[lang])
    return f"{number}\u00a0%" if lang == "fr" else f"{number}%"


def format_date(d: date, language: str) -> str:
    """'23 novembre 2026' (and '1er novembre 2026', as French writes it) or 'November 23, 2026'."""
    lang = resolve_language(language)
    if lang == "fr" and d.day == 1:
        return _babel_format_date(d, "d'er' MMMM y", locale=_LOCALES[lang])
    return _babel_format_date(d, "long", locale=_LOCALES[lang])


def format_date_list(days: Sequence[date], language: str) -> str:
    """The dates of earlier reminders after 'notre rappel' / 'our reminder(s)', month and year said once:

    'du 4 août 2026', 'des 4 et 19 août 2026', 'des 28 juillet et 4 août 2026',
    'du 20 décembre 2025 et du 4 janvier 2026'; 'of August 4, 2026', 'of August 4 and 19, 2026',
    'of December 20, 2025 and January 4, 2026'.
    """
    lang = resolve_language(language)
    days = sorted(set(days))
    if not days:
        raise ValueError("no date to list")
    if len(days) == 1:
        return f"{'du' if lang == 'fr' else 'of'} {format_date(days[0], lang)}"
    if len({d.year for d in days}) > 1:
        if lang == "fr":
            return _and([f"du {format_date(d, lang)}" for d in days], lang)
        return "of " + _and([format_date(d, lang) for d in days], lang)
    # One year: each month written once, after its days in French, before them in English.
    months: dict[int, list[date]] = {}
    for d in days:
        months.setdefault(d.month, []).append(d)
    groups = []
    for same_month in months.values():
        month = _babel_format_date(same_month[0], "MMMM", locale=_LOCALES[lang])
        numbers = _and(["1er" if lang == "fr" and d.day == 1 else str(d.day) for d in same_month], lang)
        groups.append(f"{numbers} {month}" if lang == "fr" else f"{month} {numbers}")
    year = days[0].year
    return f"des {_and(groups, lang)} {year}" if lang == "fr" else f"of {_and(groups, lang)}, {year}"


def _and(parts: list[str], language: str) -> str:
    word = " et " if language == "fr" else " and "
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + word + parts[-1]


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


@pass_context
def _money_filter(ctx: Context, amount: Decimal, currency: str | None = None, language: str | None = None) -> str:
    return format_money(amount, currency or ctx["currency"], language or ctx["language"])


@pass_context
def _long_date_filter(ctx: Context, d: date, language: str | None = None) -> str:
    return format_date(d, language or ctx["language"])


@pass_context
def _reminder_dates_filter(ctx: Context, reminders: Sequence[EarlierReminder], language: str | None = None) -> str:
    return format_date_list([r.sent_on for r in reminders], language or ctx["language"])


@pass_context
def _rate_filter(ctx: Context, rate: Decimal, language: str | None = None) -> str:
    return format_rate(rate, language or ctx["language"])


@pass_context
def _country_name_filter(ctx: Context, code: str) -> str:
    # The last line of an international postal address: the country in the sender's language.
    return Locale.parse(_LOCALES[ctx["language"]]).territories.get(code.upper(), code)


def _refuse_none(value: Any) -> Any:
    # A None printed as 'None' in a letter is a template bug: guard optional fields with {% if %}.
    if value is None:
        raise ValueError("a template printed None; guard optional values with {% if %}")
    return value


def template_environment(templates_dir: Path) -> SandboxedEnvironment:
    """The one Jinja2 environment of the product: sandboxed, strict, .html autoescaped, with our filters.

    Templates read `currency` and `language` from their variables for the money, long_date and
    rate filters; every caller passes both.
    """
    templates_dir = Path(templates_dir)
    if not templates_dir.is_dir():
        raise RenderingError(f"templates directory not found: {templates_dir}")
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        finalize=_refuse_none,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["money"] = _money_filter
    env.filters["long_date"] = _long_date_filter
    env.filters["rate"] = _rate_filter
    env.filters["reminder_dates"] = _reminder_dates_filter
    env.filters["country_name"] = _country_name_filter
    return env


class Renderer:
    """Renders a MessageContext with the templates of one templates directory."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._env = template_environment(self.templates_dir)

    def render_message(self, context: MessageContext) -> RenderedMessage:
        """The email: subject, HTML and plain-text parts."""
        lang, step = context.language, context.step
        subject = self._subject(context)
        html = self._render(f"{lang}/{step}.html", context, subject=subject, layout=f"{lang}/email.html")
        text = self._render(f"{lang}/{step}.txt", context, subject=subject)
        return RenderedMessage(subject=subject, html=html, text=text)

    def render_letter(self, context: MessageContext) -> str:
        """A full printable HTML document: any step for a debtor without email, and the mise en demeure."""
        lang, step = context.language, context.step
        subject = self._subject(context)
        return self._render(f"{lang}/{step}.html", context, subject=subject, layout=f"{lang}/letter.html")

    def _subject(self, context: MessageContext) -> str:
        raw = self._render(f"{context.language}/{context.step}.subject.txt", context)
        # One line, always: a newline in an invoice number must not become a header break.
        return " ".join(raw.split())

    def _render(self, template_name: str, context: MessageContext, **extra: Any) -> str:
        require_consumer_mediator(context.company, context.debtor, f"a {context.step} to consumer {context.debtor.id}")
        variables = {
            "step": context.step,
            "as_of": context.as_of,
            "company": context.company,
            "debtor": context.debtor,
            "invoices": context.invoices,
            "currency": context.currency,
            "language": context.language,
            "response_deadline": context.response_deadline,
            "penalties": context.penalties,
            "broken_promise_on": context.broken_promise_on,
            "discount": context.discount,
            "installment": context.installment,
            "show_penalties": context.shows_penalties,
            "total_with_penalties": context.total_with_penalties,
            "total_due": context.total_due,
            "credits": context.credits,
            "payment_reference": context.payment_reference,
            "amount_to_pay": context.amount_to_pay,
            "max_days_overdue": context.max_days_overdue,
            "earlier_reminders": context.earlier_reminders,
            "notice": context.notice,
            **extra,
        }
        try:
            return self._env.get_template(template_name).render(variables)
        except (TemplateError, ValueError, TypeError) as exc:
            # Opaque ids only: debtor names stay out of logs and error trackers.
            raise RenderingError(
                f"{template_name} failed for debtor {context.debtor.id} at {context.step}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
