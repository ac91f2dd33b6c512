"""What SendGrid reported back, brought to the night's plan: the debtor addresses to correct."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.rules.delivery_events import AddressFlag
from dunning.state.delivery import DeliveryStore
from dunning.state.store import state_engine

from .context import trace_for


@task(name="review_address_flags", cache_policy=NO_CACHE)
def review_address_flags(invoices: pd.DataFrame, dry_run: bool,
                         run_id: int) -> tuple[list[AddressFlag], list[AddressFlag]]:
    """Clear the flags of addresses corrected in the accounting system; returns (still flagged, cleared).

    A flagged address still in the accounting system sends its debtor's next steps by letter.
    """
    deliveries, logger = DeliveryStore(state_engine()), get_run_logger()
    emails = dict(zip(invoices["debtor_id"], invoices["email"]))
    if dry_run:
        flags = deliveries.active_address_flags()
        corrected = [f for f in flags if f.debtor_id in emails and f.corrected_by(emails[f.debtor_id])]
    else:
        corrected = deliveries.clear_corrected_addresses(trace_for(run_id), emails)
        flags = deliveries.active_address_flags()
    for flag in corrected:
        logger.info("Debtor %s: the flagged address has been corrected in the accounting system; emails resume.",
                    flag.debtor_id)
    still = [f for f in flags if f not in corrected]
    if still:
        logger.warning("%d debtor address(es) to correct after a hard bounce or a drop (debtors %s): their next "
                       "steps go by letter.", len(still), ", ".join(sorted({f.debtor_id for f in still})))
    return still, corrected
