"""One build against four: what checking every build (and migrating between them) costs.

Runs, in one run and on the same seed, a campaign on the primary build only (oracle + libvirt
9.0.0) and a campaign with every installed build (``--target`` each, invariant 6 between the
primary and the others), each for ``--seconds`` with ``--jobs``. Prints both rates (checked cases
per second as summary.json counts them: a case is counted once however many targets check it),
their ratio (the issue's goal: the 4-build rate >= 50 % of the 1-build rate), and the CPU share of
each target: the campaign tree's processes are sampled every second and grouped by the root
filesystem they run in (``/proc/PID/root``: a build's worker runs chrooted in its root; the host's
9.0.0 worker, the oracle and the jobs run in ``/``). CPU time, not wall time: the machine is shared.
The oracle's own share (the builds issue bounds it at 35 % of campaign CPU) is the thread CPU the
jobs spent inside oracle calls, which the campaign counts itself (summary.json
``oracle_cpu_seconds``), over the whole tree's CPU.

    python bench/bench_builds.py --seconds 60 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from virtfuzz import buildroots  # noqa: E402
from virtfuzz.lifeline import cpu_seconds, descendants  # noqa: E402


def _cpu(pid: int) -> tuple[float, str] | None:
    """The process's CPU seconds and the root filesystem it runs in (which build it belongs to)."""
    cpu = cpu_seconds(pid)
    try:
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None
    return (cpu, root) if cpu is not None else None


def _label(root: str, roots: dict[str, str]) -> str:
    for version, path in roots.items():
        if root.startswith(path):
            return f"libvirt:{version} (worker in its root)"
    return "host: jobs, oracle, libvirt 9.0.0 worker"


def campaign(targets: list[str], seconds: float, jobs: int, seed: int, roots: dict[str, str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="virtfuzz-bench-builds-"))
    cmd = [sys.executable, "-m", "virtfuzz.cli", "fuzz", "--budget", str(seconds), "--jobs", str(jobs),
           "--seed", str(seed), "--out", str(out), "--variant-rate", "0"]
    for t in targets:
        cmd += ["--target", t]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    cpu: dict[int, tuple[float, str]] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *descendants(proc.pid)]:
            got = _cpu(pid)
            if got is not None:
                cpu[pid] = got
        time.sleep(1.0)
    summary = json.loads((out / "summary.json").read_text())
    by_label: dict[str, float] = defaultdict(float)
    for seconds_cpu, root in cpu.values():
        by_label[_label(root, roots)] += seconds_cpu
    return {"cases": summary["cases"], "seconds": summary["seconds"], "cpu": dict(by_label),
            "by_target": summary.get("cases_by_target", {}), "migrations": summary.get("migration_outcomes", {}),
            "errors": summary.get("batch_errors", []), "oracle_cpu": summary.get("oracle_cpu_seconds", 0.0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    installed = buildroots.installed()
    primary = (buildroots.host_build() or {}).get("version", "9.0.0")
    roots = {v: str(info["root"]) for v, info in installed.items() if info.get("root")}
    one = [f"oracle:{primary}", f"libvirt:{primary}"]
    every = one + [f"libvirt:{v}" for v in installed if v != primary]
    print(f"# machine: {platform.node()}, {os.cpu_count()} CPUs; {args.seconds:.0f} s each, {args.jobs} jobs, "
          f"seed {args.seed}")
    results = {}
    for name, targets in (("1 build", one), (f"{len(every) - 1} builds", every)):
        r = campaign(targets, args.seconds, args.jobs, args.seed, roots)
        results[name] = r
        rate = r["cases"] / r["seconds"]
        total = sum(r["cpu"].values()) or 1.0
        print(f"\n{name}: {' '.join(targets)}\n  {r['cases']} cases in {r['seconds']:.0f} s = {rate:.0f} cases/s, "
              f"{1000 * total / max(r['cases'], 1):.2f} CPU-ms per case")
        for label, secs in sorted(r["cpu"].items(), key=lambda kv: -kv[1]):
            print(f"  CPU {label:45s} {secs:7.1f} s  {100 * secs / total:5.1f} %")
        print(f"  oracle (every profile, thread CPU inside oracle calls): {r['oracle_cpu']:.1f} s = "
              f"{100 * r['oracle_cpu'] / total:.1f} % of campaign CPU (goal <= 35 %)")
        if r["by_target"]:
            print(f"  cases by target: {r['by_target']}")
        migrated = sum(v for k, v in r["migrations"].items() if k.endswith(":migrated"))
        if r["migrations"]:
            print(f"  migrations checked (invariant 6): {migrated}")
        if r["errors"]:
            print(f"  batch errors: {r['errors'][:3]}")
    a, b = (results[k] for k in results)
    ratio = (b["cases"] / b["seconds"]) / max(a["cases"] / a["seconds"], 1e-9)
    print(f"\nratio (all builds / 1 build), cases/s: {ratio:.2f} (goal >= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
