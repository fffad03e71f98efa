"""Throughput of oracle-only campaigns over the seed thread's eras (issue 15: "oracle-only pairs
run at oracle speed: report it").

Runs ``virtfuzz fuzz`` for --seconds with --jobs, once per setting: a single era
(``--target oracle:1.3.1``), an era pair (``--target oracle:1.3.0 --target oracle:1.3.5``: every
generated case also migrated both ways, fuzz.era_pairs) and, with --all, the five eras (20 ordered
pairs). Prints per setting: checked cases/s (summary.json ``cases``: generated domains and hotplug
steps, checked on the first profile), migrations/s (cases each ordered pair checked, added up), and
the CPU per case of the campaign's whole process tree (getrusage of the waited-for children: robust
on a shared machine, and what bounds throughput: 2 cores give 2 CPU-seconds per second).

Usage: python bench/bench_era_pairs.py [--seconds 30] [--jobs 2] [--all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile

SETTINGS = {
    "single era 1.3.1": ["oracle:1.3.1"],
    "era pair 1.3.0 <-> 1.3.5": ["oracle:1.3.0", "oracle:1.3.5"],
    "five eras (20 ordered pairs)": ["oracle:0.9.4", "oracle:1.3.0", "oracle:1.3.1", "oracle:1.3.5", "oracle:2.2.0"],
}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(targets: list[str], seconds: float, jobs: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "virtfuzz.cli", "fuzz", "--budget", str(seconds), "--jobs", str(jobs),
               "--out", out, "--seed", "7"] + [a for t in targets for a in ("--target", t)]
        before = children_cpu()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = children_cpu() - before
        s = json.load(open(f"{out}/summary.json"))
    migrations = sum(n for k, n in s["cases_by_target"].items() if "->" in k)
    return {"cases": s["cases"], "seconds": s["seconds"], "cpu": cpu, "migrations": migrations,
            "pairs": sum(1 for k in s["cases_by_target"] if "->" in k), "real_libvirt": s.get("real_libvirt"),
            "findings": len(s["findings"]), "new": s["new_findings"], "errors": len(s["batch_errors"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--all", action="store_true", help="also the five eras at once")
    a = ap.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, python "
          f"{platform.python_version()}, load average {load[0]:.2f} (shared machine: CPU per case is the "
          f"robust figure)")
    for name, targets in SETTINGS.items():
        if len(targets) > 2 and not a.all:
            continue
        r = run(targets, a.seconds, a.jobs)
        rate = r["cases"] / max(r["seconds"], 1e-9)
        print(f"{name}: {r['cases']} cases in {r['seconds']:.0f} s = {rate:.0f} cases/s, "
              f"{r['migrations'] / max(r['seconds'], 1e-9):.0f} migrations/s over {r['pairs']} ordered pairs, "
              f"{1000 * r['cpu'] / max(r['cases'], 1):.2f} ms CPU per case "
              f"(-> {2 * r['cases'] / max(r['cpu'], 1e-9):.0f} cases/s on 2 fully used cores); "
              f"real libvirt: {r['real_libvirt']}; findings {r['findings']} ({r['new']} new), "
              f"batch errors {r['errors']}")


if __name__ == "__main__":
    main()
