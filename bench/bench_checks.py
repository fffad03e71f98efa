"""What the guest-ABI checks cost: the same campaign with and without invariant 8's permutations.

Invariant 7 (hotplug does what it says) only compares XML the campaign already has; invariant 8
(order does not matter) defines, lays out and ABI-checks a permutation of ``order_cases`` accepted
definitions per batch. Runs, in one run and on the same seed, a primary-build campaign (oracle +
libvirt 9.0.0, no other builds) with ``order_cases=0`` and with the default, each for
``--seconds``, and prints both rates and their ratio (issue 11's goal: >= 85 %).

    python bench/bench_checks.py --seconds 60 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fuzz.campaign import CampaignConfig, run_campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"# machine: {platform.node()}, {os.cpu_count()} CPUs; {args.seconds:.0f} s each, {args.jobs} jobs, "
          f"seed {args.seed}")
    rates = {}
    default = CampaignConfig().order_cases
    with open(os.devnull, "w") as quiet:
        for label, order in (("without invariant 8", 0), (f"with invariant 8 ({default} per batch)", default)):
            out = Path(tempfile.mkdtemp(prefix="virtfuzz-bench-checks-"))
            cfg = CampaignConfig(budget=args.seconds, seed=args.seed, jobs=args.jobs, out=out,
                                 order_cases=order, variant_rate=0.3)
            summary, _ = run_campaign(cfg, progress=quiet)
            rates[label] = summary["cases"] / summary["seconds"]
            print(f"{label}: {summary['cases']} cases in {summary['seconds']:.0f} s = {rates[label]:.0f} cases/s, "
                  f"{len(summary['findings'])} findings")
    a, b = rates.values()
    print(f"ratio (with / without): {b / a:.2f} (goal >= 0.85)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
