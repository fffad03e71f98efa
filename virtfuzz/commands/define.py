"""Define domain XML files and print (or write) what the backend stores.

Single file: prints the stored XML (``XMLDesc(0)``) or, with ``--migratable``, the migratable XML;
a rejection prints libvirt's message on stderr and exits 1.

Batch (``--out DIR FILE...``, one backend process for all files): for each ``NAME.xml`` writes
``DIR/NAME.xml`` and ``DIR/NAME.mig.xml`` (or ``DIR/NAME.mig.err``), or ``DIR/NAME.err`` when the
definition is rejected. Each file is defined and undefined on its own, so a result never depends
on the other files. Exit 0 when every file was processed.

With ``--backend oracle``, an input outside the oracle's modelled vocabulary is not a verdict:
single-file mode exits 3 with the reason, batch mode writes ``DIR/NAME.unsupported``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from virtfuzz.atomic import write_text
from virtfuzz.commands.common import backend_from_args, read_domain_inputs
from virtfuzz.inputs import InputError

HELP = "define domain XML and print/write the stored and migratable XML"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--migratable", action="store_true", help="print XMLDesc(MIGRATABLE) instead")
    p.add_argument("--out", metavar="DIR", help="batch mode: write results for every FILE into DIR")
    p.add_argument("files", nargs="+", metavar="FILE")


def _stem(path: str) -> str:
    name = Path(path).name
    return name[:-4] if name.endswith(".xml") else name


def run(args: argparse.Namespace) -> int:
    if args.out is None and len(args.files) != 1:
        raise InputError("several FILEs need --out DIR (batch mode)")
    xmls = read_domain_inputs(args, args.files)  # all inputs checked before any work starts
    backend = backend_from_args(args)
    try:
        results = backend.define_many(xmls)
    finally:
        backend.close()
    if args.out is None:
        r = results[0]
        if r.kind == "unsupported":
            print(f"the oracle does not model this input: {r.error}", file=sys.stderr)
            return 3
        if r.kind != "ok":
            print(r.error, file=sys.stderr)
            return 1
        if args.migratable:
            if r.migratable is None:
                print(r.migratable_error, file=sys.stderr)
                return 1
            sys.stdout.write(r.migratable)
        else:
            sys.stdout.write(r.xml or "")
        return 0
    out = Path(args.out)
    for path, r in zip(args.files, results, strict=True):
        stem = _stem(path)
        for suffix in (".xml", ".mig.xml", ".mig.err", ".err", ".unsupported"):
            (out / f"{stem}{suffix}").unlink(missing_ok=True)
        if r.kind == "unsupported":
            write_text(out / f"{stem}.unsupported", f"{r.error}\n")
            continue
        if r.kind != "ok":
            write_text(out / f"{stem}.err", f"{r.error}\n")
            continue
        write_text(out / f"{stem}.xml", r.xml or "")
        if r.migratable is not None:
            write_text(out / f"{stem}.mig.xml", r.migratable)
        else:
            write_text(out / f"{stem}.mig.err", f"{r.migratable_error}\n")
    return 0
