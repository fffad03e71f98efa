#!/usr/bin/env python3
"""The oracle's guest layout (``oracle.layout``) against a real build's (``domainXMLToNative``), per
arch: generated domains defined on the build, and (``--golden``) the corpus' recorded define cases
(their stored definition as libvirt wrote it, ``NAME.expected.xml``); each definition's layout is
asked of both.

Usage: scripts/guest-agreement.py [--libvirt 9.0.0] [--generated N] [--seed S] [--golden] [--show K]
       [--markdown]

Prints ``same / differ / declined`` counts per arch (a markdown table with ``--markdown``, the form
docs/fidelity.md keeps) and the first K differing cases.
"""

from __future__ import annotations

import argparse
import collections
import json

from fuzz.generate import draw_batch
from virtfuzz import corpus
from virtfuzz.backends import open_backend
from virtfuzz.inputs import domain_arch


def golden_stored(version: str) -> list[str]:
    """The stored definitions libvirt ``version`` recorded for the corpus' accepted define cases
    (stock QEMU only: a capability variant's emulator is a fake QEMU)."""
    out = []
    for case in corpus.cases():
        if case.op != "define" or case.caps_del or not case.has(version):
            continue
        got = case.expected_for(version)
        if "xml" in got:
            out.append(got["xml"].read_text())
    return out


def compare(real, orc, stored: list[str], label: str, show: int, markdown: bool) -> None:
    tally: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    bad = []
    for x, r, o in zip(stored, real.guest_many(stored), orc.guest_many(stored), strict=True):
        arch = domain_arch(x) or "?"
        if o.kind == "unsupported":
            tally[arch]["declined"] += 1
        elif (r.kind, r.layout, r.error) == (o.kind, o.layout, o.error):
            tally[arch]["same"] += 1
        else:
            tally[arch]["differ"] += 1
            bad.append((x, r, o))
    total = sum(tally.values(), collections.Counter())
    if markdown:
        print(f"\n{label}\n\n| arch | definitions | same | differ | declined |\n|---|---|---|---|---|")
        for arch in sorted(tally):
            t = tally[arch]
            print(f"| {arch} | {sum(t.values())} | {t['same']} | {t['differ']} | {t['declined']} |")
        print(f"| **all** | {sum(total.values())} | {total['same']} | {total['differ']} | {total['declined']} |")
    else:
        print(f"{label}: same {total['same']}, differ {total['differ']}, declined {total['declined']}")
        for arch in sorted(tally):
            print(f"  {arch}: {dict(tally[arch])}")
    for x, r, o in bad[:show]:
        print(x)
        print("real:  ", r.kind, json.dumps(r.layout), r.error)
        print("oracle:", o.kind, json.dumps(o.layout), o.error)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--libvirt", default="9.0.0")
    ap.add_argument("--generated", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=3)
    ap.add_argument("--golden", action="store_true", help="also the corpus' recorded define cases")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    real, orc = open_backend("libvirt", libvirt_version=a.libvirt), open_backend("oracle", libvirt_version=a.libvirt)
    try:
        if a.generated:
            xmls = [c.xml for c in draw_batch(a.generated, a.seed, 0.0)]
            stored = [r.xml for r in real.define_many(xmls, migratable=False) if r.kind == "ok"]
            compare(real, orc, stored, f"libvirt {a.libvirt}, {len(xmls)} generated domains (seed {a.seed}), "
                    f"{len(stored)} defined", a.show, a.markdown)
        if a.golden:
            stored = golden_stored(a.libvirt)
            compare(real, orc, stored, f"libvirt {a.libvirt}, {len(stored)} recorded define cases "
                    "(stored definitions)", a.show, a.markdown)
    finally:
        real.close()


if __name__ == "__main__":
    main()
