#!/usr/bin/env python3
"""The oracle's guest layout (``oracle.layout``) against a real build's (``domainXMLToNative``):
generated domains defined on the build, each stored definition's layout asked of both.

Usage: scripts/guest-agreement.py [--libvirt 9.0.0] [--generated N] [--seed S] [--show K]

Prints ``same / differ / declined`` counts and the first K differing cases.
"""

from __future__ import annotations

import argparse
import collections
import json

from fuzz.generate import draw_batch
from virtfuzz.backends import open_backend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--libvirt", default="9.0.0")
    ap.add_argument("--generated", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=3)
    a = ap.parse_args()
    real, orc = open_backend("libvirt", libvirt_version=a.libvirt), open_backend("oracle", libvirt_version=a.libvirt)
    try:
        xmls = [c.xml for c in draw_batch(a.generated, a.seed)]
        stored = [r.xml for r in real.define_many(xmls, migratable=False) if r.kind == "ok"]
        tally: collections.Counter = collections.Counter()
        bad = []
        for x, r, o in zip(stored, real.guest_many(stored), orc.guest_many(stored), strict=True):
            if o.kind == "unsupported":
                tally["declined"] += 1
            elif (r.kind, r.layout, r.error) == (o.kind, o.layout, o.error):
                tally["same"] += 1
            else:
                tally["differ"] += 1
                bad.append((x, r, o))
        print(f"libvirt {a.libvirt}, {len(xmls)} generated (seed {a.seed}), {len(stored)} defined: "
              f"same {tally['same']}, differ {tally['differ']}, declined {tally['declined']}")
        for x, r, o in bad[:a.show]:
            print(x)
            print("real:  ", r.kind, json.dumps(r.layout), r.error)
            print("oracle:", o.kind, json.dumps(o.layout), o.error)
    finally:
        real.close()


if __name__ == "__main__":
    main()
