"""USB port assignment (libvirt 9.0.0).

Rules rewritten from src/qemu/qemu_domain_address.c (qemuDomainAssignUSBAddresses,
qemuDomainUSBAddressAddHubs, qemuDomainAssignUSBHubs/Ports) and src/conf/domain_addr.c
(virDomainUSBAddressSetAddController/AddHub, virDomainUSBAddressFindPort/FindFreePort,
virDomainUSBAddressAssign/Reserve, virDomainUSBAddressControllerModelToPorts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oracle.errors import LibvirtError
from oracle.model import Controller, Domain, Hub, Info
from oracle.profile import Profile


@dataclass
class UsbHub:
    nports: int
    used: list[bool] = field(default_factory=list)
    ports: list[UsbHub | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.used = [False] * self.nports
        self.ports = [None] * self.nports


def controller_ports(c: Controller, prof: Profile) -> int:
    """virDomainUSBAddressControllerModelToPorts (UHCI companions count 0: EHCI1 has them)."""
    model = c.model or "default"
    n = prof.data["usb_ports"].get(model, 0)
    if c.model in ("nec-xhci", "qemu-xhci", "qusb1", "qusb2") and c.ports is not None:
        return c.ports
    return n


def usb_devices(dom: Domain, skip_hubs: bool) -> list[Info]:
    """virDomainUSBDeviceDefForeach order: hubs, (hostdevs, disks, ccid), inputs, (serials,
    sounds), redirdevs."""
    out: list[Info] = []
    if not skip_hubs:
        out += [h.info for h in dom.hubs if h.type == "usb"]
    out += [i.info for i in dom.inputs if i.bus == "usb"]
    out += [r.info for r in dom.redirdevs if r.bus == "usb"]
    return out


def has_usb(dom: Domain) -> bool:
    """virDomainDefHasUSB: a USB controller whose model is not 'none'."""
    return any(c.type == "usb" and c.model != "none" for c in dom.controllers)


def _port_str(port: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in port)


class UsbAddrSet:
    def __init__(self, prof: Profile) -> None:
        self.buses: list[UsbHub | None] = []
        self.prof = prof

    def add_controller(self, c: Controller) -> None:
        n = controller_ports(c, self.prof)
        if n == 0:
            return
        if len(self.buses) <= c.idx:
            self.buses.extend([None] * (c.idx - len(self.buses) + 1))
        elif self.buses[c.idx] is not None:
            raise LibvirtError("XML_ERROR", f"Duplicate USB controllers with index {c.idx}")
        self.buses[c.idx] = UsbHub(n)

    def find_port(self, info: Info) -> tuple[UsbHub, int]:
        """virDomainUSBAddressFindPort."""
        ps = _port_str(info.usb_port)
        if info.usb_bus >= len(self.buses) or self.buses[info.usb_bus] is None:
            raise LibvirtError("XML_ERROR", f"Missing USB bus {info.usb_bus}")
        hub = self.buses[info.usb_bus]
        for p in info.usb_port[:-1]:
            if hub.nports <= p - 1:
                raise LibvirtError("XML_ERROR", f"port {p} out of range in USB address bus: "
                                   f"{info.usb_bus} port: {ps}")
            nxt = hub.ports[p - 1]
            if nxt is None:
                raise LibvirtError("XML_ERROR", f"there is no hub at port {p} in USB address bus: "
                                   f"{info.usb_bus} port: {ps}")
            hub = nxt
        target = info.usb_port[-1] - 1
        if target >= hub.nports:
            raise LibvirtError("XML_ERROR", f"requested USB port {ps} not present on USB bus "
                               f"{info.usb_bus}")
        return hub, target

    def add_hub(self, hub: Hub) -> None:
        """virDomainUSBAddressSetAddHub."""
        new = UsbHub(self.prof.data["usb_hub_ports"])
        target_hub, t = self.find_port(hub.info)
        if target_hub.ports[t] is not None:
            raise LibvirtError("XML_ERROR", f"Duplicate USB hub on bus {hub.info.usb_bus} port "
                               f"{_port_str(hub.info.usb_port)}")
        target_hub.used[t] = True
        target_hub.ports[t] = new

    def reserve(self, info: Info) -> None:
        """virDomainUSBAddressReserve."""
        if info.type != "usb" or not info.usb_port:
            return
        hub, t = self.find_port(info)
        if hub.used[t]:
            raise LibvirtError("XML_ERROR", f"Duplicate USB address bus {info.usb_bus} port "
                               f"{_port_str(info.usb_port)}")
        hub.used[t] = True

    def _find_free(self, hub: UsbHub, level: int) -> list[int] | None:
        for i, u in enumerate(hub.used):
            if not u:
                return [i + 1]
        if level >= self.prof.data["usb_max_port_depth"] - 1:
            return None
        for i, sub in enumerate(hub.ports):
            if sub is None:
                continue
            rest = self._find_free(sub, level + 1)
            if rest is not None:
                return [i + 1] + rest
        return None

    def _assign_from_bus(self, info: Info, bus: int) -> bool:
        hub = self.buses[bus] if bus < len(self.buses) else None
        if hub is None:
            return False
        path = self._find_free(hub, 0)
        if path is None:
            return False
        info.type = "usb"
        info.usb_bus = bus
        info.usb_port = tuple(path)
        self.reserve(info)
        return True

    def assign(self, info: Info) -> None:
        """virDomainUSBAddressAssign."""
        if info.type == "usb":
            if info.usb_bus >= len(self.buses) or self.buses[info.usb_bus] is None:
                raise LibvirtError("XML_ERROR", f"USB bus {info.usb_bus} requested but no "
                                   "controller with that index is present")
            if self._assign_from_bus(info, info.usb_bus):
                return
        else:
            for b in range(len(self.buses)):
                if self._assign_from_bus(info, b):
                    return
        raise LibvirtError("INTERNAL_ERROR", "No free USB ports")


def count_all_ports(dom: Domain, prof: Profile) -> int:
    """virDomainUSBAddressCountAllPorts."""
    n = sum(controller_ports(c, prof) for c in dom.controllers if c.type == "usb")
    return n + prof.data["usb_hub_ports"] * sum(1 for h in dom.hubs if h.type == "usb")


def add_hubs(dom: Domain, prof: Profile) -> None:
    """qemuDomainUSBAddressAddHubs: error if USB devices exist without USB; add enough hubs.
    Profile switch ``usb_hub_autoadd`` "one-hub" (v2.1.0-v2.2.0): no such error, and one hub at
    most when the devices outnumber the ports (the others then find no free port)."""
    count = len(usb_devices(dom, skip_hubs=False))
    if prof.rule("usb_hub_autoadd") == "one-hub":
        if count > count_all_ports(dom, prof):
            dom.hubs.append(Hub("usb"))
        return
    if count > 0 and not has_usb(dom):
        raise LibvirtError("CONFIG_UNSUPPORTED", "USB is disabled for this domain, but USB devices "
                           "are present in the domain XML")
    avail = count_all_ports(dom, prof)
    if count > avail:
        per = prof.data["usb_hub_ports"] - 1
        need = -(-(count - avail + 1) // per)
        for _ in range(need):
            dom.hubs.append(Hub("usb"))


def build_set(dom: Domain, prof: Profile) -> UsbAddrSet:
    """virDomainUSBAddressSetCreate + AddControllers + reserve of given addresses."""
    addrs = UsbAddrSet(prof)
    for c in dom.controllers:
        if c.type == "usb":
            addrs.add_controller(c)
    for h in dom.hubs:
        if h.type == "usb" and h.info.type == "usb" and h.info.usb_port:
            addrs.add_hub(h)
    for info in usb_devices(dom, skip_hubs=True):
        addrs.reserve(info)
    return addrs


def assign_usb(dom: Domain, prof: Profile, new_domain: bool) -> None:
    """qemuDomainAssignUSBAddresses (eras without it, profile switch ``usb_port_assign``: no USB
    address set at all, QEMU picks the ports)."""
    if not prof.rule("usb_port_assign"):
        return
    if not new_domain:
        # only when every USB device already has a full address
        if any(not (i.type == "usb" and i.usb_port) for i in usb_devices(dom, skip_hubs=False)):
            return
    add_hubs(dom, prof)
    addrs = build_set(dom, prof)
    for h in dom.hubs:
        if h.type != "usb" or (h.info.type == "usb" and h.info.usb_port):
            continue
        addrs.assign(h.info)
        addrs.add_hub(h)
    for info in usb_devices(dom, skip_hubs=True):
        if info.type not in (None, "usb"):
            continue
        if info.type == "usb" and info.usb_port:
            continue
        addrs.assign(info)
