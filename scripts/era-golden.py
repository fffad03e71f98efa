#!/usr/bin/env python3
"""The historic era profiles against their own release's golden test files.

For each tag in ``../shared/reference/libvirt-history/`` (TAGS below says which era profile speaks
for it and why), every input ``tests/qemuxml2argvdata/qemuxml2argv-NAME.xml`` is defined on the
oracle with that profile and compared with what the release's own tests expected:

(a) where ``tests/qemuxml2xmloutdata/qemuxml2xmlout-NAME.xml`` exists: the USB controllers, PCI
    controllers and USB devices (hub, USB input, USB redirdev) with their addresses, in document
    order, against the oracle's stored XML (only the elements the oracle models);
(b) where ``NAME.args`` exists: the USB/PCI part of the expected command line
    (``contract.guest_layout.parse_argv``; old libvirt prints ``-device driver,key=value`` and
    ``-usb``) against the oracle's guest layout (``oracle/layout.py``), both through
    ``qemu_view`` (``-usb`` as the device QEMU creates for it) and ``first_difference``.

An input outside the oracle's vocabulary is *declined* (with the oracle's reason). An input
without an expected output in the set (an argv failure test or an xml2xml input whose output
file was not kept) is counted under "no expectation".

Usage: scripts/era-golden.py [--tag TAG]... [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract.guest_layout import first_difference, legacy_usb_device, parse_argv, qemu_view  # noqa: E402
from oracle.capsets import capset_for  # noqa: E402
from oracle.errors import LibvirtError, OracleInputError, OracleUnsupported  # noqa: E402
from oracle.layout import guest_layout  # noqa: E402
from oracle.model import domain_arch  # noqa: E402
from oracle.pipeline import defined  # noqa: E402
from oracle.profile import get_profile  # noqa: E402


def _history() -> Path:
    """The release history: $VIRTFUZZ_LIBVIRT_HISTORY, else ``../shared/reference/libvirt-history``
    beside the checkout, else the workplace's copy (a clone elsewhere, e.g. CI's, finds it there)."""
    for candidate in (os.environ.get("VIRTFUZZ_LIBVIRT_HISTORY"),
                      ROOT.parent / "shared" / "reference" / "libvirt-history",
                      "/work/shared/reference/libvirt-history"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return ROOT.parent / "shared" / "reference" / "libvirt-history"


HISTORY = _history()

# tag -> (era profile, why that profile speaks for the tag)
TAGS: dict[str, tuple[str, str]] = {
    "v0.9.4": ("0.9.4", "exact: the 0.9.4 profile cites v0.9.4's sources"),
    "v0.9.5": ("1.3.0", "approximate: the nearest profile with a <controller type='usb'> element "
               "(360aaafc63, v0.9.5); v0.9.5 has no implicit USB controller yet (42043afcdc, v0.9.10) "
               "and, like 1.3.0, gives a model-less controller -usb (qemuBuildCommandLine: "
               "usbcontroller == 0)"),
    "v0.9.12": ("1.3.0", "approximate: the nearest profile; implicit USB controller (42043afcdc) and "
                "-usb for the model-less one (qemuBuildCommandLine) as in 1.3.0; no pSeries pci-ohci "
                "default before 7b6b9d3863 (v1.2.4), where 1.3.0 also gives -usb on the eras' ppc64 QEMU"),
    "v1.3.0": ("1.3.0", "exact: [A]"),
    "v1.3.1": ("1.3.1", "exact: [B]"),
    "v1.3.4": ("1.3.1", "[B] (1.3.1-1.3.4: 8156493d8d in, 192a53e07c not yet)"),
    "v1.3.5": ("1.3.5", "exact: [C]"),
    "v2.1.0": ("1.3.5", "[C] (1.3.5-2.1.0: be1a7e6d31 in, f55eaccb0c not yet); approximate: "
               "dc5821d743 (v2.0.0, no -usb on ARM virt) and 2.1.0's USB port assignment are 2.2.0's"),
    "v2.2.0": ("2.2.0", "exact: the reviewed series"),
}

_VIDEO = ("slot 2 kept for a primary video: with no <video> and without QEMU_CAPS_DEVICE_VIDEO_PRIMARY in "
          "the test's flags, qemuValidateDevicePCISlotsPIIX3 reserves 00:02.0 (v1.3.5 "
          "src/qemu/qemu_domain_address.c), so the golden controller sits one slot later; QEMU 7.2's "
          "capability set has the flag (capability set, not an era rule)")
_PPC_PIIX3 = ("the test's ppc64 flags include QEMU_CAPS_PIIX3_USB_UHCI; the era profiles assume the thread's "
              "ppc64 QEMU without it (caps_absent in 2.2.0.json, RHBZ 1297020, 8156493d8d)")
_PPC_OHCI = ("the test's ppc64 flags lack QEMU_CAPS_PCI_OHCI, so the model-less controller is -usb "
             "(qemuBuildCommandLine/qemuBuildUSBControllerDevStr); QEMU 7.2's ppc64 set has pci-ohci")
_XML_PIIX3 = ("2.2.0's qemuxml2xmltest ran without QEMU_CAPS_PIIX3_USB_UHCI, so qemuDomainControllerDefPostParse "
              "(f55eaccb0c) leaves the model unset; with QEMU 7.2's flags it writes piix3-uhci")
_PORTS_21 = ("v2.1.0 assigns USB ports (qemuDomainAssignUSBAddresses, v2.1.0 src/qemu/qemu_domain_address.c, "
             "incl. automatic hubs); the 1.3.5 profile that speaks for v2.1.0 does not (approximate mapping)")
_MULTI_095 = ("v0.9.5 qemuBuildDeviceAddressStr prints multifunction=on on every PCI -device when "
              "QEMU_CAPS_PCI_MULTIFUNCTION (gone by v0.9.12); the 1.3.0 profile that speaks for v0.9.5 does not")
# every difference the comparison finds, with its reason ((tag, name) -> reason)
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    **{("v0.9.5", n): _MULTI_095 for n in ("usb-ich9-companion", "usb-ich9-ehci-addr", "usb-piix3-controller")},
    **{(t, "usb-ich9-ehci-addr"): _VIDEO for t in ("v1.3.4", "v1.3.5", "v2.1.0", "v2.2.0")},
    **{(t, "usb-ich9-ehci-addr"): _VIDEO + "; and the qemuxml2xmltest of <= 1.3.3 assigned no PCI address "
       "(the expected XML has none)" for t in ("v1.3.0", "v1.3.1")},
    **{(t, n): _VIDEO for t in ("v1.3.5", "v2.1.0", "v2.2.0") for n in ("usb-controller-xhci", "usb-xhci-autoassign")},
    ("v1.3.0", "pseries-usb-default"): _PPC_PIIX3 + " ([A] gives -device pci-ohci only with both flags)",
    **{(t, "pseries-usb-multi"): _PPC_PIIX3 + " (the test's explicit piix3-uhci controller on pSeries)"
       for t in ("v1.3.0", "v1.3.1", "v1.3.4", "v1.3.5", "v2.1.0", "v2.2.0")},
    **{(t, n): _PPC_OHCI for t in ("v1.3.1", "v1.3.4", "v1.3.5", "v2.1.0", "v2.2.0")
       for n in ("ppc64-usb-controller-legacy", "pseries-basic")},
    **{("v2.2.0", n): _XML_PIIX3 for n in ("input-usbmouse", "input-usbtablet", "migrate", "usb-controller")},
    ("v2.2.0", "usb-port-missing"): _XML_PIIX3 + "; and a USB <address> without port: v2.2.0 keeps it "
    "port-less (-device usb-mouse without port), the 2.2.0 profile (9.0.0's USB rules) assigns one",
    ("v2.2.0", "ppc64-usb-controller"): "the pSeries pci-root's <model name='spapr-pci-host-bridge'/><target "
    "index='0'/> is not in v2.2.0 (its domain_conf.c has neither targetIndex nor spapr-pci-host-bridge): the "
    "2.2.0 profile inherits 9.0.0's PHB defaults (not fixed: no switch for PCI controller model names yet)",
    # where v2.1.0's assigned port is the one QEMU gives a port-less device (contract.guest_layout
    # _claim_usb_ports: input-usbmouse, usb-port-autoassign, ...) both agree; these differ
    **{("v2.1.0", n): _PORTS_21 for n in ("usb-hub-autoadd", "usb-port-missing")},
}

# the USB/PCI part of the command line the oracle's guest layout models
MODELLED_USB_DEVICES = frozenset({"usb-hub", "usb-mouse", "usb-tablet", "usb-kbd", "usb-redir"})
# elements of (a): what the oracle models of the USB/PCI topology
XML_PATHS = ("devices/controller[@type='usb']", "devices/controller[@type='pci']", "devices/hub",
             "devices/input[@bus='usb']", "devices/redirdev[@bus='usb']")
# children that carry no topology (alias is runtime state; the rest is outside the comparison)
_DROP_CHILDREN = frozenset({"alias", "boot", "source", "protocol"})


def read_data(p: Path) -> str:
    """A data file; the reference set stores git symlinks as a file holding the target's name."""
    text = p.read_text(errors="replace")
    if "<" not in text and text.strip().endswith(".xml") and "\n" not in text.strip():
        return (p.parent / text.strip()).read_text(errors="replace")
    return text


def reduce_input(xml: str) -> tuple[str, list[str]]:
    """Strip what cannot move a USB/PCI address: IDE/floppy disks and IDE/FDC controllers of an
    i440fx guest (PIIX3's own functions at 00:01.1 / ISA, never given a PCI slot by libvirt:
    qemuDomainAssignPCIAddresses reserves 1.1 whether or not they exist); s390-virtio guests run
    as s390-ccw-virtio without their virtio-s390 devices (see below)."""
    root = etree.fromstring(xml.encode())
    mtype = root.find("os/type")
    machine = (mtype.get("machine") or "pc") if mtype is not None else "pc"
    arch = mtype.get("arch") if mtype is not None else None
    dropped: list[str] = []
    if arch in ("s390", "s390x") and machine == "s390-virtio" and mtype is not None:
        # the old s390-virtio machine is not in QEMU 7.2's capabilities, which the eras read; the
        # USB rules these tests pin depend on ARCH_IS_S390 only (v1.3.0 qemuDomainDeviceDefPostParse,
        # qemuBuildCommandLine): the s390-ccw-virtio machine stands in, and its disk, console and
        # rng (on the virtio-s390 / ccw transport, no PCI or USB address) are stripped
        mtype.set("machine", "s390-ccw-virtio")
        dropped.append("machine s390-virtio")
        devs = root.find("devices")
        for el in list(devs) if devs is not None else []:
            if el.tag in ("disk", "console", "rng"):
                devs.remove(el)
                dropped.append(el.tag)
    if arch in ("i686", "x86_64") and (machine == "pc" or machine.startswith(("pc-i440fx", "pc-0.", "pc-1."))):
        devs = root.find("devices")
        for el in list(devs) if devs is not None else []:
            t = el.find("target")
            if el.tag == "disk" and t is not None and t.get("bus") in ("ide", "fdc") and \
                    (el.find("address") is None or el.find("address").get("type") == "drive"):
                devs.remove(el)
                dropped.append(f"disk {t.get('bus')}")
            elif el.tag == "controller" and el.get("type") in ("ide", "fdc"):
                devs.remove(el)
                dropped.append(f"controller {el.get('type')}")
    return etree.tostring(root, encoding="unicode"), dropped


def _canon(el: etree._Element) -> str:
    """One topology element as a canonical string: attributes sorted, numbers as numbers."""
    def norm(v: str) -> str:
        return str(int(v, 0)) if re.fullmatch(r"0x[0-9a-fA-F]+|[0-9]+", v) else v

    def one(e: etree._Element) -> str:
        attrs = ",".join(f"{k}={norm(v)}" for k, v in sorted(e.attrib.items()))
        kids = "".join(one(c) for c in e if isinstance(c.tag, str) and c.tag not in _DROP_CHILDREN)
        return f"<{e.tag} {attrs}>{kids}"

    return one(el)


def topology_xml(xml: str) -> list[str]:
    root = etree.fromstring(xml.encode())
    out = []
    for el in root.iterfind("devices/*"):
        if any(el in root.findall(p) for p in XML_PATHS):
            out.append(_canon(el))
    return out


def expected_layout(args: str) -> tuple[dict, list[str]]:
    """The golden command line's USB/PCI part; unmodelled USB devices are returned separately.
    ``bus=pci`` is the root bus without QEMU_CAPS_PCI_MULTIBUS (v0.9.12 qemu_command.c
    qemuBuildDeviceAddressStr, later qemuAssignDeviceControllerAlias): the same bus as ``pci.0``."""
    # the golden files wrap long arguments after a comma (",\\\n"): one word for QEMU
    lay = parse_argv(re.sub(r",\\\n", ",", args))
    # before -device usb-mouse (v1.3.0 qemuBuildCommandLine), USB inputs were -usbdevice mouse|tablet:
    # QEMU plugs the device into the first free port of the default bus, as for a -device without port
    for m in re.finditer(r"-usbdevice (mouse|tablet)\b", args):
        lay["devices"].append({"driver": f"usb-{m.group(1)}"})
    devices, unmodelled = [], []
    for d in lay["devices"]:
        drv = d["driver"]
        if drv.startswith("usb-") and drv not in MODELLED_USB_DEVICES:
            unmodelled.append(drv)
            continue
        if d.get("bus") == "pci":
            d = dict(d, bus="pci.0")
        devices.append(d)
    return {"machine": lay["machine"], "devices": devices}, unmodelled


def _family(machine: str) -> str:
    try:
        made = legacy_usb_device(machine)
    except KeyError:
        return machine
    return "none" if made is None else made["driver"] + ("-i440fx" if machine.startswith("pc") else "-pseries")


def compare_layout(expected: dict, got: dict) -> str | None:
    """first_difference of the two qemu views; the machine name is compared as its family (the
    golden tests' capabilities have no canonical machine names: ``-M pc``)."""
    if _family(expected["machine"]) == _family(got["machine"]) or \
            expected["machine"].split("-")[0] == got["machine"].split("-")[0]:
        got = dict(got, machine=expected["machine"])
    return first_difference(qemu_view(expected), qemu_view(got))


@dataclass
class TagResult:
    tag: str
    profile: str
    files: int = 0
    applicable: int = 0
    agree: int = 0
    no_expectation: int = 0
    declined: dict[str, str] = field(default_factory=dict)  # name -> reason
    differ: dict[str, str] = field(default_factory=dict)  # name -> first difference
    agreeing: list[str] = field(default_factory=list)


def run_tag(tag: str) -> TagResult:
    profile = TAGS[tag][0]
    prof = get_profile(profile)
    res = TagResult(tag, profile)
    argv_dir = HISTORY / tag / "tests" / "qemuxml2argvdata"
    out_dir = HISTORY / tag / "tests" / "qemuxml2xmloutdata"
    for p in sorted(argv_dir.glob("qemuxml2argv-*.xml")):
        name = p.stem[len("qemuxml2argv-"):]
        res.files += 1
        args_p = p.with_suffix(".args")
        out_p = out_dir / f"qemuxml2xmlout-{name}.xml"
        if not args_p.exists() and not out_p.exists():
            res.no_expectation += 1
            continue
        xml, _ = reduce_input(read_data(p))
        diffs: list[str] = []
        try:
            arch = domain_arch(xml)
            caps = capset_for(arch or "x86_64", profile=profile)
            d = defined(xml, caps, prof, True)
            if out_p.exists():
                want, got = topology_xml(read_data(out_p)), topology_xml(d.xml())
                if want != got:
                    i = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                             min(len(want), len(got)))
                    diffs.append(f"xml: element {i}: expected {want[i] if i < len(want) else None!r}, "
                                 f"oracle {got[i] if i < len(got) else None!r}")
            if args_p.exists():
                exp, unmodelled = expected_layout(read_data(args_p))
                if unmodelled:
                    raise OracleUnsupported(f"USB devices the layout does not model: {', '.join(unmodelled)}")
                try:
                    lay = guest_layout(d.dom, caps, prof)
                except LibvirtError as e:
                    diffs.append(f"args: oracle cannot build the command line: {e}")
                else:
                    fd = compare_layout(exp, lay)
                    if fd:
                        diffs.append(f"args: {fd}")
        except LibvirtError as e:
            diffs.append(f"oracle refuses the definition: {e}")
        except (OracleUnsupported, OracleInputError) as e:
            res.declined[name] = str(e).splitlines()[0][:120]
            continue
        res.applicable += 1
        if diffs:
            res.differ[name] = "; ".join(diffs)
        else:
            res.agree += 1
            res.agreeing.append(name)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", action="append", choices=sorted(TAGS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = [run_tag(t) for t in (a.tag or TAGS)]
    if a.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
        return 0
    print("| tag | profile | files | no expectation | applicable | agree | differ | declined |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.tag} | {r.profile} | {r.files} | {r.no_expectation} | {r.applicable} | {r.agree} | "
              f"{len(r.differ)} | {len(r.declined)} |")
    for r in results:
        print(f"\n## {r.tag} (profile {r.profile}: {TAGS[r.tag][1]})")
        for n, why in r.differ.items():
            print(f"- DIFFER {n}: {why}\n  reason: {KNOWN_DIFFERENCES.get((r.tag, n), 'UNEXPLAINED')}")
        reasons: dict[str, list[str]] = {}
        for n, why in r.declined.items():
            reasons.setdefault(why, []).append(n)
        for why, names in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
            print(f"- declined ({len(names)}): {why}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
