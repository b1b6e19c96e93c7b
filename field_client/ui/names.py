"""The words for the coded values pages show many times over (a job's status, its severity, a
diagnosis's cause, a backup's scope), translated once per locale when the app starts: a Today
page of 200 jobs looks each up in a dict instead of running 600 template macros."""

from __future__ import annotations

from typing import Callable


def names(_: Callable[[str], str]) -> dict[str, dict[object, str]]:
    return {
        "status": {
            "new": _("new"),
            "assigned": _("assigned"),
            "on_site": _("on site"),
            "resolved": _("resolved"),
            "escalated": _("escalated"),
            "cancelled": _("cancelled"),
            "closed": _("closed"),
        },
        "severity": {1: _("S1 critical"), 2: _("S2 major"), 3: _("S3 minor"), 4: _("S4 cosmetic")},
        "cause": {
            "hardware": _("hardware"),
            "software": _("software"),
            "human": _("human (misuse, self-repair)"),
            "environment": _("environment"),
            "unknown": _("unknown"),
        },
        "scope": {"system": _("the system"), "data": _("the data"), "config": _("the configuration")},
    }
