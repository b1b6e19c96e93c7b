"""mypy --strict over the three packages, held to a baseline that only shrinks.

    python -m tests.support.typecheck            # what `make test` runs
    python -m tests.support.typecheck --update   # write today's counts as the new baseline

The code predates strict typing: ``mypy-baseline.json`` beside this file records how many errors
and ``# type: ignore`` comments there were. The check fails when either count grows (fix the new
errors it lists by file) and says so when either shrinks (lower the baseline with ``--update``,
so the ground gained is kept). ``sync_protocol`` is held to no errors at all.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("mypy-baseline.json")
PACKAGES = ("sync_protocol", "server", "field_client")
STRICT_CLEAN = ("sync_protocol",)
_ERROR = re.compile(r"^([^:\s]+\.py):\d+: error: ")
_IGNORE = re.compile(r"#\s*type:\s*ignore")


def mypy_errors() -> Counter[str]:
    """Errors per file, from mypy configured in pyproject.toml (strict, the three packages)."""
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mypy did not run:\n{proc.stdout}{proc.stderr}")
    return Counter(m.group(1) for line in proc.stdout.splitlines() if (m := _ERROR.match(line)))


def type_ignores() -> int:
    return sum(
        len(_IGNORE.findall(path.read_text())) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    )


def check(errors: Counter[str], ignores: int, baseline: dict[str, int]) -> tuple[bool, list[str]]:
    """(passes, what to say)."""
    total, out, ok = sum(errors.values()), [], True
    unclean = {f: n for f, n in errors.items() if f.startswith(STRICT_CLEAN)}
    if unclean:
        ok = False
        out.append(
            f"{', '.join(STRICT_CLEAN)} must pass mypy --strict; errors in: "
            + ", ".join(f"{f} ({n})" for f, n in sorted(unclean.items()))
        )
    for name, now, allowed in (
        ("errors", total, baseline["errors"]),
        ("type: ignore comments", ignores, baseline["type_ignores"]),
    ):
        if now > allowed:
            ok = False
            out.append(
                f"mypy --strict: {now} {name}, the baseline allows {allowed}: fix the new ones"
                + (
                    " (errors per file: " + ", ".join(f"{f} {n}" for f, n in errors.most_common(8)) + ", ...)"
                    if name == "errors"
                    else ""
                )
            )
        elif now < allowed:
            out.append(
                f"mypy --strict: {now} {name}, below the baseline of {allowed}: lower it with "
                f"`python -m tests.support.typecheck --update`"
            )
    if ok:
        out.append(
            f"mypy --strict: {total} errors and {ignores} type: ignore comments "
            f"(baseline {baseline['errors']} and {baseline['type_ignores']}); "
            f"{', '.join(STRICT_CLEAN)} clean"
        )
    return ok, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write today's counts as the baseline")
    args = parser.parse_args(argv)
    errors, ignores = mypy_errors(), type_ignores()
    if args.update:
        BASELINE.write_text(json.dumps({"errors": sum(errors.values()), "type_ignores": ignores}, indent=2) + "\n")
        print(f"baseline: {sum(errors.values())} errors, {ignores} type: ignore comments")
        return 0
    ok, lines = check(errors, ignores, json.loads(BASELINE.read_text()))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
