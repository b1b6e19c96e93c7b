"""``python -m sync_protocol.conformance URL --enrollment-token TOKEN``: prints what holds."""

from __future__ import annotations

import argparse
import sys

from .kit import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sync_protocol.conformance", description="Check a server against docs/protocol.md."
    )
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8765")
    parser.add_argument(
        "--enrollment-token", required=True, help="a one-time enrollment token of an engineer with at least one job"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    args = parser.parse_args(argv)
    outcomes = run(args.url, args.enrollment_token, timeout=args.timeout)
    for outcome in outcomes:
        print(outcome.line())
    broken = [o for o in outcomes if not o.held]
    print(f"{len(outcomes) - len(broken)} rules hold, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
