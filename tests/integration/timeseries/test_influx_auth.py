"""InfluxDB as `mainport up` runs it: authentication on, an admin, and one user per role with
only its privilege (core/influx_logins.py). Attacked with real HTTP against a real influxd."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.influx_logins import InfluxUser, Role, ensure_logins, load_logins
from core.processes import free_port
from core.settings import Settings
from mainport.preparation import setup_influx
from mainport.services import InfluxConfig, start_influxd
from timeseries.client import InfluxClient, StoreForbidden, StoreUnauthorized
from timeseries.schema import ensure_schema
from timeseries.users import InfluxSetupError

pytestmark = pytest.mark.integration

DB = "mainport"
NOW = time.time_ns() - 60 * 10**9


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    root = tmp_path_factory.mktemp("influx-auth")
    cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb")  # auth on: the default
    child = start_influxd(cfg, root / "log")
    settings = Settings(data_dir=root / "var", influx_url=cfg.url, influx_db=DB)
    logins = ensure_logins(settings.influx_logins_file)
    setup_influx(settings, logins)
    yield settings, root
    child.stop()


def _client(settings: Settings, role: Role | None) -> InfluxClient:
    login = settings.influx_login(role) if role else {"username": None, "password": None}
    return InfluxClient(settings.influx_url, DB, **login)


def test_an_unauthenticated_query_or_write_gets_401(secured: tuple[Settings, Path]) -> None:
    settings, _ = secured
    query = httpx.post(f"{settings.influx_url}/query", data={"q": "SHOW DATABASES"})
    write = httpx.post(f"{settings.influx_url}/write", params={"db": DB}, content=b"m v=1")
    assert (query.status_code, write.status_code) == (401, 401)
    # A guessed password is no better.
    guessed = httpx.post(
        f"{settings.influx_url}/query", data={"q": "SHOW DATABASES"}, auth=("mainport_admin", "x")
    )
    assert guessed.status_code == 401


def test_each_role_may_do_its_job_and_nothing_more(secured: tuple[Settings, Path]) -> None:
    settings, _ = secured
    writer, deriver, reader = (_client(settings, r) for r in ("writer", "deriver", "reader"))
    try:
        writer.write(f"telemetry,partner=p,device=d t=1 {NOW}".encode())
        with pytest.raises(StoreForbidden):  # the ingest cannot read partners' data back
            writer.query('SELECT * FROM "telemetry"')
        with pytest.raises(StoreForbidden):  # the API cannot forge telemetry
            reader.write(f"telemetry,partner=p,device=d t=666 {NOW + 1}".encode())
        assert reader.query('SELECT "t" FROM "telemetry"')[0][0].values == [[NOW, 1.0]]
        # The deriver reads raw data and writes derived records (SELECT ... INTO).
        deriver.query('SELECT "t" INTO "derived"."copy" FROM "raw"."telemetry"')
        assert deriver.query('SELECT "t" FROM "derived"."copy"')[0][0].values
        for who in (writer, deriver, reader):  # only the admin drops or makes users
            for statement in (
                f'DROP DATABASE "{DB}"',
                'DROP MEASUREMENT "telemetry"',
                "CREATE USER evil WITH PASSWORD 'x' WITH ALL PRIVILEGES",
            ):
                with pytest.raises((StoreForbidden, StoreUnauthorized)):
                    who.query(statement)
    finally:
        for client in (writer, deriver, reader):
            client.close()


def test_a_login_that_may_read_passes_the_schema_check_without_admin_rights(
    secured: tuple[Settings, Path],
) -> None:
    settings, _ = secured
    reader = _client(settings, "reader")
    try:
        ensure_schema(reader, settings.influx_raw_retention)  # in place: nothing to create
    finally:
        reader.close()


def test_logins_are_generated_once_kept_0600_and_setup_runs_again_unchanged(
    secured: tuple[Settings, Path],
) -> None:
    settings, root = secured
    path = settings.influx_logins_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = load_logins(path)
    assert set(before) == {"admin", "writer", "deriver", "reader"}
    assert len({u.password for u in before.values()}) == 4
    setup_influx(settings, ensure_logins(path))  # the next `mainport up`
    assert load_logins(path) == before
    reader = _client(settings, "reader")
    try:
        reader.query("SHOW MEASUREMENTS")
    finally:
        reader.close()
    # No password reaches a log or a repr.
    logs = "".join(p.read_text(errors="replace") for p in (root / "log").glob("*"))
    for user in before.values():
        assert user.password not in logs
        assert user.password not in repr(user)


def test_setup_with_the_wrong_admin_password_says_what_to_do(
    secured: tuple[Settings, Path],
) -> None:
    settings, _ = secured
    logins = dict(load_logins(settings.influx_logins_file))
    logins["admin"] = InfluxUser(logins["admin"].username, "not-the-password")
    with pytest.raises(InfluxSetupError, match="restore the logins file"):
        setup_influx(settings, logins)


def test_a_role_user_that_was_an_admin_loses_the_server_rights(
    secured: tuple[Settings, Path],
) -> None:
    settings, _ = secured
    logins = load_logins(settings.influx_logins_file)
    admin = InfluxClient(
        settings.influx_url,
        DB,
        username=logins["admin"].username,
        password=logins["admin"].password,
    )
    try:
        admin.query(f'GRANT ALL PRIVILEGES TO "{logins["reader"].username}"', db=False)
        setup_influx(settings, logins)
        users = admin.query("SHOW USERS", db=False, epoch=None)[0][0].records()
    finally:
        admin.close()
    assert {u["user"]: u["admin"] for u in users} == {
        logins["admin"].username: True,
        logins["writer"].username: False,
        logins["deriver"].username: False,
        logins["reader"].username: False,
    }


def test_two_roles_with_one_name_are_refused(secured: tuple[Settings, Path]) -> None:
    settings, _ = secured
    logins = dict(load_logins(settings.influx_logins_file))
    logins["reader"] = InfluxUser(logins["admin"].username, logins["reader"].password)
    with pytest.raises(InfluxSetupError, match="four different names"):
        setup_influx(settings, logins)
