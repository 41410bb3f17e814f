"""access.broker without a broker: password hashes, ACL and password files, and scope
checks. (The real broker checks these files in the integration tests; the store of
logins: tests/integration/access/test_access_store.py.)"""

from __future__ import annotations

import base64
from textwrap import dedent

import pytest

from access.broker import (
    ALERT_ACCOUNT,
    INGEST_ACCOUNT,
    NETWORK_ACCOUNT,
    Account,
    account_username,
    desired_roles,
    hash_password,
    login_rights,
    render_acl,
    render_password_file,
    validate_scope,
)
from access.dynsec import SEND, admin_acls, control_commands, render_dynsec, roles_of
from domain.registry import Registry, parse_registry

# Known vector: `mosquitto_passwd` output for password "secret" with this salt.
SALT = b"\x29\x8e\x6e\x2f\xe1\x2a\x74\xe3\xb7\x41\x93\xd1"
SECRET_HASH = (
    "$7$101$KY5uL+EqdOO3QZPR$FeqBOUOtlBwoGFnCMZDpXjJzLI9uGXjL8lOGdFr2FYvc27FXsP9iQPm/"
    "lpRJmMLjVW2t1OJBV4LwQZ2ky3KJ0A=="
)


@pytest.fixture
def partners() -> Registry:
    return parse_registry(
        dedent(
            """\
            partners:
              - {id: woonbron, name: Woonbron}
              - {id: gemeente-dordrecht, name: Gemeente Dordrecht}
            """
        )
    )


def account(username: str, scope: str, *, runtime: bool = False) -> Account:
    return Account(
        username, scope, f"$7$101$hash-of-{username}", "2026-11-20T00:00:00+00:00", runtime
    )


def verifies(password: str, stored: str) -> bool:
    """Check a password against a `$7$` hash the way Mosquitto does: same salt, same digest."""
    _, kind, rounds, salt, _ = stored.split("$")
    assert (kind, rounds) == ("7", "101")
    return hash_password(password, salt=base64.b64decode(salt)) == stored


# --- hash_password -----------------------------------------------------------------------


def test_hash_matches_mosquitto_passwd_for_a_known_salt() -> None:
    assert base64.b64encode(SALT).decode() == "KY5uL+EqdOO3QZPR"
    assert hash_password("secret", salt=SALT) == SECRET_HASH


def test_hash_of_another_password_differs() -> None:
    assert hash_password("Secret", salt=SALT) != SECRET_HASH


def test_fresh_hashes_use_a_random_12_byte_salt() -> None:
    first, second = hash_password("secret"), hash_password("secret")

    assert first != second
    salt = base64.b64decode(first.split("$")[3])
    assert len(salt) == 12
    assert verifies("secret", first)
    assert verifies("secret", second)


# --- render_acl --------------------------------------------------------------------------


def test_partner_account_reads_and_writes_under_its_own_prefix_only(partners: Registry) -> None:
    acl = render_acl([account("woonbron", "woonbron")], partners, "mainport")

    assert "\nuser woonbron\ntopic readwrite mainport/woonbron/#\n" in acl
    assert [ln for ln in acl.splitlines() if ln.startswith("topic")] == [
        "topic readwrite mainport/woonbron/#"
    ]


def test_network_account_reads_and_writes_under_network_only(partners: Registry) -> None:
    acl = render_acl([account("_network", NETWORK_ACCOUNT)], partners, "mainport")

    assert "\nuser _network\ntopic readwrite mainport/_network/#\n" in acl
    assert acl.count("topic ") == 1


def test_ingest_account_reads_everything_and_writes_nothing(partners: Registry) -> None:
    acl = render_acl([account("_ingest", INGEST_ACCOUNT)], partners, "mainport")

    assert "\nuser _ingest\ntopic read mainport/#\n" in acl
    assert "write" not in acl.replace("Do not edit", "")


def test_account_of_a_partner_no_longer_registered_gets_no_rules(partners: Registry) -> None:
    acl = render_acl(
        [account("gone", "gone"), account("woonbron", "woonbron")], partners, "mainport"
    )

    assert "user gone" not in acl
    assert "mainport/gone" not in acl
    assert "user woonbron" in acl


def test_extra_login_of_a_partner_gets_the_partners_rules(partners: Registry) -> None:
    username = account_username("woonbron", "sim")

    acl = render_acl([account(username, "woonbron")], partners, "mainport")

    assert username == "woonbron.sim"
    assert "\nuser woonbron.sim\ntopic readwrite mainport/woonbron/#\n" in acl


def test_acl_uses_the_configured_topic_root(partners: Registry) -> None:
    acl = render_acl(
        [account("woonbron", "woonbron"), account("_ingest", INGEST_ACCOUNT)], partners, "dmd"
    )

    assert "topic readwrite dmd/woonbron/#" in acl
    assert "topic read dmd/#" in acl
    assert "mainport/" not in acl


def test_acl_is_sorted_by_username(partners: Registry) -> None:
    accounts = [
        account("woonbron", "woonbron"),
        account("_ingest", INGEST_ACCOUNT),
        account("gemeente-dordrecht", "gemeente-dordrecht"),
    ]

    acl = render_acl(accounts, partners, "mainport")

    users = [ln.split()[1] for ln in acl.splitlines() if ln.startswith("user ")]
    assert users == ["_ingest", "gemeente-dordrecht", "woonbron"]
    assert acl.startswith("# Generated")


# --- render_password_file ----------------------------------------------------------------


def test_password_file_is_one_sorted_username_hash_line_per_account() -> None:
    accounts = [account("woonbron", "woonbron"), account("_ingest", INGEST_ACCOUNT)]

    text = render_password_file(accounts)

    assert text == "_ingest:$7$101$hash-of-_ingest\nwoonbron:$7$101$hash-of-woonbron\n"


def test_password_file_without_accounts_is_empty() -> None:
    assert render_password_file([]) == ""


# --- validate_scope ----------------------------------------------------------------------


@pytest.mark.parametrize("scope", [INGEST_ACCOUNT, NETWORK_ACCOUNT, "woonbron"])
def test_service_accounts_and_registered_partners_are_valid_scopes(
    scope: str, partners: Registry
) -> None:
    validate_scope(scope, partners)


def test_unknown_partner_is_refused(partners: Registry) -> None:
    with pytest.raises(ValueError, match="unknown partner 'gamma'"):
        validate_scope("gamma", partners)


@pytest.mark.parametrize("scope", ["Woonbron", "woon bron", "_admin", "x", "", "woonbron\n"])
def test_scope_that_is_not_a_slug_is_refused(scope: str, partners: Registry) -> None:
    with pytest.raises(ValueError, match="not a partner id"):
        validate_scope(scope, partners)


# --- login_rights / control_commands (the dynamic-security plugin's side) -----------------------


def test_a_device_login_may_publish_as_its_own_device_only(partners: Registry) -> None:
    device = Account("woonbron.heat-1", "woonbron", "h", "t", device="heat-1")

    rights = login_rights(device, partners, "mainport", {})

    assert sorted({t for kind, t in rights if kind == SEND}) == ["mainport/woonbron/heat-1/#"]
    # and it may read its partner's alerts (alert/, issue 15)
    assert sorted({t for _, t in rights}) == [
        "mainport/woonbron/_alerts",
        "mainport/woonbron/heat-1/#",
    ]


def test_the_alert_login_may_only_publish_alerts(partners: Registry) -> None:
    rights = login_rights(account("_alert", ALERT_ACCOUNT), partners, "mainport", {})

    assert rights == [(SEND, "mainport/+/_alerts")]


def test_only_ingest_logins_reach_the_shared_subscription_over_everything(
    partners: Registry,
) -> None:
    logins = [
        account("_ingest", INGEST_ACCOUNT),
        account("_ingest.replica-2", INGEST_ACCOUNT),
        account("woonbron", "woonbron"),
        account("_network", NETWORK_ACCOUNT),
    ]

    roles = desired_roles(logins, partners, "mainport")

    everything = ("subscribePattern", "$share/+/mainport/#")
    assert [name for name, acls in roles.items() if everything in acls] == [
        "_ingest",
        "_ingest.replica-2",
    ]
    assert ("subscribePattern", "$share/+/mainport/woonbron/#") in roles["woonbron"]
    assert all(kind != "publishClientSend" for kind, _ in roles["_ingest"])
    assert roles["_admin"] == admin_acls()


def test_a_partner_no_longer_registered_gets_no_login_in_the_plugin(partners: Registry) -> None:
    roles = desired_roles([account("gone", "gone")], partners, "mainport")

    assert set(roles) == {"_admin"}


def test_control_commands_add_rights_before_taking_any_and_touch_only_changes() -> None:
    old = {"a": {("publishClientReceive", "x/#")}, "gone": {("publishClientSend", "g/#")}}
    new = {"a": [("publishClientReceive", "y/#")], "fresh": [("publishClientSend", "f/#")]}

    commands = control_commands(old, new)

    assert [(c["command"], c.get("rolename") or c.get("username")) for c in commands] == [
        ("createRole", "fresh"),
        ("createClient", "fresh"),
        ("addRoleACL", "a"),
        ("removeRoleACL", "a"),
        ("deleteClient", "gone"),
        ("deleteRole", "gone"),
    ]
    assert (
        control_commands(
            {"a": {("publishClientReceive", "y/#")}}, {"a": [("publishClientReceive", "y/#")]}
        )
        == []
    )


def test_rendered_config_round_trips_to_the_same_rights() -> None:
    roles = {"a": [("subscribePattern", "x/#"), ("publishClientReceive", "x/#")], "b": []}

    config = render_dynsec(roles)

    assert roles_of(config) == {name: set(acls) for name, acls in roles.items()}
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert all("password" not in client for client in config["clients"])  # the file's job
