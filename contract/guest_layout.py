"""The guest as QEMU sees it: the USB and PCI-controller part of the command line libvirt builds.

libvirt's own ABI check (``virDomainDefCheckABIStability``) compares two definitions field by
field and has blind spots (it ignores USB ports). What the guest really gets is the QEMU command
line, which libvirt computes without starting QEMU (``virConnectDomainXMLToNative("qemu-argv")``).
This module reduces that command line to what decides the USB and PCI topology: the machine type,
``-usb``, and the ``-device`` entries of USB controllers, USB devices and PCI controllers with the
properties that place them (driver, id, bus, addr, port, masterbus, firstport, multifunction,
chassis, chassis_nr). Numbers are compared as numbers: libvirt 7.0.0 prints ``-device
ioh3420,port=0x8,...`` and 9.0.0+ prints JSON (``"port":8``); PCI addresses become ``"slot.function"``
in decimal. USB port paths (``"1.2"``) stay strings.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

# QEMU device drivers that make up the USB and PCI topology (QEMU's hw/usb and hw/pci-bridge names)
USB_CONTROLLER_DRIVERS = frozenset({
    "piix3-usb-uhci", "piix4-usb-uhci", "usb-ehci", "ich9-usb-ehci1", "ich9-usb-ehci2",
    "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3", "ich9-usb-uhci4", "ich9-usb-uhci5",
    "ich9-usb-uhci6", "vt82c686b-usb-uhci", "pci-ohci", "sysbus-ohci", "nec-usb-xhci", "qemu-xhci",
    "qusb1", "qusb2", "usb-xhci",
})
PCI_CONTROLLER_DRIVERS = frozenset({
    "pci-bridge", "i82801b11-bridge", "ioh3420", "pcie-root-port", "x3130-upstream", "xio3130-downstream",
    "pxb", "pxb-pcie", "pcie-pci-bridge", "spapr-pci-host-bridge", "dmi-to-pci-bridge",
})
PLACEMENT_KEYS = ("driver", "id", "bus", "addr", "port", "masterbus", "firstport", "multifunction",
                  "chassis", "chassis_nr")
_NUMERIC_KEYS = frozenset({"firstport", "chassis", "chassis_nr"})
_HEX_OR_DEC = re.compile(r"(0x[0-9a-fA-F]+|[0-9]+)")


def is_topology_driver(driver: str) -> bool:
    return driver in USB_CONTROLLER_DRIVERS or driver in PCI_CONTROLLER_DRIVERS or driver.startswith("usb-")


def _number(value: Any) -> Any:
    if isinstance(value, str) and _HEX_OR_DEC.fullmatch(value):
        return int(value, 0)
    return value


def _addr(value: Any) -> str:
    """``0x3.0x7`` / ``0x3`` / ``3.7`` -> ``"3.7"``; anything else as it is."""
    parts = str(value).split(".")
    if len(parts) in (1, 2) and all(_HEX_OR_DEC.fullmatch(p) for p in parts):
        slot = int(parts[0], 0)
        function = int(parts[1], 0) if len(parts) == 2 else 0
        return f"{slot}.{function}"
    return str(value)


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value in ("on", "off", "true", "false"):
        return value in ("on", "true")
    return value


def _device_props(arg: str) -> dict[str, Any]:
    """One ``-device`` argument, JSON (libvirt >= 9.0) or ``driver,key=value,...`` (older)."""
    if arg.startswith("{"):
        return dict(json.loads(arg))
    driver, _, rest = arg.partition(",")
    props: dict[str, Any] = {"driver": driver}
    # QEMU's option syntax escapes a comma as ",,"; no placement value contains one
    for item in re.split(r"(?<!,),(?!,)", rest) if rest else []:
        key, _, value = item.partition("=")
        props[key] = value
    return props


def placement(props: dict[str, Any]) -> dict[str, Any]:
    """The properties that place a topology device, normalised so builds compare as numbers."""
    out: dict[str, Any] = {}
    usb_device = str(props.get("driver", "")).startswith("usb-")
    for key in PLACEMENT_KEYS:
        if key not in props:
            continue
        value = props[key]
        if key == "addr":
            value = _addr(value)
        elif key == "multifunction":
            value = _bool(value)
        elif key in _NUMERIC_KEYS or (key == "port" and not usb_device):
            value = _number(value)
        elif key == "port":
            value = str(value)
        out[key] = value
    return out


def parse_argv(argv: str) -> dict[str, Any]:
    """``{"machine": TYPE, "devices": [...]}`` from ``domainXMLToNative("qemu-argv")`` output.

    ``-usb`` (QEMU creates the machine's default USB controller itself) is the device
    ``{"driver": "-usb"}``, in command-line order, so eras that passed it compare with those that
    pass ``-device``.
    """
    words = shlex.split(argv.replace("\\\n", " "))
    machine = ""
    devices: list[dict[str, Any]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("-machine", "-M") and i + 1 < len(words):
            machine = words[i + 1].split(",", 1)[0]
            if machine.startswith("type="):
                machine = machine[len("type="):]
            i += 2
            continue
        if w == "-usb":
            devices.append({"driver": "-usb"})
        elif w == "-device" and i + 1 < len(words):
            props = _device_props(words[i + 1])
            if is_topology_driver(str(props.get("driver", ""))):
                devices.append(placement(props))
            i += 2
            continue
        i += 1
    return {"machine": machine, "devices": devices}


def _placement_key(d: dict[str, Any]) -> str | None:
    """Where a device sits: its bus and PCI address or USB port (None for a device QEMU places
    itself, e.g. ``-usb``)."""
    if "bus" in d and ("addr" in d or "port" in d):
        return f"at {d['bus']}:{d.get('addr', d.get('port'))}"
    return None


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Where two layouts differ first, in words (None when the guest is the same).

    Devices are matched by where they sit (bus and address or port), not by QEMU id nor by their
    order on the command line: a usb-hub's id (``hub0``, ``hub1``) follows the order of the
    definition's devices, but what the guest and the migration stream see is the port it is
    plugged into. Ids still count where they name a bus, through the ``bus`` of what sits on it.
    """
    if a["machine"] != b["machine"]:
        return f"machine: {a['machine']!r} vs {b['machine']!r}"

    def keyed(devs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        seen: dict[str, int] = {}
        for d in devs:
            base = _placement_key(d) or f"{d['driver']}@{d.get('masterbus', '')}"
            n = seen[base] = seen.get(base, -1) + 1
            out[base if n == 0 else f"{base}#{n}"] = d
        return out

    ka, kb = keyed(a["devices"]), keyed(b["devices"])
    for key in list(ka) + [k for k in kb if k not in ka]:
        x, y = ka.get(key), kb.get(key)
        if x is None:
            return f"device {key} ({y['driver']}) only in the second"
        if y is None:
            return f"device {key} ({x['driver']}) only in the first"
        for prop in PLACEMENT_KEYS:
            if prop != "id" and x.get(prop) != y.get(prop):
                return f"device {key}: {prop} {x.get(prop)!r} vs {y.get(prop)!r}"
    return None


def _pseries_ohci(machine: str) -> bool:
    """QEMU hw/ppc/spapr.c: pseries-2.5 and older set ``use_ohci_by_default`` (spapr machine class
    options), newer ones create nec-usb-xhci for ``-usb``."""
    m = re.fullmatch(r"pseries-(\d+)\.(\d+)", machine)
    return m is not None and (int(m.group(1)), int(m.group(2))) <= (2, 5)


def legacy_usb_device(machine: str) -> dict[str, Any] | None:
    """The device QEMU itself creates for ``-usb`` on this machine, or None when it creates none
    (raises KeyError for machines not modelled). QEMU's sources:

    - i440fx (``pc``, ``pc-i440fx-*``, ``pc-0.*``, ``pc-1.*``): hw/i386/pc_piix.c ``pc_init1``,
      ``pci_create_simple(pci_bus, piix3_devfn + 2, "piix3-usb-uhci")``: slot 1 function 2;
    - pSeries: hw/ppc/spapr.c (``ppc_spapr_init``, later ``spapr_machine_init``),
      ``pci_create_simple(phb->bus, -1, "pci-ohci")`` (or ``"nec-usb-xhci"``): devfn -1 is the first
      free slot of the PHB's bus when the machine is built, before any ``-device``: slot 0 (libvirt
      never assigns slot 0 on pSeries, so a ``-device`` placement can never equal it);
    - ARM ``virt``: hw/arm/virt.c builds no USB host controller for ``-usb``.
    """
    if machine == "pc" or machine.startswith(("pc-i440fx-", "pc-0.", "pc-1.")):
        return {"driver": "piix3-usb-uhci", "id": "usb", "bus": "pci.0", "addr": "1.2"}
    if machine == "pseries" or machine.startswith("pseries-"):
        driver = "pci-ohci" if _pseries_ohci(machine) else "nec-usb-xhci"
        return {"driver": driver, "id": "usb", "bus": "pci.0", "addr": "0.0"}
    if machine == "virt" or machine.startswith("virt-"):
        return None
    raise KeyError(machine)


# root ports QEMU gives a USB host controller, the ones a USB 1/2 device can take (QEMU hw/usb:
# hcd-uhci.c NB_PORTS 2, hcd-ehci.h NB_PORTS 6, hcd-ohci-pci.c "num-ports" 3, hcd-xhci.c "p2" 4: the
# USB 2 ports come first, the "p3" USB 3 ones take superspeed devices only) and a usb-hub's ports
# (dev-hub.c NUM_PORTS 8)
USB_ROOT_PORTS = {
    "piix3-usb-uhci": 2, "piix4-usb-uhci": 2, "vt82c686b-usb-uhci": 2, "usb-ehci": 6, "ich9-usb-ehci1": 6,
    "ich9-usb-ehci2": 6, "pci-ohci": 3, "sysbus-ohci": 3, "nec-usb-xhci": 4, "qemu-xhci": 4, "usb-xhci": 4,
}
USB_HUB_PORTS = 8


def _claim_usb_ports(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """USB devices given without a port get the one QEMU gives them (hw/usb/bus.c
    ``usb_claim_port``: the first port of the bus' free list, which holds the controller's root
    ports in order, then each hub's ports as the hub is plugged; the bus is the first USB bus,
    ``usb_bus_find(-1)``, when ``bus=`` is not given either). Devices are taken in command-line
    order, ports named explicitly are removed from the list first. Old libvirt (before v2.1.0's
    qemuDomainAssignUSBAddresses) passed no port, and QEMU chose; this lets such a guest compare
    with one whose libvirt named the same port."""
    free: dict[str, list[str]] = {}
    for d in devices:
        n = USB_ROOT_PORTS.get(str(d.get("driver")))
        if n is not None and "masterbus" not in d and d.get("id"):
            free[f"{d['id']}.0"] = [str(i) for i in range(1, n + 1)]
    if not free or not any(str(d.get("driver", "")).startswith("usb-") and "port" not in d for d in devices):
        return devices
    for d in devices:
        if str(d.get("driver", "")).startswith("usb-") and "port" in d and d.get("bus") in free:
            if str(d["port"]) in free[d["bus"]]:
                free[d["bus"]].remove(str(d["port"]))
    first_bus = next(iter(free))
    out = []
    for d in devices:
        drv = str(d.get("driver", ""))
        if drv.startswith("usb-") and drv not in USB_ROOT_PORTS:
            bus = d.get("bus") or first_bus
            if "port" not in d and free.get(bus):
                d = {**d, "bus": bus, "port": free[bus].pop(0)}
            if drv == "usb-hub" and "port" in d and bus in free:
                free[bus] += [f"{d['port']}.{i}" for i in range(1, USB_HUB_PORTS + 1)]
        out.append(d)
    return out


def qemu_view(layout: dict[str, Any]) -> dict[str, Any]:
    """The layout with ``-usb`` replaced by what QEMU creates for it (``legacy_usb_device``), so a
    guest given ``-usb`` compares with one given ``-device``: the resolved controller is named
    ``usb`` like libvirt's default controller (a device's id is no part of what the guest sees or
    of the migration stream, which names PCI devices by their address). Unknown machines keep
    ``-usb``. USB devices without a port get the one QEMU gives them (``_claim_usb_ports``)."""
    devices: list[dict[str, Any]] = []
    for d in layout["devices"]:
        if d.get("driver") == "-usb":
            try:
                made = legacy_usb_device(layout["machine"])
            except KeyError:
                made = d
            if made is not None:
                devices.append(made)
        else:
            devices.append(d)
    return {"machine": layout["machine"], "devices": _claim_usb_ports(devices)}
