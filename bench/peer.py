"""``make bench-peer``: run the CouchDB-protocol peer of ``../shared/peer`` beside our figures.

The peer (PouchDB 9 replicating with pouchdb-server 4.2 over loopback) is run exactly as its
README says: ``npm ci --ignore-scripts`` then ``node bench.js N``. ``shared/`` is read-only, so
the harness is copied to ``var/bench/peer/pouchdb`` first and installed there. Without node,
npm or the registry, or without the peer directory, this prints why and exits 0 (skipped).

    BENCH_N=100000             records (the peer's own default is 10,000)
    BENCH_PEER_BACKEND=leveldb the peer's server store: leveldb (on disk, like ours), memory, both
    BENCH_PEER_DIR=...         where the peer lives (default ../shared/peer from the project root)

The peer's JSON line goes to ``var/bench/peer-latest.json``; if ``var/bench/latest.json`` (our
last run) exists, both are printed side by side and the peer's figures are kept in it under
``"peer"`` (``make bench`` keeps them there too).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import ROOT, say

OUT = ROOT / "var" / "bench"


def skip(why: str) -> int:
    print(f"bench-peer skipped: {why}")
    return 0


def summary(peer: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for run in peer.get("runs", []):
        push, pull = run["push"], run["pull"]
        n = push["docs"]
        out[run["server_backend"]] = {
            "push_per_s": push["docs_per_s"],
            "pull_per_s": pull["docs_per_s"],
            "incremental_pull_ms": run["incremental_pull"]["ms"],
            "incremental_push_ms": run["incremental_push"]["ms"],
            "noop_sync_ms": run["noop_sync"]["median_ms"],
            "requests_per_1000": max(push["http_requests"] / n, pull["http_requests"] / pull["docs"]) * 1000,
            "bytes_up_per_swap": push["bytes_up"] / n,
        }
    return out


def figures(out: Path) -> dict[str, Any] | None:
    """The peer's figures of ``peer-latest.json``, with when they were measured: ``latest.json``
    keeps them under ``"peer"`` so that one file holds the comparison."""
    path = out / "peer-latest.json"
    if not path.is_file():
        return None
    peer = json.loads(path.read_text())
    measured = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"n": peer.get("n"), "measured_at": measured, **summary(peer)}


def main() -> int:
    peer_dir = Path(os.environ.get("BENCH_PEER_DIR") or ROOT.parent / "shared" / "peer").resolve()
    source = peer_dir / "pouchdb"
    if not (source / "bench.js").is_file():
        return skip(f"no peer harness at {source}")
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return skip("node and npm are not installed (apt-get install nodejs npm)")
    work = OUT / "peer" / "pouchdb"
    work.mkdir(parents=True, exist_ok=True)
    fresh = False
    for name in ("package.json", "package-lock.json", "bench.js", "summarize.js"):
        src, dst = source / name, work / name
        if src.is_file() and (not dst.is_file() or dst.read_bytes() != src.read_bytes()):
            shutil.copyfile(src, dst)
            fresh = True
    if fresh or not (work / "node_modules").is_dir():
        say("bench-peer: npm ci --ignore-scripts")
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            shutil.rmtree(work / "node_modules", ignore_errors=True)
            return skip(f"npm ci failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    n = os.environ.get("BENCH_N") or "100000"
    backend = os.environ.get("BENCH_PEER_BACKEND") or "leveldb"
    say(f"bench-peer: node bench.js {n} --backend={backend}")
    proc = subprocess.run(
        [node, "bench.js", n, f"--backend={backend}"], cwd=work, capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return skip(f"the peer's bench.js exited {proc.returncode}")
    line = proc.stdout.strip().splitlines()[-1]
    (OUT / "peer-latest.json").write_text(line + "\n")
    peer = json.loads(line)
    ours_path = OUT / "latest.json"
    ours = json.loads(ours_path.read_text()) if ours_path.is_file() else {}
    if ours:
        ours["peer"] = figures(OUT)
        ours_path.write_text(json.dumps(ours, separators=(",", ":")) + "\n")
    rows = summary(peer)
    keys = (
        "push_per_s",
        "pull_per_s",
        "incremental_pull_ms",
        "incremental_push_ms",
        "noop_sync_ms",
        "requests_per_1000",
        "bytes_up_per_swap",
    )
    push_n = f", push n={ours['push_n']}" if ours.get("push_n") not in (None, ours.get("n")) else ""
    ours_label = f"fieldsync (n={ours.get('n')}{push_n})"
    header = ["figure"] + [f"peer ({b}, n={peer['n']})" for b in rows] + ([ours_label] if ours else [])
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for key in keys:
        cells = [key] + [f"{rows[b][key]:,.1f}" for b in rows]
        if ours:
            value = ours.get(key)
            cells.append(f"{value:,.1f}" if isinstance(value, (int, float)) else "n/a")
        print("| " + " | ".join(cells) + " |")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
