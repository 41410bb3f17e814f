"""access.tokens: issuing, hashed storage, authentication, revocation and scope of API tokens."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from access.tokens import OPERATOR, PARTNER, Principal, TokenStore, parse_expiry


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "api-tokens.json"


@pytest.fixture
def store(path: Path) -> TokenStore:
    return TokenStore(path)


def test_operator_token_authenticates_as_the_operator(store: TokenStore) -> None:
    token = store.issue(OPERATOR)

    principal = store.authenticate(token)

    assert principal is not None
    assert principal.is_operator
    assert principal.partner is None
    assert token.startswith(f"mp_{principal.token_id}_")


def test_partner_token_authenticates_as_that_partner(store: TokenStore) -> None:
    token = store.issue(PARTNER, "woonbron", label="portal")

    principal = store.authenticate(token)

    assert principal is not None
    assert (principal.role, principal.partner) == (PARTNER, "woonbron")
    assert not principal.is_operator


def test_each_token_authenticates_to_its_own_principal(store: TokenStore) -> None:
    tokens = {p: store.issue(PARTNER, p) for p in ("woonbron", "gemeente-dordrecht")}

    for partner, token in tokens.items():
        principal = store.authenticate(token)
        assert principal is not None
        assert principal.partner == partner


def test_only_a_sha256_of_the_secret_is_stored(store: TokenStore, path: Path) -> None:
    token = store.issue(OPERATOR, label="ops laptop")
    _, token_id, secret = token.split("_", 2)

    text = path.read_text()
    [row] = json.loads(text)["tokens"]

    assert secret not in text
    assert token not in text
    assert row["id"] == token_id
    assert row["sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["label"] == "ops laptop"


def test_tokens_file_is_readable_by_the_owner_only(store: TokenStore, path: Path) -> None:
    store.issue(OPERATOR)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_tokens_carry_256_bits_of_secret(store: TokenStore) -> None:
    _, _, secret = store.issue(OPERATOR).split("_", 2)

    assert len(secret) >= 43  # token_urlsafe(32): 32 bytes in unpadded base64


def test_secret_with_underscores_still_authenticates(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("access.tokens.secrets.token_urlsafe", lambda n: "a_b__c_")
    token = store.issue(OPERATOR)

    assert store.authenticate(token) is not None


def test_wrong_secret_is_refused(store: TokenStore) -> None:
    token = store.issue(OPERATOR)

    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_unknown_token_id_is_refused(store: TokenStore) -> None:
    _, _, secret = store.issue(OPERATOR).split("_", 2)

    assert store.authenticate(f"mp_000000000000_{secret}") is None


@pytest.mark.parametrize(
    "garbage", ["", "mp", "mp_", "mp__", "Bearer mp_x_y", "nonsense", "mp_only-two", "_ _ _"]
)
def test_garbage_is_refused(store: TokenStore, garbage: str) -> None:
    store.issue(OPERATOR)

    assert store.authenticate(garbage) is None


def test_right_id_and_secret_with_another_prefix_is_refused(store: TokenStore) -> None:
    token = store.issue(OPERATOR)

    assert store.authenticate("xx" + token[2:]) is None


def test_no_tokens_file_authenticates_nobody(store: TokenStore, path: Path) -> None:
    assert not path.exists()
    assert store.authenticate("mp_abc_def") is None


def test_revoked_token_no_longer_authenticates(store: TokenStore) -> None:
    token = store.issue(OPERATOR)
    kept = store.issue(PARTNER, "woonbron")
    principal = store.authenticate(token)
    assert principal is not None

    assert store.revoke(principal.token_id)

    assert store.authenticate(token) is None
    assert store.authenticate(kept) is not None


def test_revoking_an_unknown_id_reports_false(store: TokenStore) -> None:
    store.issue(OPERATOR)

    assert not store.revoke("000000000000")


def test_second_store_on_the_same_file_sees_new_tokens(store: TokenStore, path: Path) -> None:
    api = TokenStore(path)
    first = store.issue(OPERATOR)
    assert api.authenticate(first) is not None

    second = store.issue(PARTNER, "woonbron")

    assert api.authenticate(second) is not None


def test_second_store_on_the_same_file_sees_revocations(store: TokenStore, path: Path) -> None:
    api = TokenStore(path)
    token = store.issue(OPERATOR)
    principal = api.authenticate(token)
    assert principal is not None

    store.revoke(principal.token_id)

    assert api.authenticate(token) is None


def test_issuing_from_two_stores_keeps_both_tokens(store: TokenStore, path: Path) -> None:
    other = TokenStore(path)
    first = store.issue(OPERATOR)
    second = other.issue(OPERATOR)

    assert store.authenticate(first) is not None
    assert store.authenticate(second) is not None


def test_revocation_is_seen_even_when_the_file_mtime_did_not_change(
    store: TokenStore, path: Path
) -> None:
    api = TokenStore(path)
    token = store.issue(OPERATOR)
    principal = api.authenticate(token)
    assert principal is not None
    before = path.stat().st_mtime_ns

    store.revoke(principal.token_id)
    os.utime(path, ns=(before, before))  # what a coarse-grained clock would have written

    assert api.authenticate(token) is None


def test_partner_token_without_a_partner_is_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="exactly one partner"):
        store.issue(PARTNER)


def test_operator_token_for_a_partner_is_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError):
        store.issue(OPERATOR, "woonbron")


def test_unknown_role_is_refused(store: TokenStore, path: Path) -> None:
    with pytest.raises(ValueError):
        store.issue("admin")

    assert not path.exists()


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


def test_an_expired_token_no_longer_authenticates_and_one_without_expiry_does(
    store: TokenStore, path: Path
) -> None:
    lasting = store.issue(OPERATOR)
    short = store.issue(PARTNER, "woonbron", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert store.authenticate(short) is not None
    record = json.loads(path.read_text())
    for row in record["tokens"]:
        if row["expires_at"]:
            row["expires_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    path.write_text(json.dumps(record))

    assert store.authenticate(short) is None
    assert store.authenticate(lasting) is not None


def test_a_token_file_from_before_expiries_still_loads(store: TokenStore, path: Path) -> None:
    token = store.issue(OPERATOR)
    record = json.loads(path.read_text())
    for row in record["tokens"]:
        del row["expires_at"]
    path.write_text(json.dumps(record))

    assert store.authenticate(token) is not None
    assert store.records()[0].expires_at is None
