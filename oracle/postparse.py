"""Post-parse defaults of the QEMU driver (libvirt 9.0.0), in the order libvirt runs them.

Order (src/conf/domain_postparse.c virDomainDefPostParse): basic callback (emulator), controller
index assignment, qemuDomainDefPostParse (default devices, machine canonicalisation, default CPU,
default features), per-device post-parse (controller/panic models), common post-parse (memory,
boot), then address assignment (oracle.pci, oracle.usb) -- see oracle.pipeline.
"""

from __future__ import annotations

from oracle.capsets import CapSet
from oracle.errors import LibvirtError, OracleUnsupported
from oracle.model import Audio, Controller, Cpu, Domain, Input, Memballoon, Panic, Watchdog, insert_controller
from oracle.profile import Profile

X86 = ("x86_64", "i686")


def is_q35(dom: Domain) -> bool:
    """qemuDomainIsQ35 (qemu_domain.c)."""
    m = dom.machine or ""
    return m == "q35" or m.startswith("pc-q35")


def is_i440fx(dom: Domain) -> bool:
    """qemuDomainIsI440FX (qemu_domain.c)."""
    m = dom.machine or ""
    return m == "pc" or m.startswith("pc-0.") or m.startswith("pc-1.") or m.startswith("pc-i440fx-")


def is_arm_virt(dom: Domain) -> bool:
    """qemuDomainIsARMVirt."""
    m = dom.machine or ""
    return dom.arch in ("armv7l", "aarch64") and (m == "virt" or m.startswith("virt-"))


def is_riscv_virt(dom: Domain) -> bool:
    m = dom.machine or ""
    return dom.arch in ("riscv32", "riscv64") and (m == "virt" or m.startswith("virt-"))


def is_pseries(dom: Domain) -> bool:
    m = dom.machine or ""
    return dom.arch in ("ppc64", "ppc64le") and (m == "pseries" or m.startswith("pseries-"))


def basic(dom: Domain, prof: Profile) -> None:
    """qemuDomainDefPostParseBasic: default emulator for the arch."""
    if dom.emulator is None:
        em = prof.data["emulators"].get(dom.arch)
        if em is None:
            raise OracleUnsupported(f"arch {dom.arch!r} has no modelled emulator")
        dom.emulator = em


USB2_MODELS = ("ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3")


def assign_controller_indexes(dom: Domain, prof: Profile | None = None) -> None:
    """virDomainAssignControllerIndexes (domain_postparse.c): an index-less controller gets the
    lowest unused index of its type -- except an ICH9 USB2 controller right after another USB2
    one, which joins that controller's index unless its model is already there."""
    reinsert = False
    for outer, c in enumerate(dom.controllers):
        if c.idx != -1:
            continue
        prev = None
        if outer > 0 and c.type == "usb" and c.model in USB2_MODELS:
            for o in reversed(dom.controllers[:outer]):
                if o.type == "usb":
                    prev = o
                    break
            if prev is not None and prev.model not in USB2_MODELS:
                prev = None
            if prev is not None and any(o.type == "usb" and o.idx == prev.idx and o.model == c.model
                                        for o in dom.controllers):
                prev = None
        if outer > 0 and c.type == "usb" and c.model in USB2_MODELS:
            reinsert = True
        if prev is not None:
            c.idx = prev.idx
            continue
        i = 0
        while any(o.type == c.type and o.idx == i for o in dom.controllers):
            i += 1
        c.idx = i
    if reinsert and prof is not None and prof.rule("usb2_index_reinsert"):
        # libvirt >= 10.x: "virDomainControllerInsert enforces an ordering of USB2 controllers
        # based on their master port ... we need to re-shuffle the controllers"
        ctrls, dom.controllers = dom.controllers, []
        for c in ctrls:
            insert_controller(dom, c)


def _find_controller(dom: Domain, ctype: str, idx: int) -> Controller | None:
    for c in dom.controllers:
        if c.type == ctype and c.idx == idx:
            return c
    return None


def _maybe_add_input(dom: Domain, itype: str, bus: str, prof: Profile) -> None:
    """virDomainDefMaybeAddInput: append unless one of that type+bus already exists.  Profile switch
    ``input_default_bus``: "parse" (virDomainInputDefParseXML fills in a missing bus), or
    "device-post-parse" (virDomainInputDefPostParse does, after this: an input without a bus is
    not of any bus yet)."""
    late = prof.rule("input_default_bus") == "device-post-parse"
    if not any(i.type == itype and i.bus == bus and not (late and i.bus_default) for i in dom.inputs):
        dom.inputs.append(Input(itype, bus))


def add_controller(dom: Domain, c: Controller, prof: Profile) -> None:
    """virDomainDefAddController: appended (rule "append", libvirt <= 9.0), or inserted in
    index order among its type (rule "insert": virDomainControllerInsert, libvirt >= 11.3)."""
    if prof.rule("implicit_controller_add") == "insert":
        insert_controller(dom, c)
    else:
        dom.controllers.append(c)


def add_usb_controller(dom: Domain, idx: int, model: str | None, prof: Profile) -> None:
    """virDomainDefAddUSBController: an ich9-ehci1 brings its three UHCI companions (each
    added first, its master port set afterwards, as libvirt does)."""
    add_controller(dom, Controller("usb", idx, model), prof)
    if model == "ich9-ehci1":
        for m, sp in (("ich9-uhci1", 0), ("ich9-uhci2", 2), ("ich9-uhci3", 4)):
            c = Controller("usb", idx, m)
            add_controller(dom, c, prof)
            c.info.master_startport = sp


def add_default_devices(dom: Domain, caps: CapSet, prof: Profile) -> None:
    """qemuDomainDefAddDefaultDevices (qemu_domain.c; qemu_postparse.c from libvirt 10.x).
    Profile switches: ``implicit_controller_add`` (see _add_controller), ``q35_itco_watchdog``
    (9.1.0+: q35 gets its built-in iTCO watchdog), ``default_audio`` (qemuDomainDefAddDefault
    AudioBackend, 8.x+), ``default_memballoon`` (the arches that get a virtio balloon)."""
    scope = prof.data.get("modelled_machines")
    if scope is not None:
        kind = ("i440fx" if dom.arch in X86 and is_i440fx(dom) else "pseries" if is_pseries(dom)
                else "arm-virt" if dom.arch == "aarch64" and is_arm_virt(dom)
                else "s390-ccw" if dom.arch == "s390x" and dom.machine.startswith("s390-ccw-virtio")
                else f"{dom.arch} {dom.machine}")
        if kind not in scope:
            raise OracleUnsupported(f"libvirt {prof.version} is modelled for {', '.join(scope)} only, not {kind}")
        if not prof.data["usb_models"] and (dom.hubs or dom.redirdevs or any(i.bus == "usb" for i in dom.inputs)):
            raise OracleUnsupported(f"USB devices in libvirt {prof.version} (-usbdevice) are not modelled")
    add_usb = True
    usb_model: str | None = None
    add_sata = add_pci_root = add_pcie_root = False
    add_balloon = True
    add_panic = add_itco = False
    if dom.arch in X86:
        _maybe_add_input(dom, "mouse", "ps2", prof)
        _maybe_add_input(dom, "keyboard", "ps2", prof)
    a = dom.arch
    if a in X86:
        if dom.machine == "isapc":
            add_usb = False
        elif is_q35(dom):
            add_pcie_root = add_sata = True
            add_itco = prof.rule("q35_itco_watchdog")
            if caps.has("qemu-xhci"):
                usb_model = "qemu-xhci"
            elif caps.has("nec-usb-xhci"):
                usb_model = "nec-xhci"
            elif caps.has("ich9-usb-ehci1"):
                usb_model = "ich9-ehci1"
            else:
                add_usb = False
        elif is_i440fx(dom):
            add_pci_root = True
    elif a in ("armv7l", "aarch64"):
        add_usb = add_balloon = False
        if is_arm_virt(dom):
            add_pcie_root = caps.has("gpex-pcihost")
    elif a in ("ppc64", "ppc64le"):
        add_pci_root = True
        add_panic = is_pseries(dom)
        # USB kbd/mouse are only added with graphics, which the oracle does not model
    elif a in ("riscv32", "riscv64"):
        add_usb = False
        if is_riscv_virt(dom):
            add_pcie_root = caps.has("gpex-pcihost")
    elif a in ("s390", "s390x"):
        add_usb = False
        # profile switches: the s390 panic device (qemuDomainDefAddDefaultDevices from v1.3.5) and a
        # pci-root for zPCI (not in the eras: their S390 case adds no PCI root)
        add_panic = prof.rule("s390_default_panic")
        add_pci_root = caps.has("zpci") and prof.rule("s390_zpci_root")
    else:
        raise OracleUnsupported(f"arch {a!r}")

    if a not in prof.data["default_memballoon_arches"]:
        add_balloon = False
    if add_usb and prof.rule("usb_autoadd") and _find_controller(dom, "usb", 0) is None:
        add_usb_controller(dom, 0, usb_model, prof)
    if add_sata and _find_controller(dom, "sata", 0) is None:
        add_controller(dom, Controller("sata", 0), prof)
    root = _find_controller(dom, "pci", 0)
    for want, model in ((add_pci_root, "pci-root"), (add_pcie_root, "pcie-root")):
        if not want:
            continue
        if root is not None:
            if root.model != model:
                raise LibvirtError(
                    "XML_ERROR",
                    f"The PCI controller with index='0' must be model='{model}' for this machine "
                    f"type, but model='{root.model}' was found instead")
        else:
            add_controller(dom, Controller("pci", 0, model), prof)
    if add_balloon and dom.memballoon is None:
        dom.memballoon = Memballoon("virtio")
    if add_panic:
        ok = False
        for p in dom.panics:
            if p.model is None or (a.startswith("ppc64") and p.model == "pseries") or \
                    (a.startswith("s390") and p.model == "s390"):
                ok = True
                break
        if not ok:
            dom.panics.append(Panic(None))
    if add_itco and not any(w.model == "itco" for w in dom.watchdogs):
        dom.watchdogs.append(Watchdog("itco", dom.watchdogs[0].action if dom.watchdogs else "reset"))
    # qemuDomainDefAddDefaultAudioBackend: no graphics -> one <audio type='none'/> (qemu.conf
    # nogfx_allow_host_audio defaults to off)
    if prof.rule("default_audio") and not dom.audios:
        dom.audios.append(Audio(1, "none"))


def canonicalize_machine(dom: Domain, caps: CapSet) -> None:
    """qemuCanonicalizeMachine: alias -> versioned machine name."""
    canon = caps.canonical_machine(dom.machine or "")
    if canon is not None:
        dom.machine = canon


def set_default_cpu(dom: Domain, caps: CapSet, prof: Profile) -> None:
    """qemuDomainDefSetDefaultCPU: custom model from the machine's defaultCPU (TCG)."""
    if dom.cpu is not None:
        return
    if dom.arch not in prof.data["cpu_arch_supported"]:
        return
    model = caps.default_cpu(dom.machine or "")
    if model is None:
        return
    dom.cpu = Cpu("custom", "exact", "none", model, "forbid")


def acpi_post_parse(dom: Domain, caps: CapSet, prof: Profile, abi_update: bool) -> None:
    """qemuDomainDefACPIPostParse (profile switch machine_acpi_check): a stored s390 definition
    (parsed without ABI_UPDATE) loses an <acpi/> its machine type does not support."""
    if prof.rule("machine_acpi_check") and not abi_update and "acpi" in dom.features and \
            dom.arch.startswith("s390") and caps.machine_acpi(dom.machine or "") == "no":
        dom.features.remove("acpi")


def enable_default_features(dom: Domain, caps: CapSet) -> None:
    """qemuDomainDefEnableDefaultFeatures: ARM virt always has a GIC; without KVM's host GIC
    information libvirt 9.0.0 picks version 2 for TCG."""
    if is_arm_virt(dom) and dom.gic_version is None:
        dom.gic_version = "2"


def controller_post_parse(dom: Domain, c: Controller, caps: CapSet, abi_update: bool, prof: Profile) -> None:
    """qemuDomainControllerDefPostParse (qemu_domain.c), USB and PCI parts."""
    if c.type == "usb":
        era_rule = prof.rule("usb_default_rule")
        if c.model is None and era_rule in ("none", "ppc-ohci-else-piix3"):
            # libvirt <= 2.1.0 ("none"): no model is chosen at parse time (the command line picks
            # one, oracle.layout); 2.2.0 (f55eaccb): pci-ohci on ppc64, piix3-uhci elsewhere
            if dom.arch.startswith("s390"):
                if c.info.type is None:
                    c.model = "none"
            elif era_rule == "ppc-ohci-else-piix3":
                if dom.arch.startswith("ppc64"):
                    c.model = "pci-ohci" if caps.has("pci-ohci") else None
                else:
                    c.model = "piix3-uhci" if caps.has("piix3-usb-uhci") else None
        if c.model is None and era_rule == "per-arch":
            c.model = _usb_default_per_arch(dom, c, caps, abi_update)
        if c.model is None and era_rule == "piix3-first":
            model = "piix3-uhci" if caps.has("piix3-usb-uhci") else None
            if dom.arch.startswith("s390"):
                if c.info.type is None:
                    model = "none"
            elif dom.arch.startswith("ppc64"):
                if abi_update and caps.has("qemu-xhci"):
                    model = "qemu-xhci"
                elif abi_update and caps.has("nec-usb-xhci"):
                    model = "nec-xhci"
                elif caps.has("pci-ohci"):
                    model = "pci-ohci"
                else:
                    model = None
            elif dom.arch == "aarch64":
                if caps.has("qemu-xhci"):
                    model = "qemu-xhci"
                elif caps.has("nec-usb-xhci"):
                    model = "nec-xhci"
            c.model = model
        if c.model == "none" and prof.rule("usb_none_drops_address"):
            c.info.type, c.info.pci = None, None  # "the 'none' USB controller doesn't have an address"
        if c.model in ("qusb1", "qusb2"):
            raise LibvirtError("CONFIG_UNSUPPORTED", "USB controller model type 'qusb1' or 'qusb2' "
                               f"is not supported in {dom.virt_type}")
        maxp = prof.data["xhci_maxports"]
        if c.model in ("nec-xhci", "qemu-xhci") and c.ports is not None and c.ports > maxp:
            raise LibvirtError("CONFIG_UNSUPPORTED",
                               f"'{c.model}' controller only supports up to '{maxp}' ports")
    elif c.type == "pci":
        if not is_pseries(dom) and c.model in ("pci-root", "pcie-root") and c.idx != 0:
            raise LibvirtError("XML_ERROR", "pci-root and pcie-root controllers should have index 0")
        if c.model is None:
            raise OracleUnsupported("pci controller without model")


def _usb_default_per_arch(dom: Domain, c: Controller, caps: CapSet, abi_update: bool) -> str | None:
    """qemuDomainDefaultUSBControllerModel (libvirt 11.9.0+, NEWS "Improvements to USB controller
    model selection"), as the 12.9.0 build behaves: x86 keeps piix3-uhci, s390 always gets 'none'
    (its address dropped: qemuDomainControllerDefPostParse), pSeries keeps its ABI_UPDATE rule,
    every other arch prefers qemu-xhci then nec-xhci.  An x86 machine (i440fx, q35) without
    piix3-usb-uhci gets no model: "Unable to determine model for USB controller idx=N" (seen on the
    build with --caps-del piix3-usb-uhci), and so does RISC-V virt without qemu-xhci (no nec-xhci
    fallback there; --caps-del qemu-xhci).  Other fallbacks were not observed on the build (its QEMU has
    qemu-xhci everywhere): declined."""
    a = dom.arch
    if a.startswith("s390"):
        return "none"
    if a in X86:
        if caps.has("piix3-usb-uhci"):
            return "piix3-uhci"
        # seen on the 12.9.0 build (--caps-del piix3-usb-uhci on pc and q35): no fallback model
        raise LibvirtError("INTERNAL_ERROR", f"Unable to determine model for USB controller idx={c.idx}")
    elif a.startswith("ppc64"):
        if abi_update and caps.has("qemu-xhci"):
            return "qemu-xhci"
        if abi_update and caps.has("nec-usb-xhci"):
            return "nec-xhci"
        if caps.has("pci-ohci"):
            return "pci-ohci"
    elif caps.has("qemu-xhci"):
        return "qemu-xhci"
    elif a == "riscv64":
        # seen on the 12.9.0 build (--caps-del qemu-xhci): RISC-V has no nec-xhci fallback
        raise LibvirtError("INTERNAL_ERROR", f"Unable to determine model for USB controller idx={c.idx}")
    elif caps.has("nec-usb-xhci"):
        return "nec-xhci"
    raise OracleUnsupported(f"default USB controller model for {a} without its usual devices")


def default_serial_target(dom: Domain) -> str | None:
    """qemuDomainChrDefPostParse: the serial target type a machine gets by default."""
    if dom.arch in X86:
        return "isa-serial"
    if is_pseries(dom):
        return "spapr-vio-serial"
    if is_arm_virt(dom) or is_riscv_virt(dom):
        return "system-serial"
    if dom.arch.startswith("s390"):
        return "sclp-serial"
    return None


def device_post_parse(dom: Domain, caps: CapSet, abi_update: bool, prof: Profile) -> None:
    """virDomainDefPostParseDeviceIterator -> qemuDomainDeviceDefPostParse for each device.

    Iteration order is virDomainDeviceInfoIterateInternal's: controllers come before inputs etc.;
    only controllers and panics have modelled effects here."""
    for c in dom.controllers:
        controller_post_parse(dom, c, caps, abi_update, prof)
    for i in dom.inputs:  # virDomainInputDefPostParse (the bus itself was filled in at parse)
        i.bus_default = False
    # qemuDomainChrDefPostParse: serial target type and model per machine
    for ser in dom.serials:
        explicit = ser.target_type
        if explicit == "isa-serial":  # historically the default: mapped back to "none" first
            explicit = ser.target_type = None
        if ser.target_type is None:
            ser.target_type = default_serial_target(dom)
            if ser.target_type is None:
                raise OracleUnsupported(f"serial on {dom.arch} {dom.machine}")
        default_model = {"isa-serial": "isa-serial", "spapr-vio-serial": "spapr-vty",
                         "sclp-serial": "sclpconsole",
                         "system-serial": "16550a" if dom.arch.startswith("riscv") else "pl011"}
        if ser.target_type not in default_model:
            raise OracleUnsupported(f"serial target type {ser.target_type!r}")
        if explicit is not None and explicit != default_serial_target(dom):
            # libvirt's validation of other combinations (qemuValidateDomainChrDef) is not modelled
            raise OracleUnsupported("serial target type other than the machine's default")
        if ser.model is None:
            ser.model = default_model[ser.target_type]
        if ser.model != default_model[ser.target_type]:
            raise OracleUnsupported("non-default serial target model")
    if is_pseries(dom):  # qemuDomainAssignSpaprVIOAddresses: reg 0x30000000 + n * 0x1000
        used = {s_.spapr_reg for s_ in dom.serials if s_.spapr_reg is not None}
        nxt = 0x30000000
        for ser in dom.serials:
            if ser.spapr_reg is None:
                while nxt in used:
                    nxt += 0x1000
                ser.spapr_reg = nxt
                used.add(nxt)
    elif any(s_.spapr_reg is not None for s_ in dom.serials):
        raise OracleUnsupported("spapr-vio address off pSeries")
    for r in dom.redirdevs:
        # tcp character devices default to the raw protocol (virDomainChrSourceDef parse)
        if r.type == "tcp" and r.protocol is None:
            r.protocol = "raw"
    for p in dom.panics:
        # qemuDomainPanicDefPostParse: default model per machine
        if p.model is None:
            if is_pseries(dom):
                p.model = "pseries"
            elif dom.arch.startswith("s390"):
                p.model = "s390"
            elif dom.arch in X86:
                p.model = "isa"
            else:
                raise OracleUnsupported(f"panic device on {dom.arch}")


def common_post_parse(dom: Domain) -> None:
    """virDomainDefPostParseCommon: currentMemory, default boot device, duplicate controllers."""
    if dom.memory == 0:
        raise LibvirtError("XML_ERROR", "Memory size must be specified via <memory> or in the <numa> "
                           "configuration")
    if dom.current_memory is None or dom.current_memory == 0 or dom.current_memory > dom.memory:
        dom.current_memory = dom.memory
    if not dom.boot_devs:
        dom.boot_devs = ["hd"]
    seen: set[tuple[str, int]] = set()
    for c in dom.controllers:
        if c.type == "usb":
            continue  # USB index clashes are reported by the USB address code
        k = (c.type, c.idx)
        if k in seen:
            raise LibvirtError("XML_ERROR", f"Multiple '{c.type}' controllers with index '{c.idx}'")
        seen.add(k)
