"""Whole-corpus replay against the oracle and the real libvirt 9.0.0 in one run: what
``virtfuzz corpus replay --target oracle:9.0.0 --target libvirt:9.0.0`` does, timed per target.

Each target replays every corpus case holding libvirt 9.0.0's answers (virtfuzz.corpus_replay:
batch calls, one backend per operation and capability context). Prints per target the cases,
cases/s, wall seconds and CPU seconds (this process plus the backend's worker processes, reaped
when each backend closes), the libvirt/oracle ratio, and the issue's goal: the whole corpus on
both targets within 60 s of wall time on 2 cores. The capability caches are warm (as after
``virtfuzz caps-warm``); ``--repeat N`` reports the median run. The machine may be shared: the
CPU seconds are the figure that does not depend on other load (the load average is printed).

Usage: python bench/bench_corpus_replay.py [--repeat 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from virtfuzz import corpus
from virtfuzz.corpus_replay import replay
from virtfuzz.targets import Target

GOAL_SECONDS = 60.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None, metavar="PATH")
    a = ap.parse_args()
    t0 = time.monotonic()
    cases = [c for c in corpus.cases() if c.has("9.0.0")]
    read = time.monotonic() - t0
    runs: dict[str, list] = {"oracle:9.0.0": [], "libvirt:9.0.0": []}
    for _ in range(a.repeat):
        for t in runs:
            kind, _, version = t.partition(":")
            r = replay(cases, Target(kind, version))
            if r.count("fail"):
                raise SystemExit(f"{t}: {r.count('fail')} cases fail: the bench times a passing corpus")
            runs[t].append(r)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; corpus read in {read:.1f} s")
    out = {"cases": len(cases), "read_seconds": round(read, 2), "targets": {}}
    for t, reports in runs.items():
        r = sorted(reports, key=lambda r: r.wall)[len(reports) // 2]
        n = len(r.outcomes)
        out["targets"][t] = {"cases": n, "wall_seconds": round(r.wall, 2), "cpu_seconds": round(r.cpu, 2),
                             "cases_per_second": round(n / r.wall, 1), "declined": r.count("declined")}
        print(f"{t:14s} {n:5d} cases  {n / r.wall:7.1f} cases/s  {r.wall:6.1f} s wall  {r.cpu:6.1f} s CPU  "
              f"({r.count('declined')} declined)")
    o, lv = out["targets"]["oracle:9.0.0"], out["targets"]["libvirt:9.0.0"]
    total = read + o["wall_seconds"] + lv["wall_seconds"]
    print(f"ratio libvirt/oracle: {lv['wall_seconds'] / o['wall_seconds']:.2f} x wall, "
          f"{lv['cpu_seconds'] / max(o['cpu_seconds'], 0.01):.2f} x CPU")
    print(f"whole corpus on both targets: {total:.1f} s wall, {o['cpu_seconds'] + lv['cpu_seconds']:.1f} s CPU "
          f"(goal <= {GOAL_SECONDS:.0f} s wall: {'met' if total <= GOAL_SECONDS else 'NOT met'}; "
          f"each target's median of {a.repeat} runs)")
    out["total_wall_seconds"] = round(total, 2)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
