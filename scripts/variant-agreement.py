#!/usr/bin/env python3
"""Oracle vs real libvirt on generated domains that all run on a capability variant.

Each case gets a random recorded QEMU for its arch, or the installed QEMU's recording with one
USB/PCI capability flag deleted (fuzz.generate.capability_variants); the real libvirt probes the
fake QEMU for it, the oracle reads the same recorded set. Prints per-arch agreement (markdown).

Usage: scripts/variant-agreement.py [--n 600] [--seed 21]
"""

from __future__ import annotations

import argparse
from collections import Counter

from fuzz.differential import compare, render
from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import render_variants


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=21)
    a = ap.parse_args()
    cases = [c for c in render_variants(draw_batch(a.n, a.seed, variant_rate=1.0)) if "/variants/" in c.xml]
    variants = Counter(c.xml.split("/variants/", 1)[1].split("/", 1)[0] for c in cases)
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    try:
        tallies = compare([f"var-{i}" for i in range(len(cases))], [c.xml for c in cases], oracle, libvirt)
    finally:
        libvirt.close()
    print(f"{len(cases)} (domain, variant) pairs over {len(variants)} distinct variants, "
          f"{sum('-del-' in v for v in variants)} of them with a flag deleted\n")
    print(render(tallies))


if __name__ == "__main__":
    main()
