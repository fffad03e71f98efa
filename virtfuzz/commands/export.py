"""Export the regression corpus in the layout libvirt's own XML tests use.

For every recorded define/load case under ``corpus/cases/``: the input goes to
``OUT/qemuxml2argvdata/NAME.xml``; the stored XML libvirt produced to
``OUT/qemuxml2xmloutdata/NAME.ARCH-VER.xml`` (load cases: parsed without ABI_UPDATE, as
qemuxml2xmltest does) or ``NAME.ARCH-VER.abi-update.xml`` (define cases: a new definition, as
upstream's newer ``.abi-update`` files); a rejection to ``OUT/qemuxml2argvdata/NAME.ARCH-VER.err``.
``OUT/tests.inc`` lists the matching test-macro lines to paste into qemuxml2xmltest.c /
qemuxml2argvtest.c. VER is the recorded QEMU version (libvirt 9.0.0 ships caps_VER.ARCH.xml for
several of them; cases recorded on the host QEMU say ``7.2.0`` and were produced with the host's
capabilities, which may differ from upstream's caps_7.2.0 files in host-dependent details).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from virtfuzz.atomic import write_text
from virtfuzz.inputs import InputError

HELP = "export the regression corpus in libvirt's qemuxml2argvdata/qemuxml2xmloutdata layout"
BACKEND_OPTIONS = ()  # the corpus is exported as recorded, for every backend
CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "cases"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--corpus", default=str(CORPUS), metavar="DIR", help="corpus/cases (default: the repository's)")


def run(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise InputError(f"{corpus}: no such corpus directory")
    out = Path(args.out)
    lines: list[str] = []
    n = 0
    for ctx_file in sorted(corpus.glob("*/*.json")):
        ctx = json.loads(ctx_file.read_text())
        if ctx.get("op") not in ("define", "load") or ctx.get("caps_del"):
            continue  # flag deletions have no upstream caps file to point at
        stem = ctx_file.name[: -len(".json")]
        base = ctx_file.parent / stem
        arch, ver = ctx["arch"], ctx.get("qemu") or "7.2.0"
        suffix = f"{arch}-{ver}" + (".abi-update" if ctx["op"] == "define" else "")
        write_text(out / "qemuxml2argvdata" / f"{stem}.xml", Path(f"{base}.xml").read_text())
        expected, err = Path(f"{base}.expected.xml"), Path(f"{base}.expected.err")
        if expected.exists():
            write_text(out / "qemuxml2xmloutdata" / f"{stem}.{suffix}.xml", expected.read_text())
            lines.append(f'DO_TEST_CAPS_ARCH_VER("{stem}", "{arch}", "{ver}");')
        elif err.exists():
            write_text(out / "qemuxml2argvdata" / f"{stem}.{suffix}.err", err.read_text())
            lines.append(f'DO_TEST_CAPS_ARCH_VER_PARSE_ERROR("{stem}", "{arch}", "{ver}");')
        else:
            continue
        n += 1
    write_text(out / "tests.inc", "\n".join(lines) + "\n")
    print(f"exported {n} cases to {out} (test macros in {out / 'tests.inc'})")
    return 0
