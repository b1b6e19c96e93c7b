"""``field ui``: the engineer's day in a browser window, served by the laptop itself, offline.

A small litestar app on 127.0.0.1 over the same ``Workbench`` (and laptop store) as the ``field``
command: both may run at once, the store's single-writer transactions keep them apart.

    server.py    uvicorn on a socket bound before the app exists; ``LaptopApp`` start/stop
    app.py       the litestar app, its state, how a page is rendered (locale, CSRF, header)
    gate.py      Host and Origin checks, the one-time secret, sessions, CSRF, the CSP
    i18n.py      Babel catalogs (shared with the office, ``sync_protocol.locales``), Jinja2's
                 i18n extension, dates, times and money for the reader's locale
    pages.py     Today, the job sheet and its steps, Sign, the service report, drawings, Sync
    actions.py   every on-site step, the signature, a sync, the language: one Workbench call each
    steps.py     the steps of a job in DOMAIN.md's order, and which one is next
    words.py     refusals (with the way forward), readiness and warranty in the reader's words
    syncing.py   one background sync at a time, and its progress for the page
    templates/, static/   pages, styles, scripts and the vendored signature_pad (MIT)

>>> with LaptopApp(Workbench(FieldClient(home))) as app:   # doctest: +SKIP
...     print(app.url)     # http://127.0.0.1:PORT/open?secret=...  (one use)
"""

from .server import AppNotStarted, LaptopApp

__all__ = ["LaptopApp", "AppNotStarted"]
