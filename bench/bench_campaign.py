"""Where a campaign's time goes, and its throughput.

Part 1, one process, the same drawn batch: generation (hypothesis), observation on the oracle,
observation on the real libvirt (define, re-define, restart, destination parse, ABI, attach),
checks. Part 2: a real campaign (``virtfuzz fuzz``) for --seconds with --jobs, reading cases/s
from its summary.json. Prints rates per second and the machine.

Usage: python bench/bench_campaign.py [--n 96] [--seconds 60] [--jobs 2]
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

from fuzz.checks import check_case
from fuzz.generate import draw_batch
from fuzz.observe import observe
from virtfuzz.backends import open_backend


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variant-rate", type=float, default=0.3)
    a = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    draw_batch(8, 0)  # import and strategy construction out of the way
    cases, t_gen = timed(lambda: draw_batch(a.n, 4242, a.variant_rate))
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    try:
        observe(libvirt, cases[:8])  # warm the worker and the loader
        o_obs, t_o = timed(lambda: observe(oracle, cases))
        l_obs, t_l = timed(lambda: observe(libvirt, cases))
        _, t_c = timed(lambda: [check_case(o, r) for o, r in zip(o_obs, l_obs, strict=True)])
    finally:
        libvirt.close()
    steps = sum(c.steps for c in cases)
    print(f"part 1: {len(cases)} domains = {steps} cases (domain + hotplug steps)")
    for name, t in (("generation", t_gen), ("oracle observe", t_o), ("libvirt observe", t_l), ("checks", t_c)):
        print(f"  {name:16s} {steps / t:9.1f} cases/s  ({1000 * t / steps:6.2f} ms/case)")
    total = t_gen + t_o + t_l + t_c
    print(f"  {'one job, serial':16s} {steps / total:9.1f} cases/s")
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
