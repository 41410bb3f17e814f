"""Monthly reports of closed months come from their frozen figures (controlplane/
monthly_reports.py), so retention and erasure never change a billed month.

A month counts as closed `CLOSE_AFTER_NS` after its end: points up to a day late (a gateway's
spool, the deriver's lag) still count, then the figures are frozen — by the first report that
asks for the month, or by `close_months_loop`, which every API process runs hourly (from ten
minutes after its start) for the month just closed (replicas race harmlessly: the first row
frozen stands). Erasure freezes every closed month of the partner within the raw retention
before it deletes anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from api.analytics import monthly_report
from api.analytics_models import ReportRowOut
from controlplane import monthly_reports
from domain.registry import Partner, Registry
from domain.registry_history import RegistryHistory
from domain.timestamps import NS_PER_S
from timeseries.client import AsyncInfluxClient, StoreError

log = logging.getLogger(__name__)

CLOSE_AFTER_NS = 86_400 * NS_PER_S
CLOSE_EVERY_S = 3600.0
FIRST_CLOSE_S = 600.0


def month_text(year_month: tuple[int, int]) -> str:
    return f"{year_month[0]:04d}-{year_month[1]:02d}"


def is_closed(year_month: tuple[int, int], now_ns: int) -> bool:
    year, month = year_month
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(end.timestamp()) * NS_PER_S + CLOSE_AFTER_NS <= now_ns


async def report_rows(
    influx: AsyncInfluxClient,
    registry: Registry,
    partners: list[Partner],
    year_month: tuple[int, int],
    now_ns: int,
    grace_factor: float,
    engine: Engine,
    history: RegistryHistory | None = None,
) -> list[ReportRowOut]:
    """The month's rows in the order of `partners`: frozen ones as frozen, the rest computed
    (and frozen now, when the month is closed)."""
    month = month_text(year_month)
    closed = is_closed(year_month, now_ns)
    kept = monthly_reports.frozen(engine, month, [p.id for p in partners]) if closed else {}
    missing = [p for p in partners if p.id not in kept]
    computed: dict[str, ReportRowOut] = {}
    if missing:
        start_ns, _, rows = await monthly_report(
            influx, registry, missing, year_month, now_ns, grace_factor, history=history
        )
        for r in rows:
            computed[r.partner.id] = ReportRowOut(
                partner=r.partner.id,
                name=r.partner.name,
                uptime_pct=r.uptime.uptime_pct,
                link_uptime_pct=r.uptime.link_uptime_pct,
                incidents=sum(i.start_ns >= start_ns for i in r.uptime.incidents),
                messages=r.usage.messages,
                mqtt_bytes=r.usage.mqtt_bytes,
                rejected=r.usage.rejected,
                bytes_in=r.usage.bytes_in,
                bytes_out=r.usage.bytes_out,
                p95_in_bps=r.usage.p95_in.bps,
                p95_out_bps=r.usage.p95_out.bps,
            )
        if closed:
            frozen = {pid: row.model_dump() for pid, row in computed.items()}
            await asyncio.to_thread(
                monthly_reports.freeze, engine, month, frozen, datetime.now(UTC)
            )
    return [ReportRowOut(**kept[p.id]) if p.id in kept else computed[p.id] for p in partners]


def closed_months(now_ns: int, count: int) -> list[tuple[int, int]]:
    """The last `count` closed months, oldest first."""
    now = datetime.fromtimestamp(now_ns / NS_PER_S, UTC)
    year, month = now.year, now.month
    out: list[tuple[int, int]] = []
    while len(out) < count:
        if is_closed((year, month), now_ns):
            out.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


async def close_months(
    influx: AsyncInfluxClient,
    registry: Registry,
    partners: list[Partner],
    months: list[tuple[int, int]],
    now_ns: int,
    grace_factor: float,
    engine: Engine,
    history: RegistryHistory | None = None,
) -> None:
    """Freeze these closed months for these partners (those not frozen yet)."""
    for year_month in months:
        await report_rows(
            influx, registry, partners, year_month, now_ns, grace_factor, engine, history
        )


async def close_months_loop(
    influx: AsyncInfluxClient,
    registry: Callable[[], tuple[Registry, RegistryHistory]],
    grace_factor: float,
    engine: Engine,
) -> None:
    """Every hour, freeze the month just closed for every partner (a task of the API's
    lifespan). The first round waits `FIRST_CLOSE_S`: a process restarted often still closes
    months, and one just started is not busy computing last month before its first answer."""
    await asyncio.sleep(FIRST_CLOSE_S)
    while True:
        now = time.time_ns()
        current, history = registry()
        try:
            await close_months(
                influx,
                current,
                list(current.partners),
                closed_months(now, 1),
                now,
                grace_factor,
                engine,
                history,
            )
        except StoreError as exc:
            log.warning("closing last month's reports: %s; trying again in an hour", exc)
        except Exception:  # a bug: logged, and the loop goes on (reads freeze months too)
            log.exception("closing last month's reports failed; trying again in an hour")
        await asyncio.sleep(CLOSE_EVERY_S)
