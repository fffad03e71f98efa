#!/usr/bin/env python3
"""Per-arch agreement of an oracle profile with the real build of the same version (markdown):
generated domains defined on ``oracle:V`` and ``libvirt:V`` (stored XML, migratable XML, error
text byte for byte), for docs/fidelity.md.

Usage: scripts/profile-agreement.py --libvirt 12.9.0 [--generated N] [--seed S] [--dump DIR]

``--dump DIR`` writes each differing case as DIR/<n>.xml with the two answers beside it
(<n>.oracle, <n>.libvirt) to study a disagreement class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fuzz.differential import compare, render
from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--libvirt", required=True)
    ap.add_argument("--generated", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", type=Path, default=None)
    a = ap.parse_args()
    oracle, libvirt = open_backend("oracle", libvirt_version=a.libvirt), \
        open_backend("libvirt", libvirt_version=a.libvirt)
    try:
        cases = draw_batch(a.generated, a.seed)
        names, xmls = [f"gen-{i}" for i in range(len(cases))], [c.xml for c in cases]
        tallies = compare(names, xmls, oracle, libvirt)
        print(f"## libvirt {a.libvirt}: generated domains ({len(cases)}, seed {a.seed})\n")
        print(render(tallies))
        if a.dump:
            a.dump.mkdir(parents=True, exist_ok=True)
            bad = {c for t in tallies.values() for c, _, _ in t.differences}
            sel = [(n, x) for n, x in zip(names, xmls, strict=True) if n in bad]
            if sel:
                o_res = oracle.define_many([x for _, x in sel])
                l_res = libvirt.define_many([x for _, x in sel])
                for (n, x), o, r in zip(sel, o_res, l_res, strict=True):
                    (a.dump / f"{n}.xml").write_text(x)
                    for who, res in (("oracle", o), ("libvirt", r)):
                        body = res.xml if res.kind == "ok" else f"{res.kind}: {res.error}"
                        mig = res.migratable if res.kind == "ok" else ""
                        (a.dump / f"{n}.{who}").write_text(f"{body}\n--- migratable ---\n{mig or res.migratable_error}")
    finally:
        libvirt.close()


if __name__ == "__main__":
    main()
