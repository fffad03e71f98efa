#!/usr/bin/env python3
"""Record golden cases for the pure-Python oracle from the *real* libvirt.

The libvirt 9.0.0 answers of the generated corpus cases (topics define, load, abi, attach, detach,
capsdel, edge, mutated, random, held-out of ``corpus/cases/``) come from this script running
libvirt 9.0.0 (embedded QEMU driver, QEMU 7.2), never from the oracle. Cases are generated
from a small grammar (machine x device snippet); each case is first written into a staging
directory as below, then filed into the corpus by ``virtfuzz.corpus`` (topic of its family prefix,
``NAME.<arch>-9.0.0.expected.*``, provenance in its context):

- ``NAME.xml``                input (define / load / attach / detach: the domain; abi: the source)
- ``NAME.dev.xml``            device XML (attach / detach) or ``NAME.dst.xml`` (abi destination)
- ``NAME.expected.xml``       stored XML (``XMLDesc(0)``) on success
- ``NAME.expected.mig.xml``   migratable XML (``XMLDesc(VIR_DOMAIN_XML_MIGRATABLE)``)
- ``NAME.expected.err``       ``str(libvirtError)`` on failure
- ``NAME.json``               context {op, arch, machine, qemu, caps_del, profile, recorded_with}

The expected outputs of load, abi, attach and detach cases and of the capability-variant cases
come from ``scripts/recorder.py`` (libvirt-python alone, no virtfuzz code); ``--rerecord OPS``
re-records existing cases with it (``virtfuzz corpus regen --write``).

Usage: ``scripts/record-golden.py [--root DIR] [--out CORPUS] [--filter SUBSTR]``. One embedded
driver root per process (libvirt takes a pid-file lock on it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "corpus" / "cases"  # the corpus root: cases are filed into its topics
DEFAULT_ROOT = "/dev/shm/vf-oracle-helper"
RECORDED_WITH = "libvirt 9.0.0 / QEMU 7.2"

MACHINES: list[tuple[str, str]] = [
    ("x86_64", "pc"),
    ("x86_64", "q35"),
    ("x86_64", "pc-i440fx-5.2"),
    ("x86_64", "pc-q35-4.2"),
    ("i686", "pc"),
    ("i686", "q35"),
    ("ppc64", "pseries"),
    ("aarch64", "virt"),
    ("armv7l", "virt"),
    ("s390x", "s390-ccw-virtio"),
    ("riscv64", "virt"),
]

USB_MODELS = [
    "piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "vt82c686b-uhci",
    "pci-ohci", "nec-xhci", "qemu-xhci", "qusb1", "none",
]

REDIR = ("<redirdev bus='usb' type='tcp'><source mode='bind' host='127.0.0.1' service='4000'/>"
         "</redirdev>")

# name -> devices snippet
VARIANTS: dict[str, str] = {
    "minimal": "",
    "usb-nomodel": "<controller type='usb' index='0'/>",
    **{f"usb-{m}": f"<controller type='usb' index='0' model='{m}'/>" for m in USB_MODELS},
    "usb-xhci-ports8": "<controller type='usb' index='0' model='qemu-xhci' ports='8'/>",
    "usb-xhci-ports16": "<controller type='usb' index='0' model='qemu-xhci' ports='16'/>",
    "usb-nec-ports15": "<controller type='usb' index='0' model='nec-xhci' ports='15'/>",
    "usb-idx1-xhci": "<controller type='usb' index='1' model='qemu-xhci'/>",
    "usb-two": "<controller type='usb' index='0' model='qemu-xhci'/>"
               "<controller type='usb' index='1' model='qemu-xhci'/>",
    "usb-dup": "<controller type='usb' index='0' model='qemu-xhci'/>"
               "<controller type='usb' index='0' model='nec-xhci'/>",
    "usb-ich9-set": "<controller type='usb' index='0' model='ich9-ehci1'/>"
                    "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/></controller>"
                    "<controller type='usb' index='0' model='ich9-uhci2'><master startport='2'/></controller>"
                    "<controller type='usb' index='0' model='ich9-uhci3'><master startport='4'/></controller>",
    "usb-xhci-addr5": "<controller type='usb' index='0' model='qemu-xhci'>"
                      "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>"
                      "</controller>",
    "usb-piix3-addr5": "<controller type='usb' index='0' model='piix3-uhci'>"
                       "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>"
                       "</controller>",
    "tablet": "<input type='tablet' bus='usb'/>",
    "mouse-usb": "<input type='mouse' bus='usb'/>",
    "kbd-usb": "<input type='keyboard' bus='usb'/>",
    "hub": "<hub type='usb'/>",
    "redirdev": REDIR,
    "tablet-kbd-redir": "<input type='tablet' bus='usb'/><input type='keyboard' bus='usb'/>" + REDIR,
    "tablet-x3-piix3": "<controller type='usb' index='0' model='piix3-uhci'/>"
                       "<input type='tablet' bus='usb'/><input type='mouse' bus='usb'/>"
                       "<input type='keyboard' bus='usb'/>",
    "usb-none-tablet": "<controller type='usb' index='0' model='none'/><input type='tablet' bus='usb'/>",
    "balloon-none": "<memballoon model='none'/>",
    "balloon-virtio": "<memballoon model='virtio'/>",
    "balloon-transitional": "<memballoon model='virtio-transitional'/>",
    "balloon-nontransitional": "<memballoon model='virtio-non-transitional'/>",
    "usb-xhci-balloon-none": "<controller type='usb' index='0' model='qemu-xhci'/><memballoon model='none'/>",
    "balloon-none-addr": "<memballoon model='none'><address type='pci' domain='0x0000' bus='0x00' slot='0x03'"
                         " function='0x0'/></memballoon>",
    "usb-none-addr": "<controller type='usb' index='0' model='none'><address type='pci' domain='0x0000' bus='0x00'"
                     " slot='0x0d' function='0x0'/></controller>",
    "usb2-autoindex": "<controller type='usb' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/>"
                      "<controller type='usb' model='ich9-uhci2'/><controller type='usb' model='ich9-uhci1'/>",
    "alias-usb": "<controller type='usb' index='0' model='piix3-uhci'><alias name='ua-usb0'/></controller>",
    "alias-root": "<controller type='pci' index='0' model='pci-root'><alias name='ua-root'/></controller>",
    "alias-nonua": "<input type='tablet' bus='usb'><alias name='foo'/></input>",
    "alias-dup": "<input type='tablet' bus='usb'><alias name='ua-t'/></input><input type='mouse' bus='usb'>"
                 "<alias name='ua-t'/></input>",
    "alias-badchar": "<input type='tablet' bus='usb'><alias name='ua-t!'/></input>",
    "alias-xhci-balloon": "<controller type='usb' index='0' model='qemu-xhci'><alias name='ua-x'/></controller>"
                          "<memballoon model='virtio'><alias name='ua-b'/></memballoon>",
    "phb-multi": "<controller type='pci' model='pci-root'/><controller type='pci' model='pci-root'/>"
                 "<controller type='pci' index='3' model='pci-root'><target index='5'/></controller>",
    "phb-two-usb": "<controller type='pci' index='1' model='pci-root'/><controller type='usb' model='pci-ohci'/>"
                   "<controller type='usb' model='qemu-xhci'/><controller type='usb' model='ehci'/>",
    "serial1": "<serial type='pty'/>",
    "serial2": "<serial type='pty'/><serial type='pty'/>",
    "console1": "<console type='pty'/>",
    "serial-isa-explicit": "<serial type='pty'><target type='isa-serial' port='0'/></serial>",
    "serial1-console1": "<serial type='pty'/><console type='pty'/>",
    "serial2-console1": "<serial type='pty'/><serial type='pty'/><console type='pty'/>",
    "balloon-autodeflate": "<memballoon model='virtio' autodeflate='on'/>",
    "balloon-autodeflate-off": "<memballoon model='virtio' autodeflate='off'/>",
    "tablet-hubport": "<hub type='usb'/><input type='tablet' bus='usb'><address type='usb' bus='0' port='1.3'/>"
                      "</input>",
    "virtio-inputs": "<input type='tablet' bus='virtio'/><input type='keyboard' bus='virtio'/>",
}

MEMORY_VARIANTS: dict[str, str] = {
    "mem-mib": "<memory unit='MiB'>64</memory>",
    "mem-cur": "<memory>131072</memory><currentMemory>65536</currentMemory>",
}


def domain_xml(name: str, arch: str, machine: str, devices: str, memory: str | None = None) -> str:
    """A domain in the oracle's input vocabulary (uuid always given: libvirt invents one otherwise)."""
    u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
    mem = memory or "<memory>65536</memory>"
    dev = f"<devices>{devices}</devices>" if devices else ""
    return (f"<domain type='qemu'><name>{name}</name><uuid>{u}</uuid>{mem}"
            f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os>{dev}</domain>\n")


def cases() -> Iterator[dict]:
    for arch, machine in MACHINES:
        tag = f"{arch}-{machine}"
        for vname, dev in VARIANTS.items():
            name = f"define-{tag}-{vname}"
            yield {"name": name, "op": "define", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, dev)}
        for vname, mem in MEMORY_VARIANTS.items():
            name = f"define-{tag}-{vname}"
            yield {"name": name, "op": "define", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, "", memory=mem)}
        # config-only hotplug of USB devices and controllers onto the minimal domain
        for dname, dev in [("tablet", "<input type='tablet' bus='usb'/>"),
                           ("kbd", "<input type='keyboard' bus='usb'/>"),
                           ("hub", "<hub type='usb'/>"),
                           ("redirdev", REDIR),
                           ("usbctl-xhci", "<controller type='usb' model='qemu-xhci'/>"),
                           ("usbctl-ehci", "<controller type='usb' index='1' model='ehci'/>")]:
            name = f"attach-{tag}-{dname}"
            yield {"name": name, "op": "attach", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, ""), "dev": dev + "\n"}
        for dname, dev in [("memballoon", "<memballoon model='virtio'/>"),
                           ("virtio-tablet", "<input type='tablet' bus='virtio'/>"),
                           ("usbctl-idx0", "<controller type='usb' index='0' model='ehci'/>"),
                           ("tablet-addr", "<input type='tablet' bus='usb'><address type='usb' bus='0' port='2'/>"
                                           "</input>")]:
            name = f"attach-{tag}-{dname}"
            yield {"name": name, "op": "attach", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, ""), "dev": dev + "\n"}
        for dname, dom, dev in [
            ("tablet", "<input type='tablet' bus='usb'/>", "<input type='tablet' bus='usb'/>"),
            ("redirdev", REDIR, REDIR),
            ("tablet-missing", "", "<input type='tablet' bus='usb'/>"),
            ("redirdev-missing", "", REDIR),
            ("usbctl1", "<controller type='usb' index='1' model='qemu-xhci'/>",
             "<controller type='usb' index='1' model='qemu-xhci'/>"),
            ("usbctl0-used", "<input type='tablet' bus='usb'/>", "<controller type='usb' index='0'/>"),
            ("hub", "<hub type='usb'/>", "<hub type='usb'/>"),
            ("tablet-wrongaddr", "<input type='tablet' bus='usb'/>",
             "<input type='tablet' bus='usb'><address type='usb' bus='0' port='3'/></input>"),
        ]:
            name = f"detach-{tag}-{dname}"
            yield {"name": name, "op": "detach", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, dom), "dev": dev + "\n"}
        # ABI: destination = source's migratable XML with one edit
        for aname, src_dev, edit in ABI_EDITS:
            name = f"abi-{tag}-{aname}"
            yield {"name": name, "op": "abi", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, src_dev), "edit": edit}
        for vname in LOAD_VARIANTS:
            name = f"load-{tag}-{vname}"
            yield {"name": name, "op": "load", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, VARIANTS[vname])}
    yield from random_cases(400)
    yield from random_cases2(300)
    yield from edge_cases()
    yield from random_cases3(400)


def all_cases() -> list[dict]:
    base = list(cases())
    # "hold-" families were recorded *after* the oracle was developed against the rest and are
    # the held-out agreement measure in docs/fidelity.md
    held = [dict(c, name=c["name"].replace("rand3-", "hold3-").replace("rabi3-", "holdabi-")
                 .replace("rload3-", "holdload-"))
            for c in random_cases3(300, seed=11)]
    for c in held:
        c["xml"] = re.sub(r"<name>[^<]*</name>", f"<name>{c['name']}</name>", c["xml"])
    held2 = []
    for c in random_cases2(200, seed=21):
        new = "hold2" + c["name"]
        held2.append(dict(c, name=new, xml=c["xml"].replace(f"<name>{c['name']}</name>", f"<name>{new}</name>")))
    held4 = []
    import random as _r
    rng = _r.Random(31)
    ser = ["<serial type='pty'/>", "<serial type='pty'/><serial type='pty'/>", "<console type='pty'/>",
           "<serial type='pty'/><console type='pty'/>"]
    for k in range(150):
        arch, machine = rng.choice(MORE_MACHINES)
        name = f"hold4-{k:04d}"
        devs = rng.choice(ser) + "".join(rng.sample(POOL2, rng.randint(0, 3)))
        held4.append({"name": name, "op": "define", "arch": arch, "machine": machine,
                      "xml": domain_xml(name, arch, machine, devs)})
        if k % 3 == 0:
            held4.append({"name": f"hold4abi-{k:04d}", "op": "abi", "arch": arch, "machine": machine,
                          "xml": domain_xml(f"hold4abi-{k:04d}", arch, machine, devs),
                          "edit": rng.choice([(r"<serial type='pty'>.*?</serial>\s*", ""),
                                              (r"<console type='pty'>.*?</console>\s*", ""),
                                              (r"port='0'/>", "port='1'/>")])})
    return (base + list(mutant_cases(base, 600)) + held + list(mutant_cases(base, 600, seed=44, prefix="holdmut"))
            + held2 + held4)


LOAD_VARIANTS = ["minimal", "usb-nomodel", "usb-qemu-xhci", "usb-ich9-set", "tablet", "tablet-x3-piix3",
                 "usb-idx1-xhci", "redirdev", "balloon-none", "usb-two"]


POOL: list[str] = [
    "<controller type='usb' index='0'/>",
    "<controller type='usb' index='0' model='qemu-xhci'/>",
    "<controller type='usb' index='0' model='piix3-uhci'/>",
    "<controller type='usb' index='0' model='ehci'/>",
    "<controller type='usb' index='0' model='pci-ohci'/>",
    "<controller type='usb' index='0' model='nec-xhci' ports='6'/>",
    "<controller type='usb' index='0' model='ich9-ehci1'/>",
    "<controller type='usb' index='1' model='qemu-xhci' ports='2'/>",
    "<controller type='usb' index='1' model='piix4-uhci'/>",
    "<controller type='usb' index='2' model='ehci'/>",
    "<controller type='usb' index='1'/>",
    "<controller type='usb' model='qemu-xhci'/>",
    "<controller type='usb' index='0' model='none'/>",
    "<controller type='pci' index='1' model='pci-bridge'/>",
    "<controller type='pci' index='1' model='pcie-root-port'/>",
    "<controller type='pci' index='2' model='pcie-root-port'/>",
    "<controller type='pci' index='1' model='pcie-to-pci-bridge'/>",
    "<controller type='pci' index='1' model='dmi-to-pci-bridge'/>",
    "<controller type='usb' index='0' model='qemu-xhci'><address type='pci' domain='0x0000' bus='0x00'"
    " slot='0x07' function='0x0'/></controller>",
    "<controller type='usb' index='1' model='ehci'><address type='pci' domain='0x0000' bus='0x00'"
    " slot='0x03' function='0x0'/></controller>",
    "<input type='tablet' bus='usb'/>",
    "<input type='mouse' bus='usb'/>",
    "<input type='keyboard' bus='usb'/>",
    "<input type='tablet' bus='usb'><address type='usb' bus='0' port='2'/></input>",
    "<input type='mouse'/>",
    "<input type='keyboard'/>",
    "<hub type='usb'/>",
    "<hub type='usb'><address type='usb' bus='0' port='1'/></hub>",
    REDIR,
    "<memballoon model='none'/>",
    "<memballoon model='virtio-transitional'/>",
    "<memballoon model='virtio'><address type='pci' domain='0x0000' bus='0x00' slot='0x09'"
    " function='0x0'/></memballoon>",
]


def random_cases(n: int, seed: int = 1) -> Iterator[dict]:
    """Seeded random combinations of 1-5 pool snippets on a random machine."""
    import random

    rng = random.Random(seed)
    for k in range(n):
        arch, machine = rng.choice(MACHINES)
        snippets = rng.sample(POOL, rng.randint(1, 5))
        # libvirt wants controllers first only by convention; keep the drawn order
        name = f"rand-{k:04d}"
        yield {"name": name, "op": "define", "arch": arch, "machine": machine,
               "xml": domain_xml(name, arch, machine, "".join(snippets))}


MORE_MACHINES: list[tuple[str, str]] = MACHINES + [
    ("x86_64", "pc-i440fx-2.0"), ("x86_64", "pc-q35-2.6"), ("x86_64", "pc-q35-7.2"),
    ("ppc64", "pseries-5.2"), ("aarch64", "virt-4.2"), ("i686", "pc-i440fx-7.2"),
]

POOL2: list[str] = POOL + [
    "<controller type='usb' model='ehci'/>" * 4,
    "<controller type='usb' model='qemu-xhci'/>" * 3,
    "<controller type='usb' model='piix3-uhci'/>" * 6,
    "<controller type='pci' model='pci-bridge'/>",
    "<controller type='pci' model='pcie-root-port'/>" * 2,
    "<controller type='usb' index='3' model='qemu-xhci'/><input type='tablet' bus='usb'>"
    "<address type='usb' bus='3' port='1'/></input>",
    "<input type='tablet' bus='usb'/>" * 5,
    "<input type='keyboard' bus='usb'><address type='usb' bus='0' port='1'/></input>",
    "<input type='mouse' bus='usb'><address type='usb' bus='1'/></input>",
    "<hub type='usb'/><hub type='usb'/>",
    "<memballoon model='virtio-non-transitional'/>",
    "<controller type='pci' index='3' model='pcie-root-port'><address type='pci' domain='0x0000'"
    " bus='0x00' slot='0x05' function='0x0'/></controller>",
    "<controller type='usb' index='0' model='ich9-ehci1'><address type='pci' domain='0x0000' bus='0x00'"
    " slot='0x08' function='0x7'/></controller><controller type='usb' index='0' model='ich9-uhci1'>"
    "<master startport='0'/></controller>",
]

ABI_RANDOM_EDITS: list[tuple[str, str]] = [
    ("model='qemu-xhci'", "model='nec-xhci'"),
    ("model='piix3-uhci'", "model='piix4-uhci'"),
    ("slot='0x02'", "slot='0x0a'"),
    ("slot='0x01' function='0x0'", "slot='0x01' function='0x3'"),
    (r"<controller type='usb' index='0' model='([a-z0-9-]+)'",
     r"<controller type='usb' index='0' model='\1' ports='8'"),
    (r"<input type='tablet' bus='usb'>.*?</input>\s*", ""),
    (r"<input type='mouse' bus='ps2'/>", "<input type='mouse' bus='ps2'/><input type='keyboard' bus='usb'/>"),
    ("<memory unit='KiB'>65536</memory>", "<memory unit='KiB'>131072</memory>"),
    ("<currentMemory unit='KiB'>65536</currentMemory>", "<currentMemory unit='KiB'>32768</currentMemory>"),
    (r"<name>([^<]*)</name>", r"<name>\1x</name>"),
    (r"machine='pc-i440fx-7.2'", "machine='pc-i440fx-7.1'"),
    (r"machine='pc-q35-7.2'", "machine='pc-q35-7.1'"),
    (r"<model fallback='forbid'>[^<]*</model>", "<model fallback='forbid'>max</model>"),
    (r"<memballoon .*?</memballoon>\s*", ""),
    (r"<controller type='usb' index='1'.*?</controller>\s*", ""),
    (r"<hub type='usb'>.*?</hub>\s*", ""),
    (r"port='2'/>", "port='3'/>"),
    (r"<vcpu placement='static'>1</vcpu>", "<vcpu placement='static'>2</vcpu>"),
    (r"<redirdev .*?</redirdev>\s*", ""),
    (r"<gic version='2'/>", "<gic version='3'/>"),
]

ATTACH_DEVICES: list[str] = [
    "<input type='tablet' bus='usb'/>", "<input type='mouse' bus='usb'/>",
    "<input type='keyboard' bus='usb'/>", REDIR,
    "<input type='tablet' bus='usb'><address type='usb' bus='0' port='4'/></input>",
    "<controller type='usb' model='qemu-xhci'/>", "<controller type='usb' index='0' model='qemu-xhci'/>",
    "<controller type='usb' index='2' model='nec-xhci' ports='8'/>", "<controller type='usb'/>",
    "<controller type='usb' model='ich9-ehci1'/>", "<controller type='usb' index='1' model='none'/>",
    "<controller type='pci' model='pcie-root-port'/>", "<controller type='pci' model='pci-bridge'/>",
]


def random_cases2(n: int, seed: int = 2) -> Iterator[dict]:
    """Second seeded family: define (bigger combos, more machines), ABI edits, attach/detach."""
    import random

    rng = random.Random(seed)
    for k in range(n):
        arch, machine = rng.choice(MORE_MACHINES)
        devs = "".join(rng.sample(POOL2, rng.randint(0, 5)))
        name = f"rand2-{k:04d}"
        yield {"name": name, "op": "define", "arch": arch, "machine": machine,
               "xml": domain_xml(name, arch, machine, devs)}
        name = f"rabi-{k:04d}"
        edits = rng.sample(ABI_RANDOM_EDITS, rng.randint(1, 2))
        yield {"name": name, "op": "abi", "arch": arch, "machine": machine,
               "xml": domain_xml(name, arch, machine, devs), "edit": edits[0], "edit2": edits[1:]}
        name = f"ratt-{k:04d}"
        yield {"name": name, "op": "attach", "arch": arch, "machine": machine,
               "xml": domain_xml(name, arch, machine, devs), "dev": rng.choice(ATTACH_DEVICES) + "\n"}
        if k % 3 == 0:
            dev = rng.choice(["<input type='tablet' bus='usb'/>", "<input type='mouse' bus='usb'/>", REDIR,
                              "<input type='keyboard' bus='usb'/>"])
            name = f"rdet-{k:04d}"
            yield {"name": name, "op": "detach", "arch": arch, "machine": machine,
                   "xml": domain_xml(name, arch, machine, devs + (dev if k % 2 else "")), "dev": dev + "\n"}


def edge_cases() -> Iterator[dict]:
    """Hand-written edge cases around the minimal-domain elements."""
    def dom(name: str, arch: str, machine: str | None, body: str = "", devices: str = "",
            memory: str = "<memory>65536</memory>") -> dict:
        u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
        mach = f" machine='{machine}'" if machine else ""
        dev = f"<devices>{devices}</devices>" if devices else ""
        xml = (f"<domain type='qemu'><name>{name}</name><uuid>{u}</uuid>{memory}"
               f"<os><type arch='{arch}'{mach}>hvm</type>{body}</os>{dev}</domain>\n")
        return {"name": name, "op": "define", "arch": arch, "machine": machine or "", "xml": xml}

    yield dom("edge-nomachine-x86", "x86_64", None)
    for k, (arch, machine, vc) in enumerate([("aarch64", None, 2), ("aarch64", "virt", 3), ("x86_64", "isapc", 2)]):
        d = dom(f"edge-maxcpus-{k}", arch, machine)
        d["xml"] = d["xml"].replace("</memory>", f"</memory><vcpu>{vc}</vcpu>")
        yield d
    yield dom("edge-nomachine-aarch64", "aarch64", None)
    yield dom("edge-nomachine-ppc64", "ppc64", None)
    yield dom("edge-nomachine-s390x", "s390x", None)
    yield dom("edge-nomachine-riscv64", "riscv64", None)
    yield dom("edge-badmachine-x86", "x86_64", "foo")
    yield dom("edge-badmachine-aarch64", "aarch64", "foo")
    yield dom("edge-badmachine-q35", "x86_64", "pc-q35-1.0")
    yield dom("edge-boot-network", "x86_64", "pc", "<boot dev='network'/>")
    yield dom("edge-kernel-x86", "x86_64", "pc",
              "<kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd</initrd><cmdline>console=ttyS0 ro</cmdline>")
    yield dom("edge-kernel-net", "x86_64", "q35", "<kernel>/boot/vmlinuz</kernel><boot dev='network'/>")
    yield dom("edge-kernel-arm", "aarch64", "virt", "<kernel>/boot/Image</kernel><cmdline>a b</cmdline>")
    yield dom("edge-cmdline-only", "ppc64", "pseries", "<cmdline>x</cmdline>")
    yield dom("edge-cmdline-empty", "s390x", "s390-ccw-virtio", "<kernel>/k</kernel><cmdline></cmdline>")
    yield dom("edge-boot-multi", "x86_64", "q35", "<boot dev='cdrom'/><boot dev='hd'/><boot dev='fd'/>")
    for unit, val in (("G", "1"), ("MB", "64"), ("b", "67108865"), ("bytes", "1000"), ("KB", "1000"),
                      ("M", "0")):
        yield dom(f"edge-mem-{unit}-{val}", "x86_64", "pc", memory=f"<memory unit='{unit}'>{val}</memory>")
    yield dom("edge-curmem-bigger", "x86_64", "pc",
              memory="<memory>65536</memory><currentMemory>131072</currentMemory>")
    yield dom("edge-curmem-zero", "x86_64", "pc",
              memory="<memory>65536</memory><currentMemory>0</currentMemory>")
    u = uuid.uuid5(uuid.NAMESPACE_DNS, "edge")
    extras = {
        "vcpu2": "<vcpu>2</vcpu>",
        "vcpu-auto": "<vcpu placement='static'>4</vcpu>",
        "vcpu-current": "<vcpu placement='static' current='1'>3</vcpu>",
        "vcpu-current-bad": "<vcpu current='3'>2</vcpu>",
        "vcpu-current-zero": "<vcpu current='0'>2</vcpu>",
        "vcpu-many": "<vcpu>9</vcpu>",
        "clock-local": "<clock offset='localtime'/>",
        "on-all": "<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot>"
                  "<on_crash>coredump-destroy</on_crash>",
        "feat-acpi": "<features><acpi/><apic/></features>",
        "feat-pae": "<features><pae/><acpi/></features>",
        "gic3": "<features><gic version='3'/></features>",
        "cpu-custom": "<cpu mode='custom' match='exact'><model>qemu64</model></cpu>",
        "cpu-custom-nomatch": "<cpu><model fallback='allow'>max</model></cpu>",
    }
    for arch, machine in (("x86_64", "pc"), ("x86_64", "q35"), ("aarch64", "virt"), ("ppc64", "pseries"),
                          ("s390x", "s390-ccw-virtio"), ("riscv64", "virt")):
        for ename, extra in extras.items():
            name = f"edge-{ename}-{arch}-{machine}"
            u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
            yield {"name": name, "op": "define", "arch": arch, "machine": machine,
                   "xml": (f"<domain type='qemu'><name>{name}</name><uuid>{u}</uuid><memory>65536</memory>"
                           f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os>{extra}</domain>\n")}


HEAD_POOL: list[str] = [
    "<vcpu>2</vcpu>", "<vcpu placement='static'>3</vcpu>",
    "<features><acpi/><apic/></features>", "<features><pae/></features>",
    "<features><gic version='2'/></features>", "<features><acpi/><gic version='3'/></features>",
    "<cpu mode='custom' match='exact'><model fallback='allow'>max</model></cpu>",
    "<clock offset='localtime'/>", "<clock offset='utc'/>",
    "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>restart</on_crash>",
    "<on_crash>preserve</on_crash>", "<on_reboot>destroy</on_reboot>",
]
MEM_POOL = ["<memory>65536</memory>", "<memory unit='MiB'>128</memory>",
            "<memory unit='GiB'>1</memory><currentMemory unit='MiB'>512</currentMemory>",
            "<memory unit='KiB'>100000</memory><currentMemory>99999</currentMemory>"]
BOOT_POOL = ["", "<boot dev='hd'/>", "<boot dev='network'/><boot dev='cdrom'/>"]


def random_cases3(n: int, seed: int = 3) -> Iterator[dict]:
    """Third family: head elements (vcpu, features, cpu, clock, lifecycle, memory, boot) x devices,
    on all machines, each also loaded by a restarting driver and ABI-checked against a random edit."""
    import random

    rng = random.Random(seed)
    for k in range(n):
        arch, machine = rng.choice(MORE_MACHINES)
        name = f"rand3-{k:04d}"
        u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
        order = ["<vcpu", "<feat", "<cpu ", "<cloc", "<on_p", "<on_r", "<on_c"]
        head = "".join(sorted(rng.sample(HEAD_POOL, rng.randint(0, 2)), key=lambda x: order.index(x[:5])))
        devs = "".join(rng.sample(POOL2, rng.randint(0, 3)))
        body = (f"<uuid>{u}</uuid>{rng.choice(MEM_POOL)}{head[:0]}")
        vc = [h for h in head.split("</vcpu>") if h.startswith("<vcpu")]
        rest = head.split("</vcpu>")[-1] if vc else head
        xml = (f"<domain type='qemu'><name>{name}</name>{body}{vc[0] + '</vcpu>' if vc else ''}"
               f"<os><type arch='{arch}' machine='{machine}'>hvm</type>{rng.choice(BOOT_POOL)}</os>{rest}"
               f"{'<devices>' + devs + '</devices>' if devs else ''}</domain>\n")
        yield {"name": name, "op": "define", "arch": arch, "machine": machine, "xml": xml}
        if k % 2 == 0:
            yield {"name": f"rload3-{k:04d}", "op": "load", "arch": arch, "machine": machine,
                   "xml": xml.replace(name, f"rload3-{k:04d}")}
        if k % 2 == 1:
            ed = rng.sample(ABI_RANDOM_EDITS + [(r"<acpi/>", ""), (r"<apic/>", "<apic/><pae/>"),
                                                (r"<clock offset='[a-z]*'/>", "<clock offset='localtime'/>")], 1)
            yield {"name": f"rabi3-{k:04d}", "op": "abi", "arch": arch, "machine": machine,
                   "xml": xml.replace(name, f"rabi3-{k:04d}"), "edit": ed[0]}


MUTATION_VALUES = ["0", "1", "2", "-1", "0x20", "abc", "", "none", "99999999999", "0x1f", "7", "3",
                   "pci", "usb", "virtio", "qemu-xhci", "ehci", "pcie-root-port", "q35", "pc"]


def mutant_cases(base: list[dict], n: int, seed: int = 4, prefix: str = "mut") -> Iterator[dict]:
    """Seeded structural mutations (drop/alter attributes, elements, text) of define inputs."""
    import random

    from lxml import etree

    rng = random.Random(seed)
    defines = [c for c in base if c["op"] == "define"]
    for k in range(n):
        c = rng.choice(defines)
        root = etree.fromstring(c["xml"])
        name = f"{prefix}-{k:04d}"
        root.find("name").text = name
        els = [e for e in root.iter() if e.tag not in ("name", "uuid")]
        for _ in range(rng.randint(1, 2)):
            e = rng.choice(els)
            r = rng.random()
            if e.attrib and r < 0.55:
                a = rng.choice(sorted(e.attrib))
                if rng.random() < 0.3:
                    del e.attrib[a]
                else:
                    e.set(a, rng.choice(MUTATION_VALUES))
            elif r < 0.75 and e is not root and e.getparent() is not None and e.tag != "type":
                e.getparent().remove(e)
            elif e.text and e.text.strip():
                e.text = rng.choice(MUTATION_VALUES)
        yield {"name": name, "op": "define", "arch": c["arch"], "machine": c["machine"],
               "xml": etree.tostring(root).decode() + "\n"}


# (name, source devices, edit applied to the migratable source XML to form the destination)
ABI_EDITS: list[tuple[str, str, tuple[str, str] | None]] = [
    ("same", "", None),
    ("usb-model", "<controller type='usb' index='0' model='qemu-xhci'/>",
     ("model='qemu-xhci'", "model='nec-xhci'")),
    ("usb-add", "", ("</devices>", "<controller type='usb' index='3' model='qemu-xhci'/></devices>")),
    ("tablet-drop", "<input type='tablet' bus='usb'/>", (r"<input type='tablet' bus='usb'>.*?</input>\s*", "")),
    ("balloon-drop", "", (r"<memballoon .*?</memballoon>\s*", "<memballoon model='none'/>")),
    ("acpi-add", "", (r"</os>", "</os><features><acpi/></features>")),
    ("apic-pae-add", "", (r"</os>", "</os><features><apic/><pae/></features>")),
    ("clock-local", "", (r"<clock offset='utc'/>", "<clock offset='localtime'/>")),
    ("hub-drop", "<hub type='usb'/>", (r"<hub type='usb'>.*?</hub>\s*", "")),
    ("redir-drop", REDIR, (r"<redirdev .*?</redirdev>\s*", "")),
    ("usb-port-move", "<input type='tablet' bus='usb'/>", (r"port='1'/>", "port='2'/>")),
    ("serial-drop", "<serial type='pty'/>", (r"<serial type='pty'>.*?</serial>\s*", "")),
    ("serial-add", "<serial type='pty'/>", (r"</serial>", "</serial><serial type='pty'/>")),
    ("vcpu-current", "", (r"<vcpu placement='static'>1</vcpu>", "<vcpu placement='static' current='1'>2</vcpu>")),
]


def save_image(path: str, xml: str) -> None:
    """Synthetic QEMU save image: header + source XML; libvirt reads nothing else for a redefine."""
    data = xml.encode() + b"\0"
    data += b"\0" * (4096 - len(data) % 4096)
    header = b"LibvirtQemudSave" + struct.pack("<5I", 2, len(data), 0, 0, 0) + b"\0" * 56
    with open(path, "wb") as f:
        f.write(header + data)


def run(cases_: list[dict], root: str, out: Path) -> dict[str, int]:
    import libvirt  # only the recorder needs the real thing

    os.makedirs(f"{root}/etc", exist_ok=True)
    with open(f"{root}/etc/qemu.conf", "w") as f:
        f.write('user = "root"\ngroup = "root"\nstdio_handler = "file"\n')
    libvirt.virEventRegisterDefaultImpl()
    libvirt.registerErrorHandler(lambda *a: None, None)
    conn = libvirt.open(f"qemu:///embed?root={root}")
    MIG = libvirt.VIR_DOMAIN_XML_MIGRATABLE
    INACT = libvirt.VIR_DOMAIN_XML_INACTIVE
    stats = {"ok": 0, "error": 0}
    out.mkdir(parents=True, exist_ok=True)
    tmpdir = tempfile.mkdtemp(dir=root)
    loads = [c for c in cases_ if c["op"] == "load"]
    for c in cases_:
        if c["op"] == "load":
            continue
        name = c["name"]
        ctx = {"op": c["op"], "arch": c["arch"], "machine": c["machine"], "qemu": "7.2.0",
               "caps_del": [], "profile": "9.0.0", "recorded_with": RECORDED_WITH}
        for old in out.glob(f"{name}.*"):
            old.unlink()
        (out / f"{name}.xml").write_text(c["xml"])
        res: dict[str, str] = {}
        dom = None
        try:
            dom = conn.defineXML(c["xml"])
            if c["op"] == "define":
                res["xml"] = dom.XMLDesc(0)
                try:
                    res["mig"] = dom.XMLDesc(MIG)
                except libvirt.libvirtError as e:  # define worked, the migratable copy did not
                    res["migerr"] = str(e)
            elif c["op"] in ("attach", "detach"):
                (out / f"{name}.dev.xml").write_text(c["dev"])
                fn = dom.attachDeviceFlags if c["op"] == "attach" else dom.detachDeviceFlags
                try:
                    fn(c["dev"], libvirt.VIR_DOMAIN_AFFECT_CONFIG)
                    res["xml"] = dom.XMLDesc(0)
                except libvirt.libvirtError as e:
                    res["err"] = str(e)
            elif c["op"] == "abi":
                src = dom.XMLDesc(MIG | INACT)
                dst = src
                for ed in ([c["edit"]] if c["edit"] else []) + list(c.get("edit2", [])):
                    dst = re.sub(ed[0], ed[1], dst, count=1, flags=re.S)
                (out / f"{name}.dst.xml").write_text(dst)
                img = os.path.join(tmpdir, "img")
                save_image(img, src)
                try:
                    conn.saveImageDefineXML(img, dst, 0)
                    res["abi"] = "ok"
                except libvirt.libvirtError as e:
                    res["err"] = str(e)
        except libvirt.libvirtError as e:
            if c["op"] != "define":
                (out / f"{name}.dev.xml").write_text(c.get("dev", ""))
                ctx["setup_error"] = True
            res["err"] = str(e)
        finally:
            if dom is not None:
                dom.undefine()
        if "err" in res:
            (out / f"{name}.expected.err").write_text(res["err"] + "\n")
            stats["error"] += 1
        else:
            stats["ok"] += 1
        if "xml" in res:
            (out / f"{name}.expected.xml").write_text(res["xml"])
        if "migerr" in res:
            (out / f"{name}.expected.mig.err").write_text(res["migerr"] + "\n")
        if "mig" in res:
            (out / f"{name}.expected.mig.xml").write_text(res["mig"])
        (out / f"{name}.json").write_text(json.dumps(ctx, indent=1, sort_keys=True) + "\n")
    conn.close()
    # the expectations of abi/attach/detach cases come from scripts/recorder.py (the in-process
    # results above only shaped the inputs: a destination is the source's migratable XML, edited)
    rerecord(out, ["abi", "attach", "detach"], {c["name"] for c in cases_ if c["op"] in ("abi", "attach", "detach")})
    if loads:
        run_load(loads, root, out, stats)
    return stats


RECORDER = REPO / "scripts" / "recorder.py"
RECORDED_BY_RECORDER = RECORDED_WITH + " (scripts/recorder.py)"
LOAD_ERROR_FROM = "libvirt's log: the last error before \"Failed to load config for domain\" (scripts/recorder.py)"


def record_with_recorder(op: str, inputs: list[Path], out: Path | None = None) -> dict[str, str]:
    """Expected outputs from ``scripts/recorder.py OP`` (libvirt-python alone, nothing of
    virtfuzz): name -> "ok"/"error". ``--out`` defaults to beside the inputs."""
    import subprocess

    results: dict[str, str] = {}
    for i in range(0, len(inputs), 2000):  # keep the command line short
        chunk = inputs[i:i + 2000]
        cmd = [sys.executable, str(RECORDER), op, *(["--out", str(out)] if out else []), *map(str, chunk)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        for line in proc.stdout.splitlines():
            path, res = line.rsplit(": ", 1)
            results[Path(path).name[:-len(".xml")]] = res.split()[0]
    missing = [p.name for p in inputs if p.name[:-len(".xml")] not in results]
    if missing:
        raise SystemExit(f"recorder.py {op} gave no result for {missing[:5]}")
    return results


def run_load(cases_: list[dict], root: str, out: Path, stats: dict[str, int]) -> None:
    """Driver-restart semantics, recorded by ``scripts/recorder.py load``: the inputs go into a
    fresh root's config dir and a fresh embedded driver loads them (parsed without ABI_UPDATE,
    not validated); a skipped definition's reason is the error libvirt logged for it."""
    paths = []
    for c in cases_:
        name = c["name"]
        for old in out.glob(f"{name}.*"):
            old.unlink()
        (out / f"{name}.xml").write_text(c["xml"])
        paths.append(out / f"{name}.xml")
    results = record_with_recorder("load", paths)
    for c in cases_:
        name = c["name"]
        ctx = {"op": "load", "arch": c["arch"], "machine": c["machine"], "qemu": "7.2.0",
               "caps_del": [], "profile": "9.0.0", "recorded_with": RECORDED_BY_RECORDER}
        if results[name] != "ok":
            ctx["load_failed"] = True
            ctx["load_error_from"] = LOAD_ERROR_FROM
        stats["error" if results[name] != "ok" else "ok"] += 1
        (out / f"{name}.json").write_text(json.dumps(ctx, indent=1, sort_keys=True) + "\n")


CAPS_DEL_CASES: list[tuple[str, str, str, str]] = [
    # (arch, machine, deleted flag, devices)
    ("x86_64", "q35", "qemu-xhci", ""),
    ("x86_64", "q35", "qemu-xhci", "<input type='tablet' bus='usb'/>"),
    ("x86_64", "q35", "nec-usb-xhci", ""),
    ("x86_64", "pc", "piix3-usb-uhci", ""),
    ("x86_64", "pc", "piix3-usb-uhci", "<input type='tablet' bus='usb'/>"),
    ("x86_64", "q35", "piix3-usb-uhci", "<controller type='usb' index='0'/>"),
    ("x86_64", "q35", "pcie-root-port", ""),
    ("x86_64", "q35", "pcie-pci-bridge", "<controller type='usb' index='0' model='piix3-uhci'/>"),
    ("x86_64", "q35", "usb-kbd", "<input type='keyboard' bus='usb'/>"),
    ("x86_64", "pc", "usb-hub", "<hub type='usb'/>"),
    ("x86_64", "pc", "usb-redir", REDIR),
    ("x86_64", "q35", "virtio-pci-non-transitional", ""),
    ("i686", "q35", "qemu-xhci", ""),
    ("ppc64", "pseries", "qemu-xhci", ""),
    ("ppc64", "pseries", "qemu-xhci", "<controller type='usb' index='0'/>"),
    ("ppc64", "pseries", "pci-ohci", "<controller type='usb' index='0'/>"),
    ("aarch64", "virt", "qemu-xhci", "<controller type='usb' index='0'/>"),
    ("aarch64", "virt", "gpex-pcihost", ""),
    ("aarch64", "virt", "pcie-pci-bridge", "<controller type='usb' index='0' model='ehci'/>"),
    ("aarch64", "virt", "virtio-tablet", "<input type='tablet' bus='virtio'/>"),
    ("riscv64", "virt", "gpex-pcihost", ""),
    ("s390x", "s390-ccw-virtio", "zpci", ""),
    ("s390x", "s390-ccw-virtio", "zpci", "<controller type='usb' index='0' model='qemu-xhci'/>"),
]


def record_caps_del(out: Path) -> None:
    """Capability variants: the input names the stock ``/usr/bin/qemu-system-ARCH`` and the context
    the deleted flag. virtfuzz's CapsContext prepares a copy naming the variant's fake QEMU (a
    wrapper replaying the recorded 7.2 probe minus the flag); ``scripts/recorder.py define`` runs
    on that copy, and the variant's path in libvirt's answers is put back to the stock one."""
    for k, (arch, machine, flag, devs) in enumerate(CAPS_DEL_CASES):
        name = f"capsdel-{k:02d}-{arch}-{flag}"
        xml = domain_xml(name, arch, machine, devs)
        stock = f"/usr/bin/{'qemu-system-i386' if arch == 'i686' else 'qemu-system-' + arch}"
        if "<devices>" in xml:
            xml = xml.replace("<devices>", f"<devices><emulator>{stock}</emulator>")
        else:
            xml = xml.replace("</domain>", f"<devices><emulator>{stock}</emulator></devices></domain>")
        for old in out.glob(f"{name}.*"):
            old.unlink()
        (out / f"{name}.xml").write_text(xml)
        ctx = {"op": "define", "arch": arch, "machine": machine, "qemu": "7.2.0", "caps_del": [flag],
               "profile": "9.0.0", "recorded_with": RECORDED_BY_RECORDER + ", fake-QEMU variant"}
        (out / f"{name}.json").write_text(json.dumps(ctx, indent=1, sort_keys=True) + "\n")
    rerecord(out, ["capsdel"])


def _emulator_of(xml: str) -> str | None:
    m = re.search(r"<emulator>\s*([^<]*?)\s*</emulator>", xml)
    return m.group(1) if m else None


def rerecord(out: Path, ops: list[str], names: set[str] | None = None) -> dict[str, dict[str, int]]:
    """Re-record the expected outputs of the corpus's existing cases of ``ops`` (define, load, abi,
    attach, detach; "capsdel" for the define cases with a capability context) with
    ``scripts/recorder.py``, and mark their provenance. Inputs are not touched."""
    import shutil

    from virtfuzz.backends.caps_context import CapsContext

    counts: dict[str, dict[str, int]] = {}
    by_op: dict[str, list[tuple[Path, dict]]] = {}
    for j in sorted(out.glob("*.json")):
        if names is not None and j.name[:-5] not in names:
            continue
        ctx = json.loads(j.read_text())
        op = "capsdel" if ctx["op"] == "define" and (ctx.get("caps_del") or ctx.get("qemu") not in
                                                    (None, "7.2.0")) else ctx["op"]
        if op in ops:
            by_op.setdefault(op, []).append((j, ctx))
    for op, items in by_op.items():
        if op == "capsdel":  # one prepared input per case, in a scratch dir
            results = {}
            for j, ctx in items:
                name = j.name[:-5]
                tmp = Path(tempfile.mkdtemp(prefix="vf-capsdel-"))
                try:
                    src = (out / f"{name}.xml").read_text()
                    stock = _emulator_of(src)
                    prepared = CapsContext(None if ctx["qemu"] == "7.2.0" else ctx["qemu"],
                                           ctx["caps_del"]).prepare(src)
                    variant = _emulator_of(prepared)
                    assert stock and variant and variant != stock, (name, stock, variant)
                    (tmp / f"{name}.xml").write_text(prepared)
                    results.update(record_with_recorder("define", [tmp / f"{name}.xml"], tmp / "out"))
                    for suffix in (".expected.xml", ".expected.mig.xml", ".expected.mig.err", ".expected.err"):
                        (out / f"{name}{suffix}").unlink(missing_ok=True)
                        got = tmp / "out" / f"{name}{suffix}"
                        if got.exists():
                            (out / f"{name}{suffix}").write_text(got.read_text().replace(variant, stock))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        else:
            results = record_with_recorder(op, [out / f"{j.name[:-5]}.xml" for j, _ in items])
        for j, ctx in items:
            res = results[j.name[:-5]]
            ctx["recorded_with"] = RECORDED_BY_RECORDER + (", fake-QEMU variant" if op == "capsdel" else "")
            if op == "load":
                ctx.pop("load_failed", None)
                ctx.pop("load_error_from", None)
                if res != "ok":
                    ctx["load_failed"] = True
                    ctx["load_error_from"] = LOAD_ERROR_FROM
            j.write_text(json.dumps(ctx, indent=1, sort_keys=True) + "\n")
            counts.setdefault(op, {"ok": 0, "error": 0})[res] += 1
    return counts


def measure(out: Path) -> int:
    """Agreement of the oracle with the recorded expectations (libvirt 9.0.0's, in the
    repository's corpus: tests/test_oracle_unit.py reads it), per arch/machine and per op."""
    from collections import defaultdict

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    from test_oracle_unit import run_case  # noqa: E402  (shares the comparison code)

    from oracle import OracleInputError

    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    from test_oracle_unit import GOLDEN

    for name, case in sorted(GOLDEN.items()):
        ctx = case.context
        fam = name.split("-")[0]
        fam = "hold" if fam.startswith("hold") else ("hand" if fam in ("define", "attach", "detach", "abi", "load",
                                                                       "edge") else fam)
        keys = ((ctx["arch"], ctx["machine"] or "(default)"), ("ALL", ctx["op"]), ("FAMILY", fam))
        try:
            status, exp, got = run_case(name)
        except OracleInputError:
            for key in keys:
                rows[key]["cases"] += 1
                rows[key]["unsupported"] += 1
            continue
        for key in keys:
            r = rows[key]
            r["cases"] += 1
            for k, label in (("xml", "xml"), ("mig", "mig"), ("err", "err"), ("migerr", "migerr")):
                if k in exp:
                    r[f"{label}_n"] += 1
                    r[f"{label}_same"] += int(got.get(k) == exp[k])
            r["all_same"] += int(status == "same")
    cols = ["cases", "unsupported", "all_same", "xml_same/xml_n", "mig_same/mig_n", "err_same/err_n"]
    print("| arch / op | machine | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for (a, m), r in sorted(rows.items(), key=lambda kv: (kv[0][0] in ("ALL", "FAMILY"), kv[0])):
        vals = []
        for c in cols:
            if "/" in c:
                x, n = c.split("/")
                vals.append(f"{r[x]}/{r[n]}")
            else:
                vals.append(str(r[c]))
        print(f"| {a} | {m} | " + " | ".join(vals) + " |")
    return 0


GENERATED = "recorded by scripts/record-golden.py from generated inputs"
FAMILY_SOURCE = {
    "define": "scripts/record-golden.py cases(): machine x device snippet grammar",
    "load": "scripts/record-golden.py cases(): machine x device snippet grammar, loaded by a driver start-up",
    "abi": "scripts/record-golden.py cases(): machine x device snippet grammar, destination = one edit (ABI_EDITS)",
    "attach": "scripts/record-golden.py cases(): config hotplug onto the minimal domain",
    "detach": "scripts/record-golden.py cases(): config unplug",
    "capsdel": "scripts/record-golden.py record_caps_del(): CAPS_DEL_CASES, a fake-QEMU capability variant",
    "edge": "scripts/record-golden.py edge_cases(): hand-written edge cases around the minimal-domain elements",
    "mutated": "scripts/record-golden.py mutant_cases(): seeded structural mutations of the define inputs",
    "random": "scripts/record-golden.py random_cases*(): seeded random combinations of pool snippets",
    "held-out": "scripts/record-golden.py all_cases(): held-out families (other seeds)",
}
FAMILY_WHY = {
    "held-out": "recorded after the oracle was developed against the other families: the held-out "
                "agreement measure of docs/fidelity.md; " + GENERATED,
    "capsdel": "what libvirt makes of a domain when QEMU lacks one capability; " + GENERATED,
}


def file_into_corpus(staging: Path, root: Path) -> int:
    """Move the flat staging directory's cases (``NAME.json``, ``NAME.xml``, second inputs,
    ``NAME.expected.*``) into the corpus at ROOT through virtfuzz.corpus: the topic of each name's
    family, the answers as libvirt 9.0.0's, provenance added. A case of the same name is replaced."""
    from virtfuzz import corpus

    existing = corpus.by_name(root) if root.is_dir() else {}
    n = 0
    for j in sorted(staging.glob("*.json")):
        name = j.name[:-5]
        ctx = json.loads(j.read_text())
        topic = corpus.topic_for(name)
        ctx.setdefault("provenance", {"source": FAMILY_SOURCE.get(topic, "scripts/record-golden.py"),
                                      "why": FAMILY_WHY.get(topic, GENERATED)})
        old = existing.get(name)
        if old is not None:  # its files go, whatever topic it was in
            for p in old.dir.glob(f"{name}.*"):
                if corpus._classify(p.name)[0] == name:
                    p.unlink()
        second = {role: (staging / f"{name}{suffix}").read_text() for role, suffix in corpus.SECOND.items()
                  if (staging / f"{name}{suffix}").is_file()}
        case = corpus.write_case(root, topic, name, ctx, (staging / f"{name}.xml").read_text(), second)
        corpus.replace_expected(case, "9.0.0", {kind: (staging / f"{name}{suffix}").read_text()
                                                for kind, suffix in corpus.EXPECTED.items()
                                                if (staging / f"{name}{suffix}").is_file()})
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--filter", default="")
    ap.add_argument("--caps-del", action="store_true",
                    help="record the capability-variant cases (fake QEMU prepared by virtfuzz, "
                         "expectations by scripts/recorder.py)")
    ap.add_argument("--rerecord", metavar="OPS",
                    help="re-record the expectations of existing cases with scripts/recorder.py: "
                         "comma-separated ops (define,load,abi,attach,detach,capsdel)")
    ap.add_argument("--measure", action="store_true",
                    help="compare the oracle with the recorded corpus (no libvirt needed)")
    a = ap.parse_args(argv)
    if a.measure:
        return measure(a.out)
    if a.rerecord:  # the corpus's own re-recording, per op
        from virtfuzz.cli import main as virtfuzz

        ops = a.rerecord.split(",")
        runs = [[x for o in ops if o != "capsdel" for x in ("--op", o)]] if set(ops) - {"capsdel"} else []
        runs += [["--topic", "capsdel"]] if "capsdel" in ops else []
        common = ["corpus", "regen", "--write", "--root", str(a.out), *(["-k", a.filter] if a.filter else [])]
        return max(virtfuzz([*common, *sel]) for sel in runs)
    import shutil

    staging = Path(tempfile.mkdtemp(prefix="vf-golden-"))
    try:
        if a.caps_del:
            record_caps_del(staging)
        else:
            selected = [c for c in all_cases() if a.filter in c["name"]]
            stats = run(selected, a.root, staging)
            print(f"recorded {len(selected)} cases: {stats}", file=sys.stderr)
        print(f"{file_into_corpus(staging, a.out)} cases filed into {a.out}", file=sys.stderr)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
