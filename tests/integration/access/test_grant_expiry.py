"""Consent that expires (SPEC, grants): a grant given for a purpose until an end date is revoked
by itself at that end — the subscribed grantee stops receiving on the real broker, the API
refuses its next read, and the audit records it once, as "system: consent expired", although
two API replicas run the expiry job. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from controlplane import audit
from domain.grants import EXPIRED_BY
from domain.registry import Registry
from tests.conftest import control_engine, wait_for
from tests.integration.access_common import (
    A,
    B,
    Site,
    api_site,
    barrier,
    bearer,
    start_api,
)
from tests.integration.conftest import Influx

SENSOR = "aq-spuiboulevard"
TOPIC = f"mainport/{A}/{SENSOR}/telemetry"
LEAD_S = 15  # the grant's end this far ahead: time to connect and receive before it


def _telemetry(site: Site) -> int:
    path = f"/api/v1/partners/{A}/devices/{SENSOR}/telemetry"
    return site.get(path, B, metric="pm25").status_code


def _grants_of_a(site: Site, **params: str) -> list[dict[str, object]]:
    answer = site.get(f"/api/v1/partners/{A}/grants", A, **params)
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, object]] = answer.json()
    return listed


def test_a_grant_ending_while_its_grantee_is_subscribed_stops_deliveries_and_reads(
    control_db: str, tmp_path: Path, influxd: Influx, registry: Registry
) -> None:
    with api_site(tmp_path, influxd.url, registry, MAINPORT_DATABASE_URL=control_db) as site:
        site.influx.write(
            f"telemetry,partner={A},device={SENSOR} pm25=11.5 {time.time_ns()}".encode()
        )
        replica, _ = start_api(site.env, site.data_dir / "log")  # a second API runs the job too
        a, b = site.session(A), site.session(B)
        try:
            ends = datetime.now(UTC) + timedelta(seconds=LEAD_S)
            created = httpx.post(
                f"{site.api}/api/v1/partners/{A}/grants",
                json={
                    "grantee": B,
                    "devices": [SENSOR],
                    "purpose": "dust limits while the quay is built",
                    "ends_at": ends.isoformat(),
                },
                headers=bearer(site.tokens[A]),
            )
            assert created.status_code == 201, created.text
            (grant,) = created.json()["created"]
            b.wait(lambda: bool(b.disconnects), "the broker applying the grant to B")
            b.close()
            b = site.session(B)
            assert b.subscribe(TOPIC) == "Granted QoS 1"
            assert b.subscribe(f"mainport/{B}/barrier/#") == "Granted QoS 1"

            a.publish(TOPIC, b"before the end")
            barrier(b, b, f"mainport/{B}/barrier/telemetry")
            assert _telemetry(site) == 200
            assert datetime.now(UTC) < ends, "the machine took the whole lead: raise LEAD_S"
            assert (TOPIC, b"before the end") in b.received()

            # The grantor sees the grant with its purpose, its end and the grantee's read.
            [shown] = _grants_of_a(site)
            assert (shown["purpose"], shown["ends_at"]) == (
                "dust limits while the quay is built",
                grant["ends_at"],
            )
            assert isinstance(shown["reads"], dict) and shown["reads"]["count"] == 1

            # At its end the broker takes B's right away (kicking B's session) by itself.
            b.wait(lambda: bool(b.disconnects), "the grant's end on the broker", LEAD_S + 30)
            assert datetime.now(UTC) >= ends
            assert _telemetry(site) == 403
            b.close()
            b = site.session(B)
            assert b.subscribe(TOPIC) == "Not authorized"
            b.subscribe(f"mainport/{B}/barrier/#")
            a.publish(TOPIC, b"after the end")
            barrier(b, b, f"mainport/{B}/barrier/telemetry")
            assert all(payload != b"after the end" for _, payload in b.received())

            # Recorded like a manual revoke, once, by the system.
            wait_for(lambda: not _grants_of_a(site), 10, "the grant listed as revoked")
            [revoked] = _grants_of_a(site, all="true")
            assert (revoked["active"], revoked["revoked_by"]) == (False, EXPIRED_BY)
            assert revoked["revoked_at"] == grant["ends_at"]
            with control_engine(site.data_dir, control_db).connect() as conn:
                revokes = [e for e in audit.entries(conn, partner=A) if e.action == "revoke"]
            assert [(e.entity, e.entity_id, e.actor) for e in revokes] == [
                ("grant", grant["id"], EXPIRED_BY)
            ]
        finally:
            a.close()
            b.close()
            replica.stop()


def test_the_cli_asks_for_a_purpose_and_takes_an_end_date(
    tmp_path: Path, influxd: Influx, registry: Registry
) -> None:
    with api_site(tmp_path, influxd.url, registry) as site:
        refused = site.cli("grant", "add", "--from", A, "--to", B, SENSOR, check=False)
        assert refused.returncode == 1 and "purpose" in refused.stderr
        past = site.cli(
            "grant",
            "add",
            "--from",
            A,
            "--to",
            B,
            "--purpose",
            "x",
            "--until",
            "2020-01-01",
            SENSOR,
            check=False,
        )
        assert past.returncode == 1 and "--until" in past.stderr
        grant_id = site.cli(
            "grant",
            "add",
            "--from",
            A,
            "--to",
            B,
            "--purpose",
            "quay works",
            "--until",
            "30d",
            SENSOR,
        ).stdout.strip()
        listed = site.cli("grant", "list", "--json").stdout
        assert grant_id in listed and "quay works" in listed and '"ends_at": "20' in listed
