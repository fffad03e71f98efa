"""Print the guest a definition gives, as QEMU would see it (USB and PCI-controller layout).

The domain XML is defined as a new definition (``defineXML``), and the stored definition's QEMU
command line (``domainXMLToNative("qemu-argv")``: no QEMU is started) is reduced to
``{"machine": TYPE, "devices": [{"driver", "id", "bus", "addr", "port", "masterbus", "firstport",
"multifunction", "chassis", "chassis_nr"}, ...]}`` (see ``contract.guest_layout``); ``-usb`` appears
as ``{"driver": "-usb"}``. Exit 0 with the JSON on stdout; 1 when libvirt rejects the definition or
cannot build a command line for it (its message on stderr); 2 bad input. ``--backend oracle``
computes the same layout from the oracle's profile (``oracle.layout``); an input outside its
vocabulary exits 3.
"""

from __future__ import annotations

import argparse
import json
import sys

from virtfuzz.commands.common import backend_from_args, read_domain_inputs

HELP = "print the guest's USB/PCI layout as QEMU would get it (JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    (xml,) = read_domain_inputs(args, [args.file])
    backend = backend_from_args(args)
    try:
        (defined,) = backend.define_many([xml], migratable=False)
        if defined.kind != "ok":
            print(defined.error, file=sys.stderr)
            return 3 if defined.kind == "unsupported" else 1
        (guest,) = backend.guest_many([defined.xml or ""])
    finally:
        backend.close()
    if guest.kind != "ok":
        print(guest.error, file=sys.stderr)
        return 3 if guest.kind == "unsupported" else 1
    print(json.dumps(guest.layout, indent=1))
    return 0
