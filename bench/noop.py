"""No-op sync: ``FieldClient.sync()`` on a primed laptop when nothing changed on either side.

With nothing to send it skips hello (the limits are remembered) and makes one request: a pull
from its cursor, which the server answers from a reader without the write lock; it checks its
drawings and, when nothing came, commits nothing locally: what an engineer's laptop does every
time it checks "is there anything to sync?". Measured on the incremental figure's laptop
(which holds the whole pull data set), ``samples`` times; the median is reported.
"""

from __future__ import annotations

import time
from typing import Any

from .common import CountingTransport, median, p99


def measure(client: Any, counter: CountingTransport, samples: int) -> dict[str, Any]:
    client.sync()  # settle anything left from the previous figure
    times, requests = [], []
    first: dict[str, Any] | None = None
    for _ in range(samples):
        counter.reset()
        t0 = time.perf_counter()
        report = client.sync()
        times.append((time.perf_counter() - t0) * 1000)
        requests.append(counter.requests)
        if first is None:
            first = counter.snapshot()
        if report.pushed or report.pulled or report.removed or not report.ok:
            raise RuntimeError(f"a no-op sync did something: {report}")
    assert first is not None
    return {
        "noop_sync_ms": median(times),
        "noop_sync_min_ms": min(times),
        "noop_sync_p99_ms": p99(times),
        "noop_samples": len(times),
        "noop_requests": first["requests"],
        "noop_bytes_up": first["bytes_up"],
        "noop_bytes_down": first["bytes_down"],
        "noop_by_path": first["by_path"],
    }
