"""access.tokens: issuing, hashed storage, authentication, revocation and scope of API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.tokens import OPERATOR, PARTNER, Principal, parse_expiry

# --- Principal ---------------------------------------------------------------------------


def test_operator_may_see_every_partner() -> None:
    operator = Principal(OPERATOR, None, "t1")

    assert operator.may_see("woonbron")
    assert operator.may_see("gemeente-dordrecht")


def test_partner_may_see_only_itself() -> None:
    partner = Principal(PARTNER, "woonbron", "t2")

    assert partner.may_see("woonbron")
    assert not partner.may_see("gemeente-dordrecht")
    assert not partner.is_operator


NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12h", NOW + timedelta(hours=12)),
        ("30d", NOW + timedelta(days=30)),
        ("8w", NOW + timedelta(weeks=8)),
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01T12:00:00+01:00", datetime(2027, 1, 1, 11, tzinfo=UTC)),
    ],
)
def test_an_expiry_is_a_lifetime_or_an_iso_time(text: str, expected: datetime) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["0h", "2026-12-01", "soon", "30", "-1d", "1y"])
def test_an_expiry_in_the_past_or_unreadable_is_refused_naming_the_option(text: str) -> None:
    with pytest.raises(ValueError, match="--expires"):
        parse_expiry(text, NOW)


def test_an_end_date_names_the_option_it_came_from() -> None:
    with pytest.raises(ValueError, match="--until"):
        parse_expiry("2020-01-01", NOW, "--until")
