#!/usr/bin/env python3
"""Cost per generated case, and the variety of what is generated (``fuzz.generate.draw_batch``).

Why: generation shares a ~6 ms per-case CPU budget with the backends, so its cost is tracked; and
a cheaper generator must not be a narrower one, so the same run tallies what the cases contain
(read back from the XML alone, flaws re-derived by the tests' independent ``detect_flaws``).

- time: ``draw_batch(200, 4242, 0.3)`` and the campaign's shape (batches of 48, consecutive
  seeds), each repeated; ms per case (wall clock and process CPU) as min-max over the repeats.
- variety: batches of 48 from consecutive seeds (what the campaign draws) until N cases; shares of
  arch, machine family, versioned machine, USB controllers/devices per domain, flaw classes, ...

``--baseline DIR`` runs the same measurement with DIR (a checkout, e.g. ``git archive HEAD~3 fuzz
tests | tar -x -C DIR``) first on ``sys.path`` and prints both side by side.

Usage: bench/bench_generate.py [--n 2016] [--repeat 5] [--baseline DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timing(repeat: int) -> dict[str, list[float]]:
    """ms per case, wall clock and CPU time of this process (the VM is shared: both vary)."""
    from fuzz.generate import draw_batch
    from virtfuzz.backends.caps_context import render_variants as r

    r(draw_batch(48, 1, 1.0))  # warm-up: caps files, fake-QEMU wrappers of the variants
    # generation and the rendering of the drawn capability variants, as a campaign job does
    runs = {"draw_batch(200, 4242, 0.3)": (200, lambda: r(draw_batch(200, 4242, 0.3))),
            "10 x draw_batch(48, s, 0.3)": (480, lambda: [r(draw_batch(48, 7000 + s, 0.3)) for s in range(10)])}
    out: dict[str, list[float]] = {f"{k} {clock}": [] for k in runs for clock in ("wall", "cpu")}
    for _ in range(repeat):
        for k, (n, run) in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            out[f"{k} wall"].append((time.perf_counter() - wall) / n * 1000)
            out[f"{k} cpu"].append((time.process_time() - cpu) / n * 1000)
    return out


def _bucket(n: int, top: int) -> str:
    return str(n) if n < top else f"{top}+"


def variety(n: int) -> dict[str, Counter]:
    from lxml import etree

    from fuzz import vocabulary as voc
    from fuzz.generate import draw_batch
    from tests.test_strategies import detect_flaws
    from virtfuzz.backends.caps_context import render_variants

    cases = []
    seed = 0
    while len(cases) < n:
        cases += render_variants(draw_batch(48, 5000 + seed, 0.3))
        seed += 1
    cases = cases[:n]
    c: dict[str, Counter] = {k: Counter() for k in (
        "arch", "family", "machine versioned", "USB controllers", "USB devices", "PCI controllers",
        "explicit USB addresses", "explicit PCI addresses", "USB models", "memballoon", "flaw",
        "hotplug device", "capability variant")}
    shapes = set()
    machines = set()
    for case in cases:
        root = etree.fromstring(case.xml.encode())
        t = root.find("os/type")
        arch, machine = t.get("arch"), t.get("machine")
        fam = voc.machine_family(arch, machine)
        machines.add((arch, machine))
        c["arch"][arch] += 1
        c["family"][fam] += 1
        c["machine versioned"][str(machine != voc.FAMILIES[fam][0])] += 1
        usb = root.findall("devices/controller[@type='usb']")
        c["USB controllers"][_bucket(len(usb), 5)] += 1
        for u in usb:
            c["USB models"][u.get("model") or "(none given)"] += 1
        devs = [*root.findall("devices/input"), *root.findall("devices/hub"), *root.findall("devices/redirdev")]
        c["USB devices"][_bucket(len(devs), 7)] += 1
        c["PCI controllers"][_bucket(len(root.findall("devices/controller[@type='pci']")), 4)] += 1
        c["explicit USB addresses"][_bucket(len(root.findall(".//address[@type='usb']")), 4)] += 1
        c["explicit PCI addresses"][_bucket(len(root.findall(".//address[@type='pci']")), 4)] += 1
        mb = root.find("devices/memballoon")
        c["memballoon"][mb.get("model") if mb is not None else "(absent)"] += 1
        flaws = detect_flaws(case.xml)
        c["flaw"][",".join(sorted(flaws)) or "(valid)"] += 1
        c["hotplug device"][re.match(r"<(\w+)", case.device).group(1) if case.device else "(none)"] += 1
        c["capability variant"][str(root.find("devices/emulator") is not None)] += 1
        body = re.sub(r"<(name|uuid|emulator)>[^<]*</\1>", "", case.xml)
        shapes.add((body, case.device))
    c["distinct"] = Counter({"cases": len(cases), "domain+device bodies": len(shapes),
                             "(arch, machine) pairs": len(machines)})
    return c


def measure(n: int, repeat: int) -> dict:
    return {"time": timing(repeat), "variety": {k: dict(v) for k, v in variety(n).items()}}


def _fmt_time(v: list[float]) -> str:
    return f"{min(v):.2f}-{max(v):.2f} (median {sorted(v)[len(v) // 2]:.2f}) ms/case"


def report(cur: dict, base: dict | None) -> None:
    cols = ["baseline", "current"] if base else ["current"]
    runs = [base, cur] if base else [cur]
    print("## time per case (min-max over repeats)\n")
    for k in cur["time"]:
        print(f"  {k:36s} " + "   ".join(f"{c}: {_fmt_time(r['time'][k])}" for c, r in zip(cols, runs, strict=True)))
    print("\n## variety (share of cases, %; 'distinct' in counts)\n")
    for stat in cur["variety"]:
        keys = sorted(set().union(*(r["variety"][stat] for r in runs)), key=str)
        print(f"  {stat}")
        for k in keys:
            vals = []
            for r in runs:
                v = r["variety"][stat].get(k, 0)
                if stat == "distinct":
                    vals.append(f"{v:8d}")
                else:
                    cases = r["variety"]["distinct"]["cases"]
                    total = sum(r["variety"][stat].values()) if stat == "USB models" else cases
                    vals.append(f"{100 * v / total:7.1f}")
            print(f"    {k[:48]:48s} " + " ".join(vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2016, help="cases in the variety sample")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="a checkout of fuzz/ and tests/ to compare with")
    ap.add_argument("--json", action="store_true", help="print the raw measurement as JSON")
    a = ap.parse_args()
    if a.json:
        print(json.dumps(measure(a.n, a.repeat)))
        return
    base = None
    if a.baseline:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(a.baseline.resolve()), str(ROOT)]),
               "VIRTFUZZ_CAPS_DIR": os.environ.get("VIRTFUZZ_CAPS_DIR", str(ROOT / "capsets"))}
        out = subprocess.run([sys.executable, __file__, "--json", "--n", str(a.n), "--repeat", str(a.repeat)],
                             env=env, check=True, capture_output=True, text=True).stdout
        base = json.loads(out)
    report(measure(a.n, a.repeat), base)


if __name__ == "__main__":
    sys.path.append(str(ROOT))  # after PYTHONPATH, so a --baseline checkout comes first
    main()
