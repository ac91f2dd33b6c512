"""What a run tells people: aging totals, the run summary, and the machine-readable exports' shapes."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from dunning.law_fr.mentions import COMPANY_FILE
from dunning.rules.aging import BUCKETS
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.frames import records
from dunning.rules.money import ZERO
from dunning.rules.recovery import Verdict

__all__ = ["AMOUNT_COLUMNS", "aging_totals", "with_segments", "RunSummary"]

AMOUNT_COLUMNS = (*BUCKETS, "unapplied_credit", "total_open")
_BUCKET_LABELS = {"not_due": "not due", "d1_30": "1-30 days", "d31_60": "31-60 days", "d61_90": "61-90 days",
                  "d90_plus": "over 90 days", "unapplied_credit": "unapplied credit", "total_open": "total open"}


def with_segments(aging: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """The aging rows with each debtor's segment (debtors with only credit are 'unsegmented')."""
    segment_of = dict(zip(segments["debtor_id"], segments["segment"]))
    out = aging.copy()
    out.insert(3, "segment", [segment_of.get(d, "unsegmented") for d in out["debtor_id"]])
    return out


def aging_totals(aging: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Totals per segment and currency, then one 'all' line per currency."""
    rows: dict[tuple[str, str], dict] = {}
    for row in records(with_segments(aging, segments)):
        for segment in (row["segment"], "all"):
            key = (segment, row["currency"])
            total = rows.setdefault(key, {"segment": segment, "currency": row["currency"], "debtors": 0,
                                          **{c: ZERO for c in AMOUNT_COLUMNS}})
            total["debtors"] += 1
            for column in AMOUNT_COLUMNS:
                total[column] += row[column]
    order = {"all": 99}
    ordered = sorted(rows.values(), key=lambda r: (r["currency"], order.get(r["segment"], 0), r["segment"]))
    return pd.DataFrame(ordered, columns=["segment", "currency", "debtors", *AMOUNT_COLUMNS], dtype=object)


def _first(numbers: list[str], shown: int = 10) -> str:
    return ", ".join(numbers[:shown]) + (" ..." if len(numbers) > shown else "")


def _section(title: str, items: list[str], rest: str, shown: int = 20) -> list[str]:
    """A heading with its count, the first lines, and where to read the rest."""
    lines = ["", f"{title}: {len(items)}", *(f"  {item}" for item in items[:shown])]
    if len(items) > shown:
        lines.append(f"  ... and {len(items) - shown} more ({rest})")
    return lines


def _count(n: int) -> str:
    return f"{n:,}".replace(",", " ")


# How the summary words each verdict on a message left 'sending' (dunning.rules.recovery.Verdict).
# What dunning.law_fr.mentions.MissingMentions says, as a failure's reason carries it.
_MISSING_MENTIONS = re.compile(re.escape(COMPANY_FILE) + r": ([a-z_]+(?:, [a-z_]+)*) missing: ")
_VERDICTS = {Verdict.sent.value: "settled as sent", Verdict.resend.value: "sent again (SendGrid had not processed them)",
             Verdict.blind.value: "sent again blind", Verdict.operator.value: "waiting for an operator",
             Verdict.wait.value: "left until the resend delay has passed"}


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", " ")


@dataclass
class RunSummary:
    """The figures of one run, and their rendering as text a finance manager can read."""

    run_id: int
    as_of: str
    dry_run: bool
    invoices_considered: int = 0
    quarantined: int = 0
    quarantine_reasons: Counter = field(default_factory=Counter)
    aging: list[dict] = field(default_factory=list)
    segments: Counter = field(default_factory=Counter)
    decisions: Counter = field(default_factory=Counter)       # (step, outcome)
    sends: Counter = field(default_factory=Counter)           # (step, channel, status)
    failures: list[str] = field(default_factory=list)
    prescribed: list[str] = field(default_factory=list)      # invoice numbers no longer enforceable
    open_disputes: int = 0
    oldest_dispute_days: int = 0
    queued: int = 0                                           # left for the dispatch run (outside the window)
    cases_opened: list[str] = field(default_factory=list)
    cases_extended: list[str] = field(default_factory=list)
    cases_closed: list[int] = field(default_factory=list)       # resolved as paid by this run
    delivery_note: str = ""
    # Addresses that hard-bounced or were dropped (their debtors get letters), and those corrected since.
    addresses_to_correct: list[AddressFlag] = field(default_factory=list)
    addresses_corrected: list[AddressFlag] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)       # sends SendGrid did not answer tonight
    resend_after_minutes: int = 0                             # ... settled or sent again after this long
    handled_elsewhere: Counter = field(default_factory=Counter)  # run id -> messages it handled for this run
    interrupted: Counter = field(default_factory=Counter)     # verdict on messages a stopped run left 'sending'
    awaiting_operator: list[str] = field(default_factory=list)  # ... that only an operator may settle
    resent_blind: list[str] = field(default_factory=list)     # ... sent again without the activity log's word
    rates_missing: str = ""                                    # the night's half-year the rate tables lack
    rates_notes: list[str] = field(default_factory=list)      # the next half-year lacking; entries the file contradicts
    held_for_rates: list[str] = field(default_factory=list)   # invoice numbers whose step waits for the rates
    dossiers_held: list[str] = field(default_factory=list)    # legal cases whose dossier waits for the rates
    small_claims: list[str] = field(default_factory=list)     # below legal.min_principal: an operator decides
    contracts_to_fix: list[str] = field(default_factory=list)  # contractual rates below the legal floor

    @property
    def rates_failure(self) -> str:
        """Why missing rates make the run end Failed, in one line, or ''."""
        if not self.rates_missing:
            return ""
        return f"{self.rates_missing}. Held tonight: {self._held_for_rates()}"

    def _held_for_rates(self) -> str:
        return (f"{len(self.held_for_rates)} step(s) stating penalties to a business, "
                f"{len(self.dossiers_held)} legal dossier(s); everything else went on")

    @property
    def failed(self) -> int:
        return len(self.failures)

    def company_keys_missing(self) -> tuple[list[str], int]:
        """The company.yaml keys whose absence refused tonight's messages (dunning.law_fr.mentions), and how many."""
        found = [m.group(1) for f in self.failures if (m := _MISSING_MENTIONS.search(f))]
        keys = dict.fromkeys(key for group in found for key in group.split(", "))
        return list(keys), len(found)

    def problems(self) -> list[str]:
        """Why the run ends Failed, one line each, or []: what the Prefect state and runs.message say."""
        lines = [self.rates_failure] if self.rates_missing else []
        if self.unanswered:
            lines.append(f"{len(self.unanswered)} send(s) unanswered by SendGrid: each is settled by its delivery "
                         f"event or SendGrid's activity log, or sent again, by the first run "
                         f"{self.resend_after_minutes} min from now")
        keys, refused = self.company_keys_missing()
        if keys:
            lines.append(f"{refused} message(s) refused until {COMPANY_FILE} has {', '.join(keys)}")
        if self.failures:
            reasons = Counter(f.split(": ", 1)[1] for f in self.failures)
            why = "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common(5))
            lines.append(f"{self.failed} of {sum(self.sends.values())} send(s) failed after their retries ({why}); "
                         "the next run or a retry of this one tries them again")
        return lines

    def handled_elsewhere_line(self) -> str:
        """'1 202 message(s) already handled by run 17': what a run that lost a race for its night says."""
        return "; ".join(f"{_count(n)} message(s) already handled by run {run}"
                         for run, n in sorted(self.handled_elsewhere.items()))

    def counts(self) -> dict:
        return {
            "invoices_considered": self.invoices_considered,
            "quarantined": self.quarantined,
            "prescribed": len(self.prescribed),
            "open_disputes": self.open_disputes,
            "segments": dict(self.segments),
            "decisions": {f"{step}:{outcome}": n for (step, outcome), n in sorted(self.decisions.items())},
            "sent": sum(n for (_, _, status), n in self.sends.items() if status == "sent"),
            "failed": self.failed,
            "unanswered": len(self.unanswered),
            "handled_elsewhere": {str(run): n for run, n in sorted(self.handled_elsewhere.items())},
            "queued": self.queued,
            "cases_opened": len(self.cases_opened),
            "cases_extended": len(self.cases_extended),
            "cases_closed": len(self.cases_closed),
            "addresses_to_correct": len(self.addresses_to_correct),
            "addresses_corrected": len(self.addresses_corrected),
            "interrupted": dict(self.interrupted),
            "awaiting_operator": len(self.awaiting_operator),
            "held_for_rates": len(self.held_for_rates),
            "dossiers_held": len(self.dossiers_held),
            "small_claims": len(self.small_claims),
            "contracts_to_fix": len(self.contracts_to_fix),
        }

    def text(self) -> str:
        lines = [f"Collection run {self.run_id} for {self.as_of}"
                 + (" (dry run: nothing sent, ledger untouched)" if self.dry_run else ""), ""]
        if self.rates_missing:
            lines += [f"RATE TABLES OUT OF DATE: {self.rates_missing}",
                      f"  held until they are added: {self._held_for_rates()}"
                      + (f" (invoices {_first(self.held_for_rates)})" if self.held_for_rates else ""), ""]
        for note in self.rates_notes:
            lines += [f"WARNING: {note}", ""]
        if self.contracts_to_fix:
            lines += _section("CONTRACTS TO FIX (their rate is set aside for the commercial rate)",
                              self.contracts_to_fix, "the run's log")[1:] + [""]
        lines.append(f"Invoices considered: {self.invoices_considered}; rows quarantined: {self.quarantined}")
        for reason, n in self.quarantine_reasons.most_common():
            lines.append(f"  {n:>5}  {reason}")
        if self.open_disputes:
            lines.append(f"Open disputes: {self.open_disputes} (oldest {self.oldest_dispute_days} days)")
        if self.prescribed:
            lines.append(f"Prescribed invoices (never dunned again): {len(self.prescribed)} ({_first(self.prescribed)})")
        lines += ["", "Aged balance (balance âgée)"]
        header = f"  {'currency':<8} {'segment':<12}" + "".join(f"{_BUCKET_LABELS[c]:>17}" for c in AMOUNT_COLUMNS)
        lines.append(header)
        for row in self.aging:
            lines.append(f"  {row['currency']:<8} {row['segment']:<12}"
                         + "".join(f"{_amount(row[c]):>17}" for c in AMOUNT_COLUMNS))
        lines += ["", "Debtors by segment"]
        for segment, n in sorted(self.segments.items()):
            lines.append(f"  {segment:<12} {n:>6}")
        lines += ["", "Decisions by step and outcome"]
        for (step, outcome), n in sorted(self.decisions.items()):
            lines.append(f"  {step:<15} {outcome:<18} {n:>6}")
        lines += ["", "Messages by step, channel and status"]
        if self.handled_elsewhere:
            lines.append(f"  {self.handled_elsewhere_line()} (two runs of one night: each message went out once)")
        elif not self.sends:
            lines.append("  none")
        for (step, channel, status), n in sorted(self.sends.items()):
            lines.append(f"  {step:<15} {channel:<17} {status:<10} {n:>6}")
        if self.queued:
            lines.append(f"  {self.queued} message(s) queued: outside the sending window, the dispatch run sends them")
        if self.delivery_note:
            lines.append(f"  {self.delivery_note}")
        statements = sum(n for (step, _, status), n in self.sends.items()
                         if step == "paid_late_statement" and status == "sent")
        claimed = sum(n for (step, outcome), n in self.decisions.items()
                      if step == "paid_late_statement" and outcome == "send")
        if statements or claimed:
            lines += ["", f"Penalty statements sent (invoices paid late): {statements}, claiming {claimed} invoice(s)"]
        lines += ["", f"Legal cases opened: {len(self.cases_opened)}"
                  + (f" ({', '.join(self.cases_opened)})" if self.cases_opened else "")
                  + (f"; extended: {len(self.cases_extended)}" if self.cases_extended else "")
                  + (f"; closed as paid: {len(self.cases_closed)}" if self.cases_closed else "")]
        if self.small_claims:
            lines += _section("Small claims waiting for an operator's decision (below legal.min_principal, or in "
                              "another currency: write-off, payment plan, or `dunning legal handoff`)",
                              self.small_claims, "dunning export actions")
        if self.interrupted:
            lines += ["", "Messages left 'sending' by a stopped run or an unanswered send: "
                      + ", ".join(f"{n} {_VERDICTS.get(verdict, verdict)}"
                                  for verdict, n in sorted(self.interrupted.items()))]
        if self.resent_blind:
            lines += _section("SENT AGAIN WITHOUT KNOWING WHETHER THE FIRST SEND WENT OUT (SendGrid's activity log "
                              "could not be asked)", self.resent_blind, f"dunning export audit --as-of {self.as_of}")
        if self.unanswered:
            lines += _section(f"UNANSWERED SENDS (settled by their delivery event or SendGrid's activity log, or sent "
                              f"again, by the first run {self.resend_after_minutes} min from now)", self.unanswered,
                              f"dunning export actions --as-of {self.as_of}")
        if self.awaiting_operator:
            lines += _section("WAITING FOR AN OPERATOR (dunning action resolve)", self.awaiting_operator,
                              "dunning export actions")
        if self.addresses_to_correct or self.addresses_corrected:
            lines += ["", f"Addresses to correct (hard bounce or dropped; the next steps go by letter): "
                          f"{len(self.addresses_to_correct)}"
                      + (f"; corrected in the accounting system since: {len(self.addresses_corrected)}"
                         if self.addresses_corrected else "")]
            lines += [f"  {f.debtor_id:<12} {f.email:<32} {f.event:<8} {f.flagged_on}  {f.reason}"
                      for f in self.addresses_to_correct[:20]]
            if len(self.addresses_to_correct) > 20:
                lines.append(f"  ... and {len(self.addresses_to_correct) - 20} more (dunning address list)")
        keys, refused = self.company_keys_missing()
        if keys:
            lines += ["", f"COMPANY DETAILS MISSING: fill in {', '.join(keys)} in {COMPANY_FILE}; {refused} formal "
                          "notice(s) or letter(s) to consumers wait for them (the next run sends them)"]
        if self.failures:
            lines += _section("FAILED SENDS", self.failures, f"dunning export actions --as-of {self.as_of}")
        return "\n".join(lines)
