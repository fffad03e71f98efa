"""The live tier: real TCG guests under libvirt, checking invariant 5.

Invariant 5: the real QEMU state agrees with libvirt's ABI verdict. A guest is started paused,
USB devices are live-attached, it is saved, and restored from a destination definition: its own
migratable XML (what a migration sends), or that XML with one guest-visible detail changed. When
libvirt's ABI check accepts the destination but QEMU then refuses the saved device state
("Unknown savevm section ..."), libvirt let an ABI break through: a libvirt bug. Sampled at a
low rate by the campaign (a cycle costs 1-3 s of real QEMU).
"""

from __future__ import annotations

import random

from lxml import etree

from fuzz.checks import Failure

QEMU_STATE_ERROR = "qemu unexpectedly closed the monitor"


def destination_variants(mig_xml: str, rng: random.Random) -> list[tuple[str, str]]:
    """(description, destination XML): the migratable XML itself, and one guest-visible change."""
    out = [("as sent", mig_xml)]
    root = etree.fromstring(mig_xml.encode())
    usb = [a for a in root.iterfind("devices/*/address[@type='usb']") if a.get("port")]
    if usb:
        a = rng.choice(usb)
        used = {x.get("port") for x in usb}
        free = [str(p) for p in range(1, 5) if str(p) not in used]
        if free:
            old = a.get("port")
            a.set("port", rng.choice(free))
            out.append((f"USB port {old} -> {a.get('port')} of <{a.getparent().tag}>",
                        etree.tostring(root, encoding="unicode")))
    return out


def check_live(result: dict, what: str) -> list[Failure]:
    if result.get("kind") in ("crash", "timeout"):
        return [Failure(f"0-libvirt-{result['kind']}", "libvirt", f"live cycle ({what}): {result.get('error')}")]
    if result.get("stage") == "restore" and QEMU_STATE_ERROR in (result.get("error") or ""):
        return [Failure("5-live-abi-vs-qemu", "libvirt",
                        f"libvirt accepted the destination ({what}) but QEMU refused the saved state: "
                        f"{result['error'][:300]}", xpath="live/restore")]
    return []
