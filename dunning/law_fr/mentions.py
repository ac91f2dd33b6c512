"""What a letter must say about its sender before it may be printed.

- The creditor's mandatory mentions on the formal notice and the legal dossier: C. com. R123-237
  requires the registration number with "RCS" and the city of the greffe and the place of the
  registered office on a registered person's correspondence; a company's letters also give its
  legal form and share capital, and a mise en demeure is signed by a named person in a capacity.
- The consumer mediator on every letter to a consumer: C. conso L616-1, the professional gives the
  consumer the details of the consumer mediator it falls under.

The fields are optional in config/company.yaml so that reminders go out while they are being
filled in; what needs them is refused with one message naming every missing key (MissingMentions,
a ConfigError: the dispatcher records the message as failed with it, the next run tries again).

Pure: no IO, no template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dunning.config import CREDITOR_MENTIONS, CompanyIdentity, ConfigError

if TYPE_CHECKING:
    from dunning.rules.messages import Debtor

__all__ = ["MissingMentions", "require_creditor_mentions", "require_consumer_mediator"]

COMPANY_FILE = "config/company.yaml"


class MissingMentions(ConfigError):
    """A document the law wants a mention on, and config/company.yaml lacks it."""

    def __init__(self, keys: list[str], what: str) -> None:
        self.keys = tuple(keys)
        super().__init__(f"{COMPANY_FILE}: {', '.join(keys)} missing: {what} cannot be printed without "
                         f"{'them' if len(keys) > 1 else 'it'}; fill in {COMPANY_FILE} and the next run sends it")


def require_creditor_mentions(company: CompanyIdentity, what: str) -> None:
    """Refuse a formal notice or a dossier whose creditor lacks a mandatory mention."""
    missing = company.missing(CREDITOR_MENTIONS)
    if missing:
        raise MissingMentions(missing, what)


def require_consumer_mediator(company: CompanyIdentity, debtor: Debtor, what: str) -> None:
    """Refuse a letter to a consumer that could not name the consumer mediator (L616-1 C. conso)."""
    if debtor.is_consumer and company.consumer_mediator is None:
        raise MissingMentions(["consumer_mediator"], what)
