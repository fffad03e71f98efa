"""Destination definitions that differ from the source in one guest-visible detail.

ABI verdicts are checked on (source, mutated destination) pairs: the oracle and libvirt must agree
whether the pair is ABI-stable and, if not, on the exact message (invariant 1). One mutation per
case, chosen deterministically from the source text so a finding replays.
"""

from __future__ import annotations

import hashlib
import random

from lxml import etree

USB_MODELS = ("piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "pci-ohci", "nec-xhci", "qemu-xhci")


def _rng(xml: str) -> random.Random:
    """Seeded by the document as a default installation sees it: a fake-QEMU variant's path
    depends on the data directory, so it is hashed as if that were the default one (a finding then
    picks the same mutation on every machine, and those recorded on a default one still do)."""
    from virtfuzz import datadir

    here = f"{datadir.data_dir()}/variants/"
    if here != f"{datadir.DEFAULT}/variants/":
        xml = xml.replace(here, f"{datadir.DEFAULT}/variants/")
    return random.Random(int.from_bytes(hashlib.sha256(xml.encode()).digest()[:8], "big"))


def _usb_model(root, rng) -> str | None:
    cs = [c for c in root.iterfind("devices/controller[@type='usb']") if c.get("model") not in (None, "none")]
    if not cs:
        return None
    c = rng.choice(cs)
    old = c.get("model")
    c.set("model", rng.choice([m for m in USB_MODELS if m != old]))
    return f"USB controller model {old} -> {c.get('model')}"


def _pci_slot(root, rng) -> str | None:
    addrs = [a for a in root.iter("address") if a.get("type") == "pci" and a.get("slot")]
    if not addrs:
        return None
    a = rng.choice(addrs)
    old = a.get("slot")
    a.set("slot", f"0x{rng.randrange(1, 0x20):02x}")
    return f"PCI slot {old} -> {a.get('slot')} of <{a.getparent().tag}>"


def _drop_controller(root, rng) -> str | None:
    cs = root.findall("devices/controller")
    if not cs:
        return None
    c = rng.choice(cs)
    c.getparent().remove(c)
    return f"drop <controller type='{c.get('type')}' index='{c.get('index')}'>"


def _usb_ports(root, rng) -> str | None:
    cs = [c for c in root.iterfind("devices/controller[@type='usb']") if c.get("model") in ("qemu-xhci", "nec-xhci")]
    if not cs:
        return None
    c = rng.choice(cs)
    old = c.get("ports")
    c.set("ports", str(rng.randrange(1, 16)))
    return f"USB ports {old} -> {c.get('ports')}"


def _usb_port(root, rng) -> str | None:
    addrs = [a for a in root.iter("address") if a.get("type") == "usb" and a.get("port")]
    if not addrs:
        return None
    a = rng.choice(addrs)
    old = a.get("port")
    a.set("port", str(rng.randrange(1, 5)))
    return f"USB port {old} -> {a.get('port')}"


MUTATIONS = (_usb_model, _pci_slot, _drop_controller, _usb_ports, _usb_port)


def mutate_destination(xml: str) -> tuple[str, str] | None:
    """(description, destination XML) for one applicable mutation, or None if none applies."""
    rng = _rng(xml)
    order = list(MUTATIONS)
    rng.shuffle(order)
    for mutation in order:
        root = etree.fromstring(xml.encode())
        what = mutation(root, rng)
        if what is not None:
            return what, etree.tostring(root, encoding="unicode")
    return None
