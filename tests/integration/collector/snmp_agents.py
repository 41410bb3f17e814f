"""Real SNMP agents for the collector's tests: Debian's snmpd serving this machine's interfaces,
and snmpsim serving .snmprec data the tests write (and rewrite between polls: snmpsim re-reads a
data file whose modification time changed). Both on free loopback UDP ports in temp dirs,
stopped by PID."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    get_cmd,
)

from core.processes import Child
from tests.conftest import wait_for

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"
SNMPSIM = Path(sys.executable).parent / "snmpsim-command-responder"

COMMUNITY = "mainport-test"
V3_USER = "mainport"
V3_AUTH = "auth-secret-1"
V3_PRIV = "priv-secret-1"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def snmp_get_answers(port: int, community: str, oid: str = SYS_UPTIME) -> bool:
    """Whether an agent answers a v2c GET (a hand-made request: no tool needed)."""

    async def ask() -> bool:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=0.5, retries=0)
            err, status, _, _ = await get_cmd(
                engine,
                CommunityData(community, mpModel=1),  # noqa: S508
                target,
                ContextData(),
                ObjectType(ObjectIdentity(oid)),
            )
            return not err and not status
        finally:
            engine.close_dispatcher()

    return asyncio.run(ask())


@dataclass
class Snmpd:
    """Net-SNMP's agent with a v2c community and a v3 authPriv SHA/AES user."""

    directory: Path
    port: int = field(default_factory=free_udp_port)
    child: Child | None = None

    def start(self) -> None:
        conf = self.directory / "snmpd.conf"
        conf.write_text(
            f"rocommunity {COMMUNITY} 127.0.0.1\n"
            f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
            f"rouser {V3_USER} priv\n"
        )
        env = {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(self.directory / "persist"),
            "MIBS": "",
            "MIBDIRS": str(self.directory / "no-mibs"),
        }
        self.child = Child(
            "snmpd",
            [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), f"udp:127.0.0.1:{self.port}"],
            log_file=self.directory / "snmpd.log",
            env=env,
        )
        self.child.start()
        wait_for(lambda: snmp_get_answers(self.port, COMMUNITY), 20, "snmpd")

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


Record = tuple[str, int, int | str]
"""(OID, snmprec type tag, value): 2 Integer, 4 OctetString, 65 Counter32, 66 Gauge32,
67 TimeTicks, 70 Counter64."""


@dataclass
class Interface:
    name: str
    in_octets: int
    out_octets: int
    up: bool = True
    hc: bool = True
    speed_mbps: int = 1000


def switch_records(uptime_ticks: int, interfaces: list[Interface]) -> list[Record]:
    """An IF-MIB view of a switch: ifIndex k+1 for interface k. A port without HC counters
    (`hc=False`) offers only the 32-bit ones, its value taken modulo 2^32."""
    rows: list[Record] = [(SYS_UPTIME, 67, uptime_ticks)]
    for k, i in enumerate(interfaces, start=1):
        rows += [
            (f"{IF}.2.{k}", 4, i.name),
            (f"{IF}.8.{k}", 2, 1 if i.up else 2),
            (f"{IF}.10.{k}", 65, i.in_octets % 2**32),
            (f"{IF}.16.{k}", 65, i.out_octets % 2**32),
            (f"{IFX}.1.{k}", 4, i.name),
            (f"{IFX}.15.{k}", 66, i.speed_mbps),
        ]
        if i.hc:
            rows += [(f"{IFX}.6.{k}", 70, i.in_octets), (f"{IFX}.10.{k}", 70, i.out_octets)]
    return rows


_versions = itertools.count(1)
_FUTURE_S = 4_000_000_000
"""snmpsim notices a changed data file by its modification time in whole seconds, and rebuilds
its index only when the file is newer than the index: every version gets its own mtime, in the
future (past the index's), one second after the previous."""


def write_snmprec(path: Path, records: list[Record]) -> None:
    """Atomically, in OID order (snmpsim walks the file in its order)."""
    ordered = sorted(records, key=lambda r: tuple(int(p) for p in r[0].split(".")))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in ordered))
    tmp.chmod(0o644)
    version = _FUTURE_S + next(_versions)
    os.utime(tmp, (version, version))
    tmp.replace(path)


@dataclass
class SnmpSim:
    """snmpsim serving every `<community>.snmprec` in its data dir on one UDP port. It finds
    the files when it starts (serve each community once before), and re-reads a changed one."""

    directory: Path
    port: int = field(default_factory=free_udp_port)
    child: Child | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def start(self, probe_community: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.directory / "cache").mkdir(exist_ok=True)
        env = dict(os.environ)
        if os.getuid() == 0:  # snmpsim drops root privileges unless told it may keep them
            env["SNMPSIM_ALLOW_ROOT"] = "true"
        self.child = Child(
            "snmpsim",
            [
                str(SNMPSIM),
                f"--data-dir={self.data_dir}",
                f"--cache-dir={self.directory / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            ],
            log_file=self.directory / "snmpsim.log",
            env=env,
        )
        self.child.start()
        wait_for(lambda: snmp_get_answers(self.port, probe_community), 30, "snmpsim")

    def serve(self, community: str, records: list[Record]) -> None:
        write_snmprec(self.data_dir / f"{community}.snmprec", records)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None


def switch_files(tmp_path: Path, snmpd: Snmpd) -> tuple[Path, Path]:
    """A registry with one switch, `local` (snmpd, v3), and its 0600 credentials file; returns
    (partners file, data dir)."""
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n"
        "  - id: lab\n"
        "    name: Lab\n"
        "    ports: [{switch: local, port: lo, capacity_mbps: 100000}]\n"
        "switches:\n"
        f'  - {{id: local, address: "127.0.0.1:{snmpd.port}", credentials: local-v3, '
        "interval_s: 5, timeout_s: 2}\n"
    )
    data = tmp_path / "var"
    secrets = data / "secrets"
    secrets.mkdir(parents=True)
    creds = secrets / "snmp-credentials.yaml"
    creds.write_text(
        "credentials:\n"
        f'  local-v3: {{version: "3", user: {V3_USER}, auth_key: "{V3_AUTH}", '
        f'priv_key: "{V3_PRIV}"}}\n'
    )
    creds.chmod(0o600)
    return partners, data
