"""Oracle vs real libvirt on the same cases in one run: defines per second and the ratio.

Both do the same work per case: define (stored XML + migratable XML, or the error). The real
backend is warmed first (capability probes excluded); the cases are generated domains across
every modelled arch plus libvirt's own in-scope test inputs.

Usage: python bench/bench_oracle.py [--n 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from fuzz.differential import upstream_cases
from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    xmls = [c.xml for c in draw_batch(a.n, a.seed)] + [x for _, x in upstream_cases()]
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    try:
        libvirt.define_many(xmls[:50])
        t = time.perf_counter()
        lres = libvirt.define_many(xmls)
        lt = time.perf_counter() - t
        t = time.perf_counter()
        ores = oracle.define_many(xmls)
        ot = time.perf_counter() - t
    finally:
        libvirt.close()
    modelled = sum(r.kind != "unsupported" for r in ores)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus; {len(xmls)} cases "
          f"({modelled} inside the oracle's vocabulary)")
    print(f"real libvirt {libvirt.version}: {len(xmls) / lt:9.1f} cases/s")
    print(f"oracle:              {len(xmls) / ot:9.1f} cases/s")
    print(f"ratio oracle/libvirt: {lt / ot:8.1f}x")
    assert len(lres) == len(ores)


if __name__ == "__main__":
    main()
