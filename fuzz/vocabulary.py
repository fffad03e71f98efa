"""The words the strategies build domain XML from: arches, machines, USB models, devices.

Why a separate data module: the strategies should only *combine* things; what is a valid machine
name or which USB models a QEMU binary has is a fact about libvirt 9.0.0 + QEMU 7.2 and belongs in
one place the oracle authors can read and check. Machine lists and device flags are read from the
capabilities cache libvirt itself wrote for the installed QEMU (``capsets/qemu-7.2.0/<arch>.xml``),
so the vocabulary never names a machine the real backend does not know.

Everything is ordered "simplest first": ``st.sampled_from`` shrinks towards the first element, so
the alias machine (``pc``), the first USB model and so on are what a shrunk failure shows.

The per-arch lookups are cached (``functools.cache``): the generator asks them on every draw, and
their answers are fixed once the caps files are read.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from lxml import etree

CAPS_VERSION = "qemu-7.2.0"
"""The capability set the vocabulary is read from (the QEMU installed next to libvirt 9.0.0)."""

CAPS_DIR = Path(os.environ.get("VIRTFUZZ_CAPS_DIR", Path(__file__).resolve().parent.parent / "capsets"))
"""Root of the recorded caps; override with ``VIRTFUZZ_CAPS_DIR`` when running from an install."""

ARCHES: tuple[str, ...] = ("x86_64", "i686", "ppc64", "aarch64", "armv7l", "s390x", "riscv64")
"""Guest arches the fuzzer covers; x86_64 first so shrinking lands on the most familiar arch."""

# --- machines -------------------------------------------------------------------------------------

# Machine families, keyed by the rules that differ between them (USB auto-add, PCI root model,
# PIIX3 slot pinning). Each family: (alias-or-base name, regex for versioned names).
FAMILIES: dict[str, tuple[str, str]] = {
    "i440fx": ("pc", r"pc-i440fx-\d+\.\d+(\.\d+)?"),
    "q35": ("q35", r"pc-q35-\d+\.\d+(\.\d+)?"),
    "pseries": ("pseries", r"pseries-\d+\.\d+(\.\d+)?(-\w+)?"),
    "virt": ("virt", r"virt-\d+\.\d+(\.\d+)?"),
    "s390-ccw": ("s390-ccw-virtio", r"s390-ccw-virtio-\d+\.\d+(\.\d+)?"),
}

# Which families each arch uses, and whether versioned machines are included for that arch
# (armv7l and riscv64: only the plain ``virt`` the brief asks for; riscv64 has no versions anyway).
ARCH_FAMILIES: dict[str, tuple[str, ...]] = {
    "x86_64": ("i440fx", "q35"),
    "i686": ("i440fx", "q35"),
    "ppc64": ("pseries",),
    "aarch64": ("virt",),
    "armv7l": ("virt",),
    "s390x": ("s390-ccw",),
    "riscv64": ("virt",),
}
_VERSIONED_ARCHES = frozenset({"x86_64", "i686", "ppc64", "aarch64", "s390x"})


def _version_key(name: str) -> tuple:
    """Sort key: newest version first (``7.2`` before ``2.10``), suffixes (``-sxxm``) after."""
    nums = tuple(int(n) for n in re.findall(r"\d+", name))
    return tuple(-n for n in nums), name


@cache
def _caps_root(arch: str) -> etree._Element | None:
    path = CAPS_DIR / CAPS_VERSION / f"{arch}.xml"
    if not path.exists():
        return None
    return etree.parse(str(path)).getroot()


@cache
def caps_machines(arch: str) -> tuple[str, ...]:
    """All TCG machine names (and aliases) the caps file lists for ``arch``; empty if no caps file.

    Only ``type='tcg'`` entries: every generated domain is ``type='qemu'``.
    """
    root = _caps_root(arch)
    if root is None:
        return ()
    names: list[str] = []
    for m in root.iterfind("machine"):
        if m.get("type") != "tcg":
            continue
        names.append(m.get("name"))
        if m.get("alias"):
            names.append(m.get("alias"))
    return tuple(dict.fromkeys(names))


@cache
def caps_flags(arch: str) -> frozenset[str]:
    """The ``<flag name=.../>`` set of the caps file (empty if missing)."""
    root = _caps_root(arch)
    if root is None:
        return frozenset()
    return frozenset(f.get("name") for f in root.iterfind("flag"))


@cache
def family_machines(arch: str, family: str) -> tuple[str, ...]:
    """Machines of one family for ``arch``: the alias first, then versioned names, newest first.

    The alias is always present (libvirt resolves it); versioned names come from the caps file so
    they exist in the installed QEMU. Without a caps file only the alias is returned.
    """
    base, pattern = FAMILIES[family]
    known = caps_machines(arch)
    versioned: list[str] = []
    if arch in _VERSIONED_ARCHES:
        versioned = sorted((m for m in known if re.fullmatch(pattern, m)), key=_version_key)
    return (base, *versioned)


@cache
def machines(arch: str) -> tuple[str, ...]:
    """Every machine of the vocabulary for ``arch`` (aliases first within each family)."""
    return tuple(m for fam in ARCH_FAMILIES[arch] for m in family_machines(arch, fam))


@cache
def machine_family(arch: str, machine: str) -> str:
    """The family of a machine name; raises ``ValueError`` for names outside the vocabulary."""
    for fam in ARCH_FAMILIES[arch]:
        base, pattern = FAMILIES[fam]
        if machine == base or re.fullmatch(pattern, machine):
            return fam
    raise ValueError(f"machine {machine!r} is not in the vocabulary for {arch}")


AUTO_USB_FAMILIES = frozenset({"i440fx", "q35", "pseries"})
"""Families where libvirt 9.0 auto-adds an index-0 USB controller (usb-rules.md, era 5).

virt (aarch64, armv7l, riscv64) and s390-ccw get none: USB devices there need an explicit controller.
"""

PCI_FAMILIES = frozenset({"i440fx", "q35", "pseries", "virt"})
"""Families where explicit PCI addresses are ordinary (s390 uses CCW; zPCI is not generated)."""

PCI_ROOT_MODEL: dict[str, str] = {"i440fx": "pci-root", "pseries": "pci-root", "q35": "pcie-root",
                                  "virt": "pcie-root"}
"""The model the index-0 PCI controller must have; the other one is a deliberate mistake."""

PCI_EXTRA_MODELS: dict[str, tuple[str, ...]] = {
    "i440fx": ("pci-bridge",),
    "pseries": ("pci-bridge",),
    "q35": ("pcie-root-port", "pcie-to-pci-bridge", "pci-bridge"),
    "virt": ("pcie-root-port", "pcie-to-pci-bridge", "pci-bridge"),
}
"""Non-root PCI controllers that libvirt can place by itself on each family."""

PCI_SLOTS: tuple[int, ...] = tuple(range(0x03, 0x1F))
"""Slots used for explicit addresses on bus 0: avoids 0 (host bridge), 1 (PIIX3 on i440fx), 2
(video) and 0x1f (ICH9 LPC/SATA/SMBus on q35). Lowest first, so shrinking gives slot 0x03."""

PIIX3_USB_ADDRESS = (0, 0, 0x01, 2)
"""(domain, bus, slot, function) libvirt pins the i440fx index-0 piix3-uhci / model-less USB to."""

# --- USB controllers --------------------------------------------------------------------------------

USB_MODELS: tuple[str, ...] = (
    "piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3",
    "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qemu-xhci", "none",
)
"""USB controller models of libvirt 9.0 the QEMU driver may accept (enum order, without Xen's qusb)."""

XEN_ONLY_USB_MODELS: tuple[str, ...] = ("qusb1", "qusb2")
"""Models libvirt parses but the QEMU driver rejects: used only for the "unsupported model" flaw."""

USB_MODEL_FLAG: dict[str, str] = {
    "piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "ehci": "usb-ehci",
    "ich9-ehci1": "ich9-usb-ehci1", "ich9-uhci1": "ich9-usb-ehci1", "ich9-uhci2": "ich9-usb-ehci1",
    "ich9-uhci3": "ich9-usb-ehci1", "vt82c686b-uhci": "vt82c686b-usb-uhci", "pci-ohci": "pci-ohci",
    "nec-xhci": "nec-usb-xhci", "qemu-xhci": "qemu-xhci",
}
"""QEMU caps flag that must be present for a model (``none`` needs none)."""

ICH9_COMPANIONS: tuple[tuple[str, int, int], ...] = (
    ("ich9-uhci1", 0, 0), ("ich9-uhci2", 2, 1), ("ich9-uhci3", 4, 2),
)
"""(model, master startport, PCI function) of the USB1 companions of an ``ich9-ehci1`` master."""
ICH9_MASTER_FUNCTION = 7
"""PCI function libvirt gives the ehci1 master in the shared slot."""

SINGLE_USB_MODELS: tuple[str, ...] = (
    "qemu-xhci", "piix3-uhci", "nec-xhci", "ehci", "pci-ohci", "piix4-uhci", "vt82c686b-uhci",
)
"""Models generated as standalone controllers (not the ich9 set, not ``none``), common ones first."""

XHCI_MODELS = frozenset({"nec-xhci", "qemu-xhci"})
"""The only models with a ``ports`` attribute libvirt accepts."""
XHCI_MAX_PORTS = 15
"""libvirt: "'%s' controller only supports up to '%u' ports"."""

USB_MODEL_PORTS: dict[str | None, int] = {
    "piix3-uhci": 2, "piix4-uhci": 2, "vt82c686b-uhci": 2, "ehci": 6, "ich9-ehci1": 6,
    "pci-ohci": 3, "nec-xhci": 4, "qemu-xhci": 4, None: 2,
}
"""Root-hub ports per model (libvirt's virDomainUSBAddressControllerModelToPorts); model-less is
counted as 2, the smallest model libvirt could pick. Used to keep explicit USB ports in range."""


@cache
def supported_usb_models(arch: str) -> tuple[str, ...]:
    """USB models whose QEMU device exists for ``arch`` (from the caps flags), in USB_MODELS order.

    s390x has none of them, ppc64 alone has vt82c686b-uhci. ``none`` is always included.
    """
    flags = caps_flags(arch)
    return tuple(m for m in USB_MODELS if m == "none" or USB_MODEL_FLAG[m] in flags)


@cache
def single_usb_models(arch: str) -> tuple[str, ...]:
    """Standalone models valid for ``arch`` (SINGLE_USB_MODELS filtered by the caps)."""
    ok = set(supported_usb_models(arch))
    return tuple(m for m in SINGLE_USB_MODELS if m in ok)


@cache
def has_usb_devices(arch: str) -> bool:
    """Whether the QEMU binary has the USB device models (usb-kbd, usb-hub, usb-redir); not s390x."""
    return {"usb-kbd", "usb-hub", "usb-redir"} <= caps_flags(arch)


# --- devices ------------------------------------------------------------------------------------------

USB_INPUT_TYPES: tuple[str, ...] = ("tablet", "mouse", "keyboard")
"""``<input type=... bus='usb'/>`` types."""

DEVICE_KINDS: tuple[str, ...] = ("input", "hub", "redirdev")
"""USB devices a domain (or a hotplug) may carry: inputs, ``<hub type='usb'/>``, tcp redirdev."""

REDIR_HOST = "127.0.0.1"
REDIR_PORTS: tuple[int, ...] = tuple(range(4000, 4016))
"""TCP ports for ``<redirdev type='tcp'>`` bind sources; nothing listens, define never connects."""

MEMBALLOON_MODELS: tuple[str, ...] = ("virtio", "none")
"""``<memballoon model=.../>``; absent means libvirt adds a virtio one itself."""

MEMORY_UNITS: tuple[tuple[str | None, int], ...] = (("KiB", 65536), ("MiB", 64), (None, 65536))
"""The same 64 MiB spelled three ways (``None``: no unit attribute, libvirt's default KiB)."""

LIFECYCLE_EVENTS: dict[str, tuple[str, ...]] = {
    "on_poweroff": ("destroy", "restart"),
    "on_reboot": ("restart", "destroy"),
    "on_crash": ("destroy", "restart", "preserve"),
}
"""Optional ``<on_*>`` elements and values every arch accepts (libvirt's defaults first)."""
