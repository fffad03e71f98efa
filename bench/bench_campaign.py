"""Where a campaign's time goes, and its throughput.

Part 1, one job's work on the same drawn batches, as CPU time per case (robust on a shared
machine, and what bounds throughput: 2 cores give 2 CPU-seconds per second): generation,
observation on the oracle, the real libvirt's worker and restart-loader processes (define,
re-define, restart, destination parse, ABI, attach), the job process' side of talking to them,
checks. Part 2: a real campaign (``virtfuzz fuzz``) for --seconds with --jobs, reading cases/s
from its summary.json. Prints rates per second and the machine.

Usage: python bench/bench_campaign.py [--n 128] [--batches 3] [--seconds 60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

from fuzz.checks import check_targets
from fuzz.generate import draw_batch
from fuzz.lifecycle import next_case
from fuzz.observe import counted_cases, observe
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import render_variants


def timed(fn):
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of a process and its waited-for children (the loader's forks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variant-rate", type=float, default=0.3)
    a = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    draw_batch(8, 0)  # imports and strategy construction out of the way
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    t_gen = t_o = t_lp = t_lw = t_c = 0.0
    steps = 0
    try:
        observe(libvirt, render_variants(draw_batch(a.n, 1, a.variant_rate)))  # warm the worker, loader and caps
        pending: list = []  # sequences under way, as in a campaign job (fuzz.lifecycle)
        rng = random.Random(7)
        for seed in range(2, 2 + a.batches):
            carried, pending = pending[: a.n * 3 // 4], pending[a.n * 3 // 4:]
            k = a.n - len(carried)
            fresh, t = timed(lambda s=seed, k=k: render_variants(draw_batch(k, 4242 + s, a.variant_rate)))
            cases = carried + fresh
            t_gen += t
            o_obs, t = timed(lambda c=cases: observe(oracle, c))
            t_o += t
            pids = [libvirt.worker.info["pid"], libvirt.loader.info["pid"]]
            before = sum(process_cpu(p) for p in pids)
            l_obs, t = timed(lambda c=cases: observe(libvirt, c))
            t_lp += t
            t_lw += sum(process_cpu(p) for p in pids) - before
            _, t = timed(lambda o=o_obs, r=l_obs: [check_targets({"oracle": x, "libvirt": y})
                                                   for x, y in zip(o, r, strict=True)])
            t_c += t
            steps += counted_cases(cases, l_obs)
            pending += [n for c, lo, oo in zip(cases, l_obs, o_obs, strict=True)
                        if (n := next_case(c, lo, oo, rng)) is not None]
    finally:
        libvirt.close()
    print(f"part 1: {a.batches} batches of {a.n} = {steps} cases (domains + hotplug steps), "
          f"CPU time per case")
    stages = (("generation", t_gen), ("oracle observe", t_o), ("libvirt processes", t_lw),
              ("job side of libvirt", t_lp), ("checks", t_c))
    for name, t in stages:
        print(f"  {name:20s} {1000 * t / steps:6.2f} ms/case")
    total = sum(t for _, t in stages)
    print(f"  {'total':20s} {1000 * total / steps:6.2f} ms/case -> at most {2 * steps / total:.0f} cases/s "
          f"on 2 fully used cores")
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "virtfuzz.cli", "fuzz", "--budget", str(a.seconds), "--jobs", str(a.jobs),
               "--out", out, "--seed", "99", "--variant-rate", str(a.variant_rate)]
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s = json.load(open(f"{out}/summary.json"))
    print(f"part 2: campaign {a.seconds:.0f} s, {a.jobs} jobs: {s['cases']} cases in {s['seconds']:.0f} s = "
          f"{s['cases'] / s['seconds']:.1f} cases/s ({s['domains']} generated domains, "
          f"{len(s['findings'])} findings)")


if __name__ == "__main__":
    main()
