"""How old a price is, and the warning the CLI prints when it is old (STYLE.md rule 3: warn when a price is stale)."""

from __future__ import annotations

from datetime import date

from frugaltune.catalog.types import Offer

DEFAULT_MAX_AGE_DAYS = 180


def parse_data_date(text: str) -> date | None:
    """ISO 'YYYY-MM-DD' -> date; 'unknown' or anything unparsable -> None."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def price_age_days(offer: Offer, today: date | None = None) -> int | None:
    """Days between the offer's data_date and `today` (default: today); None when the date is unknown.

    A lower-bound date (">= 2025-11" stored as 2025-11-01, said in the offer's notes) gives an upper bound on age.
    """
    observed = parse_data_date(offer.data_date)
    if observed is None:
        return None
    return ((today or date.today()) - observed).days


def stale_price_warning(offer: Offer, today: date | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> str | None:
    """A one-line warning when the offer's price is older than `max_age_days` or undated; None when fresh.

    Example: "price for lambda A10 is from 2026-05-07 (200 days old); check the provider's page".
    """
    age = price_age_days(offer, today)
    what = f"price for {offer.platform} {offer.gpu}"
    if age is None:
        return f"{what} ({offer.instance}) has no known date; check the provider's page"
    if age > max_age_days:
        return f"{what} is from {offer.data_date} ({age} days old); check the provider's page"
    return None
