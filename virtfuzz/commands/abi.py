"""Check that DST is ABI-compatible with SRC, as libvirt does for migration, restore and save images.

SRC is defined first; its migratable inactive XML is the reference (what a save image or a
migration carries). Exit 0 when compatible, 1 with libvirt's message otherwise.
"""

from __future__ import annotations

import argparse
import sys

from virtfuzz.commands.common import backend_from_args, read_domain_inputs

HELP = "ABI-stability verdict for a (source, destination) pair of domain XML files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC.xml")
    p.add_argument("dst", metavar="DST.xml")


def run(args: argparse.Namespace) -> int:
    src, dst = read_domain_inputs(args, [args.src, args.dst])
    backend = backend_from_args(args)
    try:
        r = backend.abi(src, dst)
    finally:
        backend.close()
    if r.kind == "ok":
        return 0
    if r.kind == "unsupported":
        print(f"the oracle does not model this input: {r.error}", file=sys.stderr)
        return 3
    prefix = f"{args.src}: " if r.stage == "define-src" else ""
    print(f"{prefix}{r.error}", file=sys.stderr)
    return 1
