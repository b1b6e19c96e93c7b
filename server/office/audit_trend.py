"""Each engineer's backup compliance week by week, and the small chart the audit page draws of it.

A supervisor sees from one period's percentage whether an engineer is compliant; from the last
weeks side by side, whether they are getting better. The chart is SVG made on the server (the
page runs no script: the CSP forbids inline ones, and a chart needs none): a line through the
weeks that had repairs, a dashed line at the target. The page gives it a title, a description
and the same figures as a table, for those who do not see it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import NamedTuple

from sync_protocol.bounds import as_utc
from sync_protocol.office import AuditFinding, EngineerTrend, WeekCompliance

from ..storage import Tx
from .audit_report import backup_audit, tally

WEEKS = 8
# The chart's drawing box (SVG user units): the line runs inside the margins.
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 280, 96, 28, 8, 8, 16


def week_of(day: dt.date) -> dt.date:
    """The Monday that starts ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def trends(tx: Tx, today: dt.date, engineer: str | None = None, weeks: int = WEEKS) -> list[EngineerTrend]:
    """The last ``weeks`` weeks up to ``today``'s, per engineer (or the one named), oldest first."""
    starts = [week_of(today) - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    report = backup_audit(tx, engineer, starts[0], starts[-1] + dt.timedelta(days=6))
    by_week: dict[tuple[str, dt.date], list[AuditFinding]] = defaultdict(list)
    for finding in report.findings:
        utc = as_utc(finding.first_repair_at)
        if utc is not None:
            by_week[(finding.engineer, week_of(utc.date()))].append(finding)
    out = []
    for who in report.engineers:
        assert who.engineer is not None
        weekly = [tally(who.engineer, who.engineer_name, by_week.get((who.engineer, start), [])) for start in starts]
        out.append(
            EngineerTrend(
                engineer=who.engineer,
                engineer_name=who.engineer_name,
                weeks=[
                    WeekCompliance(week_start=start, jobs=w.jobs, compliance_pct=w.compliance_pct)
                    for start, w in zip(starts, weekly, strict=True)
                ],
            )
        )
    return out


class Point(NamedTuple):
    x: float
    y: float
    pct: float


class Chart(NamedTuple):
    """What the template draws: the line's path (gaps where a week had no repairs), its points,
    the target's height, and where each week's tick stands."""

    path: str
    points: list[Point]
    target_y: float
    ticks: list[float]
    width: int = WIDTH
    height: int = HEIGHT


def _y(pct: float) -> float:
    return round(TOP + (100.0 - pct) / 100.0 * (HEIGHT - TOP - BOTTOM), 1)


def chart(trend: EngineerTrend, target_pct: float) -> Chart:
    """The drawing of one engineer's trend.

    >>> weeks = [WeekCompliance(week_start=dt.date(2026, 11, 2), jobs=n, compliance_pct=p)
    ...          for n, p in ((1, 100.0), (0, None), (2, 50.0))]
    >>> chart(EngineerTrend(engineer="u", engineer_name="U", weeks=weeks), 95.0).path
    'M28.0 8.0 M272.0 44.0'
    """
    count = len(trend.weeks)
    step = (WIDTH - LEFT - RIGHT) / max(count - 1, 1)
    ticks = [round(LEFT + i * step, 1) for i in range(count)]
    points, path, drawing = [], [], False
    for x, week in zip(ticks, trend.weeks, strict=True):
        if week.compliance_pct is None:
            drawing = False
            continue
        point = Point(x, _y(week.compliance_pct), week.compliance_pct)
        points.append(point)
        path.append(f"{'L' if drawing else 'M'}{point.x} {point.y}")
        drawing = True
    return Chart(" ".join(path), points, _y(min(max(target_pct, 0.0), 100.0)), ticks)
