"""Oracle vs real libvirt on the same cases in one run: defines per second and the ratio.

Both do the same work per case: define (stored XML + migratable XML, or the error). Both are
warmed first with capability data excluded from the timing: libvirt defines 50 cases (its
capability probes), the oracle loads the capability set of every case. The cases are generated
domains across every modelled arch plus libvirt's own in-scope test inputs, all distinct, so the
oracle's memo tables (oracle.memo) cannot answer from earlier work; they are cleared between
repeats all the same.

``--campaign N`` instead times the oracle alone on what the fuzz campaign asks per generated
domain (fuzz.observe: define, re-define, reload, ABI checks, hotplug), N fresh cases per repeat,
in milliseconds per case and per backend method.

Usage: python bench/bench_oracle.py [--n 1000] [--seed 7] [--repeat 1] [--campaign N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from fuzz.differential import upstream_cases
from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend
from virtfuzz.backends.caps_context import render_variants


def _clear_oracle_memo() -> None:
    import oracle.memo

    oracle.memo.clear()


def bench_define(a: argparse.Namespace) -> None:
    xmls = [c.xml for c in draw_batch(a.n, a.seed)] + [x for _, x in upstream_cases()]
    oracle, libvirt = open_backend("oracle"), open_backend("libvirt")
    ratios, lrates, orates = [], [], []
    try:
        libvirt.define_many(xmls[:50])
        for x in xmls:
            oracle.caps(x)
        for _ in range(a.repeat):
            t = time.perf_counter()
            lres = libvirt.define_many(xmls)
            lt = time.perf_counter() - t
            _clear_oracle_memo()
            t = time.perf_counter()
            ores = oracle.define_many(xmls)
            ot = time.perf_counter() - t
            assert len(lres) == len(ores)
            lrates.append(len(xmls) / lt)
            orates.append(len(xmls) / ot)
            ratios.append(lt / ot)
    finally:
        libvirt.close()
    modelled = sum(r.kind != "unsupported" for r in ores)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus; {len(xmls)} cases "
          f"({modelled} inside the oracle's vocabulary)")
    print(f"real libvirt {libvirt.version}: {_spread(lrates)} cases/s")
    print(f"oracle:              {_spread(orates)} cases/s")
    print(f"ratio oracle/libvirt: {_spread(ratios, '.1f')}x")


def _spread(values: list[float], fmt: str = "9.1f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return (f"{format(statistics.median(values), fmt)} (median of {len(values)}; "
            f"{min(values):.1f} .. {max(values):.1f})")


def bench_campaign(a: argparse.Namespace) -> None:
    from fuzz.observe import observe

    backend = open_backend("oracle")
    observe(backend, render_variants(draw_batch(8, a.seed, 0.3)))  # imports, first capability sets
    spent: dict[str, float] = {}
    for name in ("define_many", "load_many", "abi_many", "attach_many", "detach_many"):
        if hasattr(backend, name):
            setattr(backend, name, _timed(getattr(backend, name), name, spent))
    for rep in range(a.repeat):
        cases = render_variants(draw_batch(a.campaign, a.seed + 1 + rep, 0.3))
        spent.clear()
        t = time.perf_counter()
        observe(backend, cases)
        total = time.perf_counter() - t
        per = ", ".join(f"{k} {v * 1000 / len(cases):.2f}" for k, v in spent.items())
        print(f"oracle campaign: {total * 1000 / len(cases):.2f} ms/case ({per})")


def _timed(fn, name: str, spent: dict[str, float]):
    def run(*args, **kw):
        t = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs (the VM may be noisy)")
    ap.add_argument("--campaign", type=int, default=0, metavar="N",
                    help="time the oracle on the campaign's operations for N cases per repeat")
    a = ap.parse_args()
    if a.campaign:
        bench_campaign(a)
    else:
        bench_define(a)


if __name__ == "__main__":
    main()
