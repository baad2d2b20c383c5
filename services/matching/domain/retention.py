"""Retention (DOMAIN.md, "Privacy"): an active file is kept 2 years after the last contact, then anonymised (its
identity goes, the pseudonymous facts and the aggregates stay). Pure."""

from __future__ import annotations

import datetime as dt

from services.matching.domain.eligibility import add_months


def anonymise_if_no_contact_since(today: dt.date, retention_months: int) -> dt.date:
    """Files whose last contact (enrolment, check, placement start or end, follow-up) is before this day are due."""
    return add_months(today, -retention_months)
