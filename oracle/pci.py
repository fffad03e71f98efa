"""PCI address assignment as libvirt 9.0.0 does it for the QEMU driver.

Rules rewritten from src/qemu/qemu_domain_address.c (qemuDomainAssignPCIAddresses,
qemuDomainPCIAddressSetCreate, qemuDomainValidateDevicePCISlotsPIIX3/Q35,
qemuDomainAssignDevicePCISlots, qemuDomainDeviceCalculatePCIConnectFlags) and
src/conf/domain_addr.c (virDomainPCIAddressBusSetModel, virDomainPCIAddressSetGrow,
virDomainPCIAddressGetNextAddr, virDomainPCIAddressReserveAddrInternal,
virDomainPCIAddressFlagsCompatible, virDomainPCIAddressSetAllMulti).

Two passes, like libvirt: a dry run that may grow the bus list (auto-adding pcie-root-ports,
pci-bridges, a pcie-to-pci-bridge ...), whose new buses are turned into controllers, then the
real pass that writes addresses.
"""

from __future__ import annotations

from oracle.capsets import CapSet
from oracle.errors import LibvirtError, OracleUnsupported
from oracle.model import Controller, Domain, Info, Input, PCIAddr
from oracle.postparse import add_controller, is_arm_virt, is_i440fx, is_pseries, is_q35, is_riscv_virt
from oracle.profile import Profile

AUTOASSIGN = 1 << 0
HOTPLUGGABLE = 1 << 1
INTEGRATED = 1 << 2
AGGREGATE_SLOT = 1 << 3
T_PCI_DEVICE = 1 << 4
T_PCIE_DEVICE = 1 << 5
T_PCIE_ROOT_PORT = 1 << 6
T_PCIE_SWITCH_UPSTREAM_PORT = 1 << 7
T_PCIE_SWITCH_DOWNSTREAM_PORT = 1 << 8
T_DMI_TO_PCI_BRIDGE = 1 << 9
T_PCI_EXPANDER_BUS = 1 << 10
T_PCIE_EXPANDER_BUS = 1 << 11
T_PCI_BRIDGE = 1 << 12
T_PCIE_TO_PCI_BRIDGE = 1 << 13
TYPES_MASK = (T_PCI_DEVICE | T_PCIE_DEVICE | T_PCIE_SWITCH_UPSTREAM_PORT | T_PCIE_SWITCH_DOWNSTREAM_PORT
              | T_PCIE_ROOT_PORT | T_DMI_TO_PCI_BRIDGE | T_PCI_EXPANDER_BUS | T_PCIE_EXPANDER_BUS
              | T_PCI_BRIDGE | T_PCIE_TO_PCI_BRIDGE)
TYPES_ENDPOINT = T_PCI_DEVICE | T_PCIE_DEVICE
SLOT_LAST = 31
# the flags above by name, in their bit order (libvirt 9.0.0's virDomainPCIConnectFlags); a
# profile's pci_connect_flag_bits gives its own order, in which "connect flags %x" prints them
CONNECT_BIT_NAMES = ("autoassign", "hotpluggable", "integrated", "aggregate-slot", "pci-device", "pcie-device",
                     "pcie-root-port", "pcie-switch-upstream-port", "pcie-switch-downstream-port",
                     "dmi-to-pci-bridge", "pci-expander-bus", "pcie-expander-bus", "pci-bridge",
                     "pcie-to-pci-bridge")

CONNECT_STR = [  # virDomainPCIAddressFlagsCompatible error wording, in its test order
    (T_PCI_DEVICE, "standard PCI device"), (T_PCIE_DEVICE, "PCI Express device"),
    (T_PCIE_ROOT_PORT, "pcie-root-port"), (T_PCIE_SWITCH_UPSTREAM_PORT, "pcie-switch-upstream-port"),
    (T_PCIE_SWITCH_DOWNSTREAM_PORT, "pcie-switch-downstream-port"),
    (T_DMI_TO_PCI_BRIDGE, "dmi-to-pci-bridge"), (T_PCIE_TO_PCI_BRIDGE, "pcie-to-pci-bridge"),
    (T_PCI_EXPANDER_BUS, "pci-expander-bus"), (T_PCIE_EXPANDER_BUS, "pcie-expander-bus"),
    (T_PCI_BRIDGE, "pci-bridge"),
]

CONTROLLER_CONNECT = {  # virDomainPCIControllerModelToConnectType
    "pci-bridge": T_PCI_BRIDGE, "pci-expander-bus": T_PCI_EXPANDER_BUS,
    "pcie-expander-bus": T_PCIE_EXPANDER_BUS, "dmi-to-pci-bridge": T_DMI_TO_PCI_BRIDGE,
    "pcie-to-pci-bridge": T_PCIE_TO_PCI_BRIDGE, "pcie-root-port": T_PCIE_ROOT_PORT | AGGREGATE_SLOT,
    "pcie-switch-upstream-port": T_PCIE_SWITCH_UPSTREAM_PORT,
    "pcie-switch-downstream-port": T_PCIE_SWITCH_DOWNSTREAM_PORT,
}


# virDomainPCIAddressBusSetModel: model -> (connect flags, takes HOTPLUGGABLE, min slot, max slot);
# a table built once, as the C switch is (it was rebuilt per call: measurable in the address pass)
_BUS_MODELS: dict[str, tuple[int, bool, int, int]] = {
    "pci-root": (AUTOASSIGN | T_PCI_DEVICE | T_PCI_BRIDGE | T_PCI_EXPANDER_BUS, True, 1, SLOT_LAST),
    "pci-bridge": (AUTOASSIGN | T_PCI_DEVICE | T_PCI_BRIDGE, True, 1, SLOT_LAST),
    "pci-expander-bus": (AUTOASSIGN | T_PCI_DEVICE | T_PCI_BRIDGE, True, 0, SLOT_LAST),
    "pcie-root": (T_PCIE_DEVICE | T_PCIE_ROOT_PORT | T_DMI_TO_PCI_BRIDGE | T_PCIE_EXPANDER_BUS,
                  False, 1, SLOT_LAST),
    "dmi-to-pci-bridge": (T_PCI_DEVICE | T_PCI_BRIDGE, False, 0, SLOT_LAST),
    "pcie-to-pci-bridge": (AUTOASSIGN | T_PCI_DEVICE | T_PCI_BRIDGE, True, 1, SLOT_LAST),
    "pcie-root-port": (AUTOASSIGN | T_PCIE_DEVICE | T_PCIE_SWITCH_UPSTREAM_PORT | T_PCIE_TO_PCI_BRIDGE,
                       True, 0, 0),
    "pcie-switch-downstream-port": (AUTOASSIGN | T_PCIE_DEVICE | T_PCIE_SWITCH_UPSTREAM_PORT
                                    | T_PCIE_TO_PCI_BRIDGE, True, 0, 0),
    "pcie-switch-upstream-port": (T_PCIE_SWITCH_DOWNSTREAM_PORT, False, 0, SLOT_LAST),
    "pcie-expander-bus": (T_PCIE_ROOT_PORT | T_DMI_TO_PCI_BRIDGE, False, 0, SLOT_LAST),
}


class Bus:
    """virDomainPCIAddressBus: per-slot function bitmaps (a plain slotted class: two address
    sets with a few buses each are built per definition)."""

    __slots__ = ("model", "flags", "min_slot", "max_slot", "functions", "aggregate")

    def __init__(self) -> None:
        self.model: str | None = None
        self.flags = 0
        self.min_slot = 0
        self.max_slot = 0
        self.functions = [0] * (SLOT_LAST + 1)
        self.aggregate = [False] * (SLOT_LAST + 1)

    def set_model(self, model: str, hotplug: bool) -> None:
        """virDomainPCIAddressBusSetModel."""
        flags, takes_hp, self.min_slot, self.max_slot = _BUS_MODELS[model]
        self.flags = flags | HOTPLUGGABLE if takes_hp and hotplug else flags
        self.model = model

    def fully_reserved(self) -> bool:
        return all(self.functions[self.min_slot:self.max_slot + 1])

    def empty(self) -> bool:
        return not any(self.functions[self.min_slot:self.max_slot + 1])


class AddrSet:
    """virDomainPCIAddressSet (isolation groups are always 0 in the modelled vocabulary)."""

    def __init__(self, nbuses: int, dry_run: bool, multiple_roots: bool, pcie_to_pci: bool) -> None:
        self.buses = [Bus() for _ in range(nbuses)]
        self.dry_run = dry_run
        self.multiple_roots = multiple_roots
        self.pcie_to_pci_supported = pcie_to_pci
        self.zpci = False
        # the bus word of "a %s slot is needed to connect a PCI controller model=..." per model
        # (profile table pci_slot_needed_bus; None: the build's text for that model is unknown)
        self.slot_needed_bus: dict = {"*": "PCI"}
        self.connect_bits: list = list(CONNECT_BIT_NAMES)  # profile table pci_connect_flag_bits
        # the device connect types a new pcie-root-port is added for (profile pci_grow_root_port_for)
        self.root_port_for = T_PCIE_DEVICE | T_PCIE_SWITCH_UPSTREAM_PORT
        self.uids: set[int] = set()
        self.fids: set[int] = set()
        # profile switch pci_bus_autoadd: "bridge-chain" (libvirt >= 3.x: a dmi-to-pci-bridge or a
        # pcie-root-port + pcie-to-pci-bridge first where needed, pci-root on pSeries), or
        # "pci-bridge-only" (<= 2.2.0 virDomainPCIAddressSetGrow: pci-bridges for standard PCI
        # devices, an error for anything else)
        self.bus_autoadd = "bridge-chain"

    def zpci_ensure(self, a: PCIAddr) -> None:
        """virDomainZPCIAddressEnsureAddr: assign missing uid (from 1) / fid (from 0), reserve."""
        uid, fid = a.zpci_uid, a.zpci_fid
        if uid is None:
            uid = 1
            while uid in self.uids:
                if uid == 0xFFFF:
                    raise LibvirtError("INTERNAL_ERROR", "There is no more free uid.")
                uid += 1
        if fid is None:
            fid = 0
            while fid in self.fids:
                if fid == 0xFFFFFFFF:
                    raise LibvirtError("INTERNAL_ERROR", "There is no more free fid.")
                fid += 1
        if uid in self.uids:
            raise LibvirtError("INTERNAL_ERROR", f"zPCI uid {uid:o} is already reserved")
        if fid in self.fids:
            raise LibvirtError("INTERNAL_ERROR", f"zPCI fid {fid:o} is already reserved")
        self.uids.add(uid)
        self.fids.add(fid)
        a.zpci_uid, a.zpci_fid = uid, fid

    # -- virDomainPCIAddressFlagsCompatible
    def compatible(self, addr: PCIAddr, bus_flags: int, dev_flags: int, report: bool,
                   from_config: bool) -> bool:
        code = "XML_ERROR" if from_config else "INTERNAL_ERROR"
        s = addr  # formatted (virPCIDeviceAddressAsString) only when an error is raised
        if dev_flags & INTEGRATED:
            if addr.bus == 0:
                bus_flags |= AUTOASSIGN
            else:
                if report:
                    raise LibvirtError(code, f"The device at PCI address {s} needs to be an "
                                       "integrated device (bus=0)")
                return False
        if from_config:
            if bus_flags & TYPES_ENDPOINT:
                bus_flags |= TYPES_ENDPOINT
            if dev_flags & T_PCI_BRIDGE:
                dev_flags |= T_PCI_DEVICE
        elif (dev_flags & AUTOASSIGN) and not (bus_flags & AUTOASSIGN):
            if report:
                raise LibvirtError(code, f"The device at PCI address {s} was auto-assigned this "
                                   f"address, but the PCI controller with index='{addr.bus}' doesn't "
                                   "allow auto-assignment")
            return False
        if (dev_flags & HOTPLUGGABLE) and not (bus_flags & HOTPLUGGABLE):
            if report:
                raise LibvirtError(code, f"The device at PCI address {s} requires hotplug "
                                   f"capability, but the PCI controller with index='{addr.bus}' "
                                   "doesn't support hotplug")
            return False
        if not (dev_flags & bus_flags & TYPES_MASK):
            if not report:
                return False
            for bit, what in CONNECT_STR:
                if dev_flags & bit:
                    raise LibvirtError(code, f"The device at PCI address {s} cannot be plugged "
                                       f"into the PCI controller with index='{addr.bus}'. It "
                                       f"requires a controller that accepts a {what}.")
            raise OracleUnsupported("device with unknown PCI connect flags")
        return True

    # -- virDomainPCIAddressValidate
    def validate(self, addr: PCIAddr, flags: int, from_config: bool) -> None:
        code = "XML_ERROR" if from_config else "INTERNAL_ERROR"
        s = addr  # formatted only when an error is raised
        if not self.buses:
            raise LibvirtError(code, "No PCI buses available")
        if addr.domain != 0:
            raise LibvirtError(code, f"Invalid PCI address {s}. Only PCI domain 0 is available")
        if addr.bus >= len(self.buses):
            raise LibvirtError(code, f"Invalid PCI address {s}. Only PCI buses up to "
                               f"{len(self.buses) - 1} are available")
        bus = self.buses[addr.bus]
        self.compatible(addr, bus.flags, flags, True, from_config)
        if bus.min_slot and addr.slot < bus.min_slot:
            raise LibvirtError(code, f"Invalid PCI address {s}. slot must be >= {bus.min_slot}")
        if addr.slot > bus.max_slot:
            raise LibvirtError(code, f"Invalid PCI address {s}. slot must be <= {bus.max_slot}")
        if addr.function > 7:
            raise LibvirtError(code, f"Invalid PCI address {s}. function must be <= 7")

    # -- virDomainPCIAddressSetGrow
    def grow(self, addr: PCIAddr, flags: int) -> None:
        add = addr.bus - len(self.buses) + 1
        if add <= 0:
            return
        need_dmi = need_pcie_to_pci = False
        if self.bus_autoadd == "pci-bridge-only":
            if any(b.model == "pcie-root" for b in self.buses):
                # v2.2.0 places the auto-added pci-bridge itself by flags that pcie-root has no
                # slot for (virDomainPCIAddressBusSetModel); what that release then did on ARM
                # virt is not modelled: declined rather than given today's bridge chain
                raise OracleUnsupported("libvirt <= 2.2.0 adding a PCI bus on a PCIe root "
                                        "(virDomainPCIAddressSetGrow) is not modelled")
            if not flags & T_PCI_DEVICE:
                raise LibvirtError("INTERNAL_ERROR", "Cannot automatically add a new PCI bus for a device "
                                   "requiring a slot other than standard PCI.")
            model = "pci-bridge"
        elif flags & T_PCI_DEVICE:
            if self.multiple_roots:
                model = "pci-root"
            else:
                model = "pci-bridge"
                need_dmi = need_pcie_to_pci = not any(b.flags & T_PCI_BRIDGE for b in self.buses)
                if self.pcie_to_pci_supported:
                    need_dmi = False
                else:
                    need_pcie_to_pci = False
                if (need_dmi or need_pcie_to_pci) and add == 1:
                    add += 1
                    addr.bus += 1
        elif flags & self.root_port_for:
            model = "pcie-root-port"
        else:
            # virDomainPCIControllerConnectTypeToModel: only some connect types name a model
            for bit, name in ((T_PCIE_ROOT_PORT, "pcie-root-port"),
                              (T_PCIE_SWITCH_UPSTREAM_PORT, "pcie-switch-upstream-port"),
                              (T_PCIE_SWITCH_DOWNSTREAM_PORT, "pcie-switch-downstream-port"),
                              (T_DMI_TO_PCI_BRIDGE, "dmi-to-pci-bridge"),
                              (T_PCI_EXPANDER_BUS, "pci-expander-bus"),
                              (T_PCIE_EXPANDER_BUS, "pcie-expander-bus"), (T_PCI_BRIDGE, "pci-bridge")):
                if flags & bit:
                    word = self.slot_needed_bus.get(name, self.slot_needed_bus.get("*"))
                    if word is None:
                        raise OracleUnsupported(f"this build's text for a missing slot for {name}")
                    raise LibvirtError("INTERNAL_ERROR", f"a {word} slot is needed to connect a PCI "
                                       f"controller model='{name}', but none is available, and it "
                                       "cannot be automatically added")
            printed = sum(1 << self.connect_bits.index(name) for bit, name in enumerate(CONNECT_BIT_NAMES)
                          if flags & (1 << bit))
            raise LibvirtError("INTERNAL_ERROR", "Cannot automatically add a new PCI bus for a device "
                               f"with connect flags {printed:02x}")
        new = [Bus() for _ in range(add)]
        self.buses.extend(new)
        i = 0
        if need_dmi:
            new[i].set_model("dmi-to-pci-bridge", False)
            i += 1
        if need_pcie_to_pci:
            new[i].set_model("pcie-root-port", True)
            new[i].flags = T_PCIE_TO_PCI_BRIDGE
            i += 1
            new[i].set_model("pcie-to-pci-bridge", True)
            i += 1
        for b in new[i:]:
            b.set_model(model, True)

    # -- virDomainPCIAddressReserveAddrInternal
    def reserve(self, addr: PCIAddr, flags: int, from_config: bool = True) -> None:
        if self.dry_run and addr.bus >= len(self.buses):  # grow() would add buses
            self.grow(addr, flags)
        self.validate(addr, flags, from_config)
        self._take(addr, flags, from_config)

    def _take(self, addr: PCIAddr, flags: int, from_config: bool) -> None:
        """The reservation proper, on a validated address."""
        bus = self.buses[addr.bus]
        used = bus.functions[addr.slot]
        if used & (1 << addr.function):
            raise LibvirtError("XML_ERROR" if from_config else "INTERNAL_ERROR",
                               f"Attempted double use of PCI Address {addr}")
        if not used and flags & AGGREGATE_SLOT:
            bus.aggregate[addr.slot] = True
        bus.functions[addr.slot] = used | 1 << addr.function

    def slot_in_use(self, addr: PCIAddr) -> bool:
        return bool(self.buses[addr.bus].functions[addr.slot])

    # -- virDomainPCIAddressFindUnusedFunctionOnBus
    def _find_on_bus(self, bus: Bus, a: PCIAddr, function: int, flags: int) -> bool:
        if not self.compatible(a, bus.flags, flags, False, False):
            return False
        if not flags & AGGREGATE_SLOT:
            # only a slot with no function in use will do: list.index is that scan, in C
            try:
                a.slot = bus.functions.index(0, a.slot, bus.max_slot + 1)
            except ValueError:
                return False
            return True
        while a.slot <= bus.max_slot:
            if bus.functions[a.slot] == 0:
                return True
            if flags & AGGREGATE_SLOT and bus.aggregate[a.slot]:
                if not bus.functions[a.slot] & (1 << a.function):
                    return True
                if function == -1:
                    while a.function < 8:
                        if not bus.functions[a.slot] & (1 << a.function):
                            return True
                        a.function += 1
                    a.function = 0
            a.slot += 1
        return False

    # -- virDomainPCIAddressGetNextAddr
    def next_addr(self, flags: int, function: int) -> PCIAddr:
        return self._next_addr(flags, function)[0]

    def _next_addr(self, flags: int, function: int) -> tuple[PCIAddr, bool]:
        """next_addr, and whether the address was found on an existing bus (False: on a bus the
        dry run just added)."""
        if not self.buses:
            raise LibvirtError("XML_ERROR", "No PCI buses available")
        a = PCIAddr(function=0 if function == -1 else function)
        for b, bus in enumerate(self.buses):
            a.bus = b
            a.slot = bus.min_slot
            if self._find_on_bus(bus, a, function, flags):
                return a, True
        for b, bus in enumerate(self.buses):
            if not bus.empty():
                continue
            a.bus = b
            a.slot = bus.min_slot
            if self._find_on_bus(bus, a, function, flags):
                return a, True
        if self.dry_run:
            a.bus = len(self.buses)
            self.grow(a, flags)
            a.slot = self.buses[a.bus].min_slot
            return a, False
        raise LibvirtError("INTERNAL_ERROR", "No more available PCI slots")

    # -- virDomainPCIAddressReserveNextAddr
    def reserve_next(self, info: Info, function: int = -1) -> PCIAddr:
        a, found = self._next_addr(info.pci_flags, function)
        if found:
            # virDomainPCIAddressValidate cannot fail here: the search only returns an address
            # in domain 0 on an existing bus, with the same compatibility test, within the
            # bus's slot range and with the function free -- so only the reservation is done
            self._take(a, info.pci_flags, False)
        else:
            self.reserve(a, info.pci_flags, from_config=False)
        if not self.dry_run:
            info.type = "pci"
            info.pci = PCIAddr(a.domain, a.bus, a.slot, a.function)
        return a


def _present(info: Info) -> bool:
    """virDeviceInfoPCIAddressIsPresent."""
    return info.type == "pci" and info.pci is not None and \
        bool(info.pci.domain or info.pci.bus or info.pci.slot)


def _wanted(info: Info) -> bool:
    """virDeviceInfoPCIAddressIsWanted."""
    return info.type is None or (info.type == "pci" and not _present(info))


def has_pcie_root(dom: Domain) -> bool:
    return any(c.type == "pci" and c.idx == 0 and c.model == "pcie-root" for c in dom.controllers)


def has_pci_root(dom: Domain) -> bool:
    return any(c.type == "pci" and c.idx == 0 and c.model == "pci-root" for c in dom.controllers)


USB2_MODELS = ("ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3")
PCI_USB = ("piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3",
           "vt82c686b-uhci", "pci-ohci")


def _flag_kinds(dom: Domain, caps: CapSet) -> tuple[int, int, int]:
    """The (PCI, PCIe, virtio) device flags of qemuDomainDeviceCalculatePCIConnectFlags: they
    depend on the domain and capabilities only, so a pass over all devices computes them once."""
    pci_flags = T_PCI_DEVICE | AUTOASSIGN
    pcie_flags = (T_PCIE_DEVICE if has_pcie_root(dom) else T_PCI_DEVICE) | AUTOASSIGN
    virtio_flags = pcie_flags if caps.has("virtio-pci-non-transitional") else pci_flags
    return pci_flags, pcie_flags, virtio_flags


def _connect_flags(dom: Domain, caps: CapSet, dev: object,
                   kinds: tuple[int, int, int] | None = None) -> int:
    """qemuDomainDeviceCalculatePCIConnectFlags for the modelled devices."""
    pci_flags, pcie_flags, virtio_flags = kinds or _flag_kinds(dom, caps)
    if isinstance(dev, Controller):
        if dev.type == "pci":
            return CONTROLLER_CONNECT.get(dev.model or "", 0)
        if dev.type == "sata":
            return pci_flags
        if dev.type == "usb":
            if dev.model is None or dev.model in PCI_USB:
                return pci_flags
            if dev.model in ("nec-xhci", "qemu-xhci"):
                return pcie_flags
            return 0
        return 0
    if isinstance(dev, Input):
        return virtio_flags if dev.bus == "virtio" else 0
    # memballoon
    model = dev.model
    if model == "virtio-transitional":
        return pci_flags
    if model in ("virtio", "virtio-non-transitional"):
        return virtio_flags
    return 0


def _fill_flags(dom: Domain, caps: CapSet) -> None:
    kinds = _flag_kinds(dom, caps)
    for c in dom.controllers:
        c.info.pci_flags = _connect_flags(dom, caps, c, kinds)
    for i in dom.inputs:
        i.info.pci_flags = _connect_flags(dom, caps, i, kinds)
    if dom.memballoon is not None:
        dom.memballoon.info.pci_flags = _connect_flags(dom, caps, dom.memballoon, kinds)


def _pci_devices(dom: Domain) -> list[tuple[str, object]]:
    """Devices in virDomainDeviceInfoIterate order (controllers, inputs, memballoon)."""
    out: list[tuple[str, object]] = [("controller", c) for c in dom.controllers]
    out += [("input", i) for i in dom.inputs if i.bus == "virtio"]
    if dom.memballoon is not None and dom.memballoon.model != "none":
        out.append(("memballoon", dom.memballoon))
    return out


def _create_set(dom: Domain, caps: CapSet, nbuses: int, dry_run: bool, prof: Profile) -> AddrSet:
    """qemuDomainPCIAddressSetCreate."""
    addrs = AddrSet(nbuses, dry_run, is_pseries(dom), caps.has("pcie-pci-bridge"))
    addrs.bus_autoadd = prof.rule("pci_bus_autoadd")
    addrs.connect_bits = prof.data["pci_connect_flag_bits"]
    addrs.root_port_for = sum(1 << CONNECT_BIT_NAMES.index(n) for n in prof.data["pci_grow_root_port_for"])
    addrs.zpci = caps.has("zpci") and prof.rule("s390_zpci_root")  # the eras know no zPCI (profile switch)
    pcie_root = False
    for c in dom.controllers:
        if c.type != "pci":
            continue
        if c.idx >= nbuses:
            raise LibvirtError("INTERNAL_ERROR", f"Inappropriate new pci controller index {c.idx} "
                               "exceeds addrs array length")
        addrs.buses[c.idx].set_model(c.model, c.hotplug != "off")
        if c.model == "pcie-root":
            pcie_root = True
    if nbuses > 0 and addrs.buses[0].model is None:
        addrs.buses[0].set_model("pci-root", True)
    default = "pci-root" if is_pseries(dom) else ("pcie-root-port" if pcie_root else "pci-bridge")
    for b in addrs.buses[1:]:
        if b.model is None:
            b.set_model(default, True)
    # qemuDomainCollectPCIAddress
    for _kind, dev in _pci_devices(dom):
        info: Info = dev.info
        if not _present(info):
            continue
        if not info.pci_flags:
            info.pci_flags = T_PCI_DEVICE
        a = info.pci
        if isinstance(dev, Controller) and a.domain == 0 and a.bus == 0 and a.slot == 1 and \
                dev.type == "usb" and dev.idx == 0 and dev.model in (None, "piix3-uhci") and a.function == 2:
            if addrs.buses and not addrs.buses[0].flags & T_PCI_DEVICE:
                raise LibvirtError("INTERNAL_ERROR",
                                   "Bus 0 must be PCI for integrated PIIX3 USB or IDE controllers")
            continue
        addrs.reserve(PCIAddr(a.domain, a.bus, a.slot, a.function), info.pci_flags)
    # qemuDomainCollectPCIAddressExtension: reserve zPCI ids given in the config
    if addrs.zpci:
        for _kind, dev in _pci_devices(dom):
            a = dev.info.pci
            if dev.info.type == "pci" and a is not None and \
                    (a.zpci_uid is not None or a.zpci_fid is not None):
                if dry_run:
                    addrs.zpci_ensure(PCIAddr(zpci_uid=a.zpci_uid, zpci_fid=a.zpci_fid))
                else:
                    addrs.zpci_ensure(a)
    return addrs


def _assign_extensions(dom: Domain, addrs: AddrSet) -> None:
    """qemuDomainAssignPCIAddressExtension: zPCI ids for PCI devices that lack them (the dry run
    computes but does not store them)."""
    if not addrs.zpci:
        return
    for _kind, dev in _pci_devices(dom):
        a = dev.info.pci
        if dev.info.type != "pci" or a is None:
            continue
        if a.zpci_uid is None or a.zpci_fid is None:
            tmp = PCIAddr(zpci_uid=a.zpci_uid, zpci_fid=a.zpci_fid)
            addrs.zpci_ensure(tmp)
            if not addrs.dry_run:
                a.zpci_uid, a.zpci_fid = tmp.zpci_uid, tmp.zpci_fid


def _validate_piix3(dom: Domain, addrs: AddrSet) -> None:
    """qemuDomainValidateDevicePCISlotsPIIX3."""
    flags = AUTOASSIGN | T_PCI_DEVICE
    for c in dom.controllers:
        if c.type == "usb" and c.idx == 0 and c.model in ("piix3-uhci", None):
            want = PCIAddr(0, 0, 1, 2)
            if _present(c.info):
                if c.info.pci.key() != want.key():
                    raise LibvirtError("INTERNAL_ERROR",
                                       "PIIX3 USB controller at index 0 must have PCI address 0:0:1.2")
            else:
                c.info.type = "pci"
                c.info.pci = want
            if addrs.buses:
                addrs.reserve(PCIAddr(0, 0, 1, 2), flags)
    if addrs.buses:
        addrs.reserve(PCIAddr(0, 0, 1, 0), flags)
        addrs.reserve(PCIAddr(0, 0, 1, 3), flags)


def _validate_q35(dom: Domain, addrs: AddrSet) -> None:
    """qemuDomainValidateDevicePCISlotsQ35."""
    flags = T_PCIE_DEVICE
    for c in dom.controllers:
        if c.type == "sata" and c.idx == 0:
            want = PCIAddr(0, 0, 0x1F, 2)
            if _present(c.info):
                if c.info.pci.key() != want.key():
                    raise LibvirtError("INTERNAL_ERROR",
                                       "Primary SATA controller must have PCI address 0:0:1f.2")
            else:
                c.info.type = "pci"
                c.info.pci = want
        elif c.type == "usb" and c.model == "ich9-uhci1" and c.info.type is None:
            for slot in (0x1D, 0x1A):
                tmp = PCIAddr(0, 0, slot, 0)
                if not addrs.slot_in_use(tmp):
                    addrs.reserve(tmp, flags)
                    c.info.type = "pci"
                    c.info.pci = PCIAddr(0, 0, slot, 0, "on")
                    break
        elif c.type == "pci" and c.model == "dmi-to-pci-bridge" and c.info.type is None:
            tmp = PCIAddr(0, 0, 0x1E, 0)
            if not addrs.slot_in_use(tmp):
                addrs.reserve(tmp, flags)
                c.info.type = "pci"
                c.info.pci = PCIAddr(0, 0, 0x1E, 0)
    if addrs.buses:
        addrs.reserve(PCIAddr(0, 0, 0x1F, 0, "on"), flags)
        addrs.reserve(PCIAddr(0, 0, 0x1F, 3), flags)


def _validate_chipsets(dom: Domain, addrs: AddrSet) -> None:
    """qemuDomainValidateDevicePCISlotsChipsets."""
    if is_i440fx(dom):
        _validate_piix3(dom, addrs)
    elif is_q35(dom):
        _validate_q35(dom, addrs)


def _assign_slots(dom: Domain, addrs: AddrSet) -> None:
    """qemuDomainAssignDevicePCISlots for controllers and the memballoon."""
    for c in dom.controllers:
        if c.type == "pci" and c.model not in ("pci-root", "pcie-root") and _wanted(c.info):
            addrs.reserve_next(c.info)
    for c in dom.controllers:
        if c.type == "pci":
            continue
        if c.type == "usb" and c.model == "none":
            continue
        if not _wanted(c.info):
            continue
        if c.type == "usb" and c.model in USB2_MODELS:
            found = None
            for o in dom.controllers:
                if o.type == "usb" and o.model in USB2_MODELS and o.idx == c.idx and _present(o.info):
                    found = o.info.pci
                    break
            func, multi = {"ich9-ehci1": (7, None), "ich9-uhci1": (0, "on"),
                           "ich9-uhci2": (1, None), "ich9-uhci3": (2, None)}[c.model]
            if found is not None:
                a = PCIAddr(found.domain, found.bus, found.slot, func, multi)
                addrs.reserve(a, c.info.pci_flags)
                c.info.type = "pci"
                c.info.pci = a
            else:
                addrs.reserve_next(c.info, func)
                if c.info.pci is not None and not addrs.dry_run:
                    c.info.pci.multi = multi
        else:
            addrs.reserve_next(c.info)
    mb = dom.memballoon
    if mb is not None and mb.model != "none" and _wanted(mb.info):
        addrs.reserve_next(mb.info)
    for i in dom.inputs:
        if i.bus == "virtio" and _wanted(i.info):
            addrs.reserve_next(i.info)


def _set_all_multi(dom: Domain) -> None:
    """virDomainPCIAddressSetAllMulti: function 0 of a multi-function slot gets multifunction='on'."""
    infos = [dev.info for _k, dev in _pci_devices(dom)]
    for t in infos:
        if t.type != "pci" or t.pci is None or t.pci.function == 0:
            continue
        for o in infos:
            if o.type == "pci" and o.pci is not None and o.pci.domain == t.pci.domain and \
                    o.pci.bus == t.pci.bus and o.pci.slot == t.pci.slot and o.pci.function == 0:
                if o.pci.multi is None:
                    o.pci.multi = "on"
                break


def _supports_pci(dom: Domain, caps: CapSet) -> bool:
    """qemuDomainSupportsPCI."""
    if dom.arch not in ("armv7l", "aarch64") and not dom.arch.startswith("riscv"):
        return True
    m = dom.machine or ""
    if m == "versatilepb":
        return True
    return (m == "virt" or m.startswith("virt-")) and caps.has("gpex-pcihost")


def assign_s390_ccw(dom: Domain) -> None:
    """qemuDomainAssignS390Addresses: on s390-ccw, address-less virtio devices become CCW
    (qemuDomainPrimeVirtioDeviceAddresses), then devnos 0xfe.0.N are handed out in device
    iteration order (inputs before the memballoon), skipping devnos already in the config."""
    if not dom.arch.startswith("s390"):
        return
    devs: list[Info] = [i.info for i in dom.inputs if i.bus == "virtio"]
    mb = dom.memballoon
    if mb is not None and mb.model != "none":
        devs.append(mb.info)
    for info in devs:
        if info.type is None:
            info.type = "ccw"
    used = {info.ccw for info in devs if info.type == "ccw" and info.ccw is not None}
    nxt = 0
    for info in devs:
        if info.type == "ccw" and info.ccw is None:
            while (0xFE, 0, nxt) in used:
                nxt += 1
            info.ccw = (0xFE, 0, nxt)
            used.add(info.ccw)


def assign_virtio_mmio(dom: Domain, caps: CapSet) -> None:
    """qemuDomainAssignVirtioMMIOAddresses: on ARM/RISC-V virt, address-less virtio devices go
    to PCI when a pcie-root and root ports are available (and no device asked for virtio-mmio),
    else to virtio-mmio."""
    if dom.arch not in ("armv6l", "armv7l", "aarch64") and not dom.arch.startswith("riscv"):
        return
    m = dom.machine or ""
    if not (m.startswith("vexpress-") or is_arm_virt(dom) or is_riscv_virt(dom)):
        return
    infos = [i.info for i in dom.inputs if i.bus == "virtio"]
    if dom.memballoon is not None and dom.memballoon.model != "none":
        infos.append(dom.memballoon.info)
    has_mmio = any(i.type == "virtio-mmio" for i in infos)
    if has_pcie_root(dom) and (caps.has("pcie-root-port") or caps.has("ioh3420")) and not has_mmio:
        kind = "pci"
    elif caps.has("virtio-mmio"):
        kind = "virtio-mmio"
    else:
        return
    for info in infos:
        if info.type is None:
            info.type = kind


def assign_pci(dom: Domain, caps: CapSet, prof: Profile) -> None:
    """qemuDomainAssignPCIAddresses."""
    max_idx = max((c.idx for c in dom.controllers if c.type == "pci"), default=-1)
    nbuses = max_idx + 1
    _fill_flags(dom, caps)
    if nbuses > 0:
        addrs = _create_set(dom, caps, nbuses, True, prof)
        addrs.slot_needed_bus = prof.data["pci_slot_needed_bus"]
        _validate_chipsets(dom, addrs)
        if has_pci_root(dom):
            if not all(b.fully_reserved() for b in addrs.buses):
                addrs.reserve_next(Info(pci_flags=AUTOASSIGN | T_PCI_DEVICE))
        _assign_slots(dom, addrs)
        _assign_extensions(dom, addrs)
        if max_idx <= 0 and len(addrs.buses) > max_idx + 1 and has_pcie_root(dom):
            addrs.reserve_next(Info(pci_flags=AUTOASSIGN | T_PCIE_DEVICE))
        # reflect auto-added buses into the controller list
        for i in range(1, len(addrs.buses)):
            bus = addrs.buses[i]
            if any(c.type == "pci" and c.idx == i for c in dom.controllers):
                continue
            c = Controller("pci", i, bus.model)
            add_controller(dom, c, prof)  # virDomainDefAddController (appends, or inserts: profile)
            c.info.pci_flags = _connect_flags(dom, caps, c)
            if bus.model not in ("pci-root", "pcie-root"):
                addrs.reserve_next(c.info)
        nbuses = len(addrs.buses)
    addrs = _create_set(dom, caps, nbuses, False, prof)
    addrs.slot_needed_bus = prof.data["pci_slot_needed_bus"]
    if not _supports_pci(dom, caps):
        return
    _validate_chipsets(dom, addrs)
    _assign_slots(dom, addrs)
    _assign_extensions(dom, addrs)
    _set_all_multi(dom)
    names = prof.data["pci_model_names"]
    for c in dom.controllers:
        if c.type != "pci":
            continue
        if c.model_name is None:
            if c.model == "pcie-root-port":
                c.model_name = "pcie-root-port" if caps.has("pcie-root-port") else "ioh3420"
            elif c.model == "pci-root":
                c.model_name = "spapr-pci-host-bridge" if is_pseries(dom) else None
            else:
                c.model_name = names.get(c.model)
        a = c.info.pci
        if c.model == "pci-bridge" and c.chassis_nr is None:
            c.chassis_nr = c.idx
        elif c.model == "pcie-root-port":
            if c.chassis is None:
                c.chassis = c.idx
            if c.port is None:
                _, _, slot, function = _union_pci_view(c.info)
                c.port = (slot << 3) + function
        elif c.model == "pcie-switch-downstream-port":
            if c.chassis is None:
                c.chassis = c.idx
            if c.port is None:
                c.port = _union_pci_view(c.info)[2]
        elif c.model in ("pci-expander-bus", "pcie-expander-bus"):
            raise OracleUnsupported("expander buses (busNr assignment)")
        elif c.model == "pci-root" and is_pseries(dom):
            if c.target_index is None:
                if c.idx == 0:
                    c.target_index = 0
                else:
                    # qemuDomainAddressFindNewTargetIndex: lowest of 1..31 no PHB uses
                    used = {o.target_index for o in dom.controllers
                            if o.type == "pci" and o.model == "pci-root"}
                    free = [t for t in range(1, 32) if t not in used]
                    if not free:
                        raise LibvirtError("CONFIG_UNSUPPORTED", "No usable target index found for 0")
                    c.target_index = free[0]
        if c.model == "pci-bridge" and a is not None and c.idx <= a.bus:
            raise LibvirtError("CONFIG_UNSUPPORTED",
                               f"PCI controller at index {c.idx} (0x{c.idx:02x}) has "
                               f"bus='0x{a.bus:02x}', but index must be larger than bus")


def _union_pci_view(info) -> tuple[int, int, int, int]:
    """(domain, bus, slot, function) as libvirt reads ``info.addr.pci`` whatever the address type.

    qemuDomainAssignPCIAddresses (libvirt 9.0.0 src/qemu/qemu_domain_address.c) derives a root
    port's ``port`` from ``cont->info.addr.pci`` without checking the address type; ``addr`` is a
    C union, so a controller given ``<address type='usb' bus='B' port='P0.P1.P2'/>`` (accepted by
    the parser) gets slot=P1, function=P2 (virDomainDeviceUSBAddress is {bus, port[4]} and
    virPCIDeviceAddress {domain, bus, slot, function, ...}): measured, port='1' gives port='0x0'.
    """
    if info.type == "pci" and info.pci is not None:
        return info.pci.domain, info.pci.bus, info.pci.slot, info.pci.function
    if info.type == "usb":
        ports = (*info.usb_port, 0, 0, 0, 0)
        return info.usb_bus or 0, ports[0], ports[1], ports[2]
    if info.type is None:
        return 0, 0, 0, 0
    raise OracleUnsupported(f"a PCI controller with an address of type {info.type!r}")
