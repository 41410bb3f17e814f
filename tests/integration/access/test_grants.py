"""Consented data sharing: the municipality (A) shares an air-quality sensor with a builder (B).

End to end against a real broker, InfluxDB and API laid out as `mainport up` lays them out,
driven by the CLI and the API as an operator and partners would (the rules on plain data:
tests/unit/domain/test_grants.py and tests/unit/access/test_grant_log.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from controlplane import audit
from domain.registry import Registry
from tests.conftest import control_engine
from tests.integration.access_common import A, B, C, Session, Site, api_site, barrier, bearer
from tests.integration.conftest import Influx

SENSOR = "aq-spuiboulevard"
OTHER_SENSOR = "aq-merwekade"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, influxd: Influx, registry: Registry
) -> Iterator[Site]:
    with api_site(tmp_path_factory.mktemp("grants"), influxd.url, registry) as running:
        now = time.time_ns()
        running.influx.write(
            "\n".join(
                f"telemetry,partner={A},device={device} pm25={value} {now - i * 60_000_000_000}"
                for device, value in ((SENSOR, 11.5), (OTHER_SENSOR, 42.0))
                for i in range(3)
            ).encode()
        )
        yield running


def _telemetry(site: Site, who: str, device: str = SENSOR) -> httpx.Response:
    return site.get(f"/api/v1/partners/{A}/devices/{device}/telemetry", who, metric="pm25")


def _publish_a_round(a: Session) -> None:
    for topic in (
        f"mainport/{A}/{SENSOR}/telemetry",
        f"mainport/{A}/{SENSOR}/status",
        f"mainport/{A}/{OTHER_SENSOR}/telemetry",
    ):
        a.publish(topic, topic.encode())


def _reconnected(site: Site, b: Session) -> Session:
    """The broker disconnects a login whose rights change (the dynamic-security plugin kicks
    the clients of a changed role, without their Last Will); B's client comes back."""
    b.wait(lambda: bool(b.disconnects), "the broker disconnecting B as its rights changed")
    b.close()
    return site.session(B)


def test_cli_grant_gives_b_exactly_the_granted_telemetry_on_the_broker_until_revoked(
    site: Site,
) -> None:
    topic = f"mainport/{A}/{SENSOR}/telemetry"
    a, b = site.session(A), site.session(B)
    try:
        assert b.subscribe("mainport/#") == "Not authorized"
        assert b.subscribe(topic) == "Not authorized"

        grant_id = site.cli(
            "grant", "add", "--from", A, "--to", B, "--purpose", "dust monitoring", SENSOR
        ).stdout.strip()
        b = _reconnected(site, b)
        assert b.subscribe("mainport/#") == "Not authorized"  # still nothing beyond the grant
        assert b.subscribe(f"mainport/{A}/+/telemetry") == "Not authorized"
        assert b.subscribe(topic) == "Granted QoS 1"
        b.subscribe(f"mainport/{B}/barrier/#")
        _publish_a_round(a)
        barrier(b, b, f"mainport/{B}/barrier/telemetry")
        shared = [(t, p) for t, p in b.received() if "/barrier/" not in t]
        assert shared == [(topic, topic.encode())]
        assert b.publish(topic, b"forged") == "Not authorized"  # read only

        site.cli("grant", "revoke", grant_id)
        b = _reconnected(site, b)
        assert b.subscribe(topic) == "Not authorized"
        assert a.disconnects == []  # the owner is not touched
    finally:
        a.close()
        b.close()


def test_api_grant_opens_and_revocation_closes_broker_and_api_at_once(site: Site) -> None:
    b = site.session(B)
    a = site.session(A)
    topic = f"mainport/{A}/{SENSOR}/telemetry"
    try:
        assert b.subscribe(topic) == "Not authorized"
        assert _telemetry(site, B).status_code == 403

        created = httpx.post(
            f"{site.api}/api/v1/partners/{A}/grants",
            json={
                "grantee": B,
                "devices": [SENSOR],
                "purpose": "dust limits during the works",
                "note": "building site next door",
            },
            headers=bearer(site.tokens[A]),
        )
        assert created.status_code == 201, created.text
        (grant,) = created.json()["created"]
        assert grant["granted_by"].startswith(f"partner {A} (API token ")

        answer = _telemetry(site, B)
        assert answer.status_code == 200
        assert [v for _, v in answer.json()["points"]] == [11.5, 11.5, 11.5]
        assert _telemetry(site, B, OTHER_SENSOR).status_code == 403
        assert site.get(f"/api/v1/partners/{A}/devices", B).status_code == 403
        b = _reconnected(site, b)
        assert b.subscribe(topic) == "Granted QoS 1"
        a.publish(topic, b"live")
        b.wait(lambda: bool(b.messages), "the shared telemetry on the broker")

        revoked = httpx.delete(
            f"{site.api}/api/v1/partners/{A}/grants/{grant['id']}",
            headers=bearer(site.tokens[A]),
        )
        assert revoked.status_code == 200
        assert revoked.json()["revoked_by"] == grant["granted_by"]
        assert _telemetry(site, B).status_code == 403  # the very next request
        b = _reconnected(site, b)  # gone with its session: the subscription to A's sensor
        assert b.subscribe(topic) == "Not authorized"
    finally:
        a.close()
        b.close()


def _post(
    site: Site, who: str, owner: str, body: dict[str, object], purpose: str | None = "tests"
) -> httpx.Response:
    """POST a grant; with a purpose unless `purpose` is None."""
    if purpose is not None:
        body = {"purpose": purpose, **body}
    return httpx.post(
        f"{site.api}/api/v1/partners/{owner}/grants", json=body, headers=bearer(site.tokens[who])
    )


def test_a_partner_token_grants_and_revokes_only_its_own_devices(site: Site) -> None:
    answers = {
        "B grants A's sensor under A's id": _post(site, B, A, {"grantee": B, "devices": [SENSOR]}),
        "B grants A's sensor under its own id": _post(
            site, B, B, {"grantee": C, "devices": [SENSOR]}
        ),
        "A grants to itself": _post(site, A, A, {"grantee": A, "devices": [SENSOR]}),
        "A grants to an unknown partner": _post(
            site, A, A, {"grantee": "nobody-here", "devices": [SENSOR]}
        ),
        "A grants no device": _post(site, A, A, {"grantee": B, "devices": []}),
        "A sends an extra field": _post(
            site, A, A, {"grantee": B, "devices": [SENSOR], "owner": C}
        ),
        "A gives no purpose": _post(site, A, A, {"grantee": B, "devices": [SENSOR]}, None),
        "A gives an empty purpose": _post(site, A, A, {"grantee": B, "devices": [SENSOR]}, " "),
        "A sets an end in the past": _post(
            site, A, A, {"grantee": B, "devices": [SENSOR], "ends_at": "2020-01-01T00:00:00Z"}
        ),
        "A sets an end without a zone": _post(
            site, A, A, {"grantee": B, "devices": [SENSOR], "ends_at": "2099-01-01T00:00:00"}
        ),
    }
    assert {k: v.status_code for k, v in answers.items()} == {
        "B grants A's sensor under A's id": 403,
        "B grants A's sensor under its own id": 422,
        "A grants to itself": 422,
        "A grants to an unknown partner": 422,
        "A grants no device": 422,
        "A sends an extra field": 422,
        "A gives no purpose": 422,
        "A gives an empty purpose": 422,
        "A sets an end in the past": 422,
        "A sets an end without a zone": 422,
    }
    assert "not in the future" in answers["A sets an end in the past"].json()["detail"]
    assert "purpose" in answers["A gives an empty purpose"].json()["detail"]
    assert site.get("/api/v1/grants", "operator").json() == []  # none of them recorded
    assert (
        "not a registered device of bouwbedrijf-drechtsteden"
        in answers["B grants A's sensor under its own id"].json()["detail"]
    )

    (grant,) = _post(site, A, A, {"grantee": C, "devices": [OTHER_SENSOR]}).json()["created"]
    revoke = f"{site.api}/api/v1/partners/{{}}/grants/{grant['id']}"
    assert httpx.delete(revoke.format(A), headers=bearer(site.tokens[B])).status_code == 403
    assert httpx.delete(revoke.format(B), headers=bearer(site.tokens[B])).status_code == 404
    assert httpx.delete(revoke.format(C), headers=bearer(site.tokens[C])).status_code == 404
    assert httpx.delete(revoke.format(A), headers=bearer(site.tokens[A])).status_code == 200
    assert httpx.delete(revoke.format(A), headers=bearer(site.tokens[A])).status_code == 409


def test_operator_and_partners_list_the_grants_that_concern_them(site: Site) -> None:
    by_operator = _post(site, "operator", A, {"grantee": B, "devices": [OTHER_SENSOR]})
    assert by_operator.status_code == 201
    (grant,) = by_operator.json()["created"]
    assert grant["granted_by"].startswith("operator (API token ")
    again = _post(site, A, A, {"grantee": B, "devices": [OTHER_SENSOR]})
    assert (again.status_code, again.json()["existing"][0]["id"]) == (200, grant["id"])

    def ids(who: str, path: str = "/api/v1/grants", **params: str) -> set[str]:
        answer = site.get(path, who, **params)
        assert answer.status_code == 200, answer.text
        return {g["id"] for g in answer.json()}

    assert grant["id"] in ids("operator") & ids(A) & ids(B)
    assert grant["id"] in ids(B, f"/api/v1/partners/{B}/grants")
    assert grant["id"] not in ids(C) | ids(C, f"/api/v1/partners/{C}/grants")
    assert site.get(f"/api/v1/partners/{A}/grants", C).status_code == 403
    every = site.get("/api/v1/grants", "operator", all="true").json()
    assert all(g["owner"] == A for g in every)  # nothing else was ever shared here
    assert any(not g["active"] and g["revoked_by"] for g in every)

    history = [
        json.loads(line)
        for line in site.cli("grant", "list", "--history", "--json").stdout.splitlines()
    ]
    assert [e["event"] for e in history].count("grant") == len(every)
    assert all(
        {"at", "event", "id", "owner", "device", "grantee", "by"} <= e.keys() for e in history
    )
    listed = site.cli("grant", "list", "--partner", B).stdout
    assert grant["id"] in listed and "granted_by" in listed.splitlines()[0]
    with control_engine(site.data_dir).connect() as conn:
        audited = audit.entries(conn, partner=A)
    assert {(e.action, e.entity_id, e.actor) for e in audited} >= {
        ("create", grant["id"], grant["granted_by"])
    }
