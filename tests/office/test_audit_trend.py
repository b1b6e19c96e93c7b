"""Each engineer's weekly compliance over the last 8 weeks, drawn on the audit page as SVG made
on the server (issue 13): no script, a title, a description and a table with the same figures."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from server.office import audit_trend
from tests.office.conftest import Laptop, sign_in

from .test_supervisor_audit import BACKUP, SWAP


def _weeks_ago(n: int) -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(weeks=n)


def test_compliance_per_week_for_each_engineer(client: Any, tokens: dict[str, str], li_wei: Laptop) -> None:
    li_wei.event("J-0001", SWAP, at=_weeks_ago(3))  # no backup: 3 weeks ago li-wei missed
    li_wei.event("J-0002", BACKUP, at=_weeks_ago(0) - dt.timedelta(minutes=5))
    li_wei.event("J-0002", SWAP, at=_weeks_ago(0))  # this week: backup first
    state = client.app.state.fieldsync
    today = dt.datetime.now(dt.timezone.utc).date()
    trends = state.db.read(lambda c: audit_trend.trends(c, today))
    [li] = [t for t in trends if t.engineer == "u-li-wei"]
    assert [w.week_start for w in li.weeks] == [
        audit_trend.week_of(today) - dt.timedelta(weeks=7 - i) for i in range(8)
    ]
    assert [(w.jobs, w.compliance_pct) for w in li.weeks] == [(0, None)] * 4 + [
        (1, 0.0),
        (0, None),
        (0, None),
        (1, 100.0),
    ]
    assert all(w.jobs == 0 for t in trends if t.engineer != "u-li-wei" for w in t.weeks)


def test_the_audit_page_draws_an_accessible_svg_chart_without_script(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    li_wei.event("J-0001", SWAP, at=_weeks_ago(1))
    sign_in(client, tokens["zhao-lei"])
    answer = client.get("/office/audit", headers={"accept-language": "en"})
    page = answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    section = page.split('id="trends"')[1].split("</section>")[0]
    assert "<script" not in section and "style=" not in section and not re.search(r"\son[a-z]+=", section)
    figure = section.split('data-engineer="u-li-wei"')[1].split("</figure>")[0]
    svg = figure.split("<svg")[1].split("</svg>")[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "Weekly compliance of Li Wei" in svg and "0.0%" in svg.split("<desc")[1] and "no repairs" in svg
    assert re.search(r'<circle cx="[\d.]+" cy="[\d.]+" r="3" class="missed"/>', svg)
    assert 'class="target"' in svg
    table = section.split('id="trend-table"')[1].split("</table>")[0]
    row = table.split("Li Wei")[1].split("</tr>")[0]
    assert row.count("<td>") == 8 and "0.0% (1)" in row
    zh = client.get("/office/audit", headers={"accept-language": "zh-CN"}).text
    assert "Weekly compliance" not in zh and "no repairs" not in zh


def test_a_chart_breaks_its_line_at_weeks_without_repairs() -> None:
    from sync_protocol.office import EngineerTrend, WeekCompliance

    weeks = [
        WeekCompliance(
            week_start=dt.date(2026, 11, 2) + dt.timedelta(weeks=i), jobs=1 if p is not None else 0, compliance_pct=p
        )
        for i, p in enumerate([100.0, 50.0, None, 0.0, 100.0])
    ]
    drawn = audit_trend.chart(EngineerTrend(engineer="u", engineer_name="U", weeks=weeks), 95.0)
    assert drawn.path.count("M") == 2 and drawn.path.count("L") == 2
    assert [p.y for p in drawn.points][0] == audit_trend.TOP and drawn.points[
        2
    ].y == audit_trend.HEIGHT - audit_trend.BOTTOM
    assert len(drawn.ticks) == 5
