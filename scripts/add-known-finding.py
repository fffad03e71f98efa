#!/usr/bin/env python3
"""Triage a campaign finding: copy it into corpus/known-findings/<signature>/ with a verdict.

Usage: scripts/add-known-finding.py FINDING_DIR {libvirt-bug|libvirt-quirk|oracle-gap} "why (source location)"
Known findings keep their reproducer in the repository; campaigns still report them but do not
fail on them (exit status 1 is for findings not already known).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

KNOWN = Path(__file__).resolve().parent.parent / "corpus" / "known-findings"


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[2] not in ("libvirt-bug", "libvirt-quirk", "oracle-gap"):
        print(__doc__, file=sys.stderr)
        return 2
    src, status, why = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    rec = json.loads((src / "finding.json").read_text())
    dst = KNOWN / rec["signature"]
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("input.xml", "device.xml", "steps.json", "destination.xml", "permuted.xml", "history.json"):
        if (src / f).exists():
            shutil.copy2(src / f, dst / f)
    rec.update({"status": status, "triage": why,
                "reproduce": f"virtfuzz replay {dst.relative_to(KNOWN.parent.parent)}"})
    (dst / "finding.json").write_text(json.dumps(rec, indent=2) + "\n")
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
