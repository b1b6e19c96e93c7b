"""The laptop app's first paint on a laptop holding the pull data set (N part swaps, 200 jobs).

Target (issue 10): Today and a job sheet each paint first in under 300 ms at the median. The app
(``field_client.ui.LaptopApp``, the same that ``field ui`` runs) serves the laptop primed by the
pull figure's last run; headless Chromium (Debian's, ``/usr/bin/chromium``) opens the app's
one-time link, then navigates to each page as the engineer does (the app's styles and scripts
cached after the first view) and reads the page's own ``first-contentful-paint`` entry: from
navigation start to the first text on screen, the laptop's store read and the page rendered
included. The baseline, in the same run, is the app's
lightest page (the "not on this laptop" page: the header and the styles, no job data).
The job measured is the one holding the most events (N / 200 of them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from field_client import FieldClient, Workbench

from .common import Settings, median, say

CHROMIUM = Path(os.environ.get("FIELDSYNC_CHROMIUM", "/usr/bin/chromium"))
# The paint entry may be queued after ``load``: wait for it (5 s at most, then null).
_PAINT = """() => new Promise(resolve => {
  new PerformanceObserver(list => {
    const entry = list.getEntriesByName('first-contentful-paint')[0];
    if (entry) { resolve(entry.startTime); }
  }).observe({type: 'paint', buffered: true});
  setTimeout(() => resolve(null), 5000);
})"""


def measure(settings: Settings, client: FieldClient, samples: int | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from field_client.ui import LaptopApp

    samples = samples or max(7, 3 * settings.runs)
    jobs = client.jobs()
    sizes = {job.id: len(client.events(job.id)) for job in jobs}
    busiest = max(sizes, key=lambda job_id: (sizes[job_id], job_id))
    events = sizes[busiest]
    say(f"field ui: first paint of Today ({len(jobs)} jobs) and of {busiest} ({events} events), {samples} samples each")
    with LaptopApp(Workbench(client)) as app, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto(app.url)  # the one-time link: the session cookie

            def paint(path: str) -> float:
                page.goto(app.origin + path, wait_until="load")
                value = page.evaluate(_PAINT)
                if value is None:
                    raise RuntimeError(f"{path}: Chromium reported no first-contentful-paint")
                return float(value)

            for path in ("/", f"/jobs/{busiest}", "/jobs/NO-SUCH-JOB"):  # styles and scripts cached once
                paint(path)
            today, sheet, base = [], [], []
            for _ in range(samples):  # interleaved: a busy moment of the machine hits all three alike
                today.append(paint("/"))
                sheet.append(paint(f"/jobs/{busiest}"))
                base.append(paint("/jobs/NO-SUCH-JOB"))
        finally:
            browser.close()
    result = {
        "app_today_paint_ms": median(today),
        "app_job_paint_ms": median(sheet),
        "app_baseline_paint_ms": median(base),
        "app_today_samples_ms": today,
        "app_job_samples_ms": sheet,
        "app_job_events": events,
        "app_jobs": len(jobs),
    }
    say(
        f"field ui: Today {result['app_today_paint_ms']:.0f} ms, job sheet {result['app_job_paint_ms']:.0f} ms, "
        f"baseline page {result['app_baseline_paint_ms']:.0f} ms (medians)"
    )
    return result
