"""The guest layout: the USB and PCI-controller part of the QEMU command line libvirt builds for a
definition (``virConnectDomainXMLToNative("qemu-argv")``), in ``contract.guest_layout``'s format.

libvirt 9.0.0 (src/qemu/qemu_command.c): ``qemuBuildCommandLine`` adds the controllers first
(``qemuBuildControllersCommandLine``: PCI controllers, then USB controllers, each type in the
definition's controller order, skipping pci-root/pcie-root and model='none'; a USB controller
left without a model is skipped where the machine allows legacy USB), then
``qemuBuildLegacyUSBControllerCommandLine`` (``-usb`` when no USB controller produced a
``-device``, no 'none' controller exists, and the machine is not q35/ARM virt/RISC-V virt/s390),
then the hubs (``qemuBuildHubCommandLine``), the inputs (``qemuBuildInputCommandLine``) and the
redirected devices (``qemuBuildRedirdevCommandLine``).  Aliases come from
``qemuAssignDeviceAliases`` (src/qemu/qemu_alias.c): ``usb``/``usbN`` for USB controllers, ``pci.N``
for PCI ones, ``hubN``/``inputN``/``redirN`` by position; a user alias (``ua-...``) is kept.

Era profiles change two things through switches: ``usb_cmdline_default`` (what a USB controller
without a model becomes on the command line: ``legacy`` = ``-usb`` as above; ``piix3-device`` /
``ppc-ohci-both`` / ``ppc-ohci`` = the pre-2.2.0 choice made in ``qemuBuildUSBControllerDevStr``,
see the profiles' sources) and ``legacy_usb_machines`` (which machines never get ``-usb``).
"""

from __future__ import annotations

from typing import Any

from contract.guest_layout import placement
from oracle.capsets import CapSet
from oracle.errors import LibvirtError, OracleUnsupported
from oracle.model import Controller, Domain, Info
from oracle.pipeline import validate_usb_controller
from oracle.postparse import is_arm_virt, is_pseries, is_q35, is_riscv_virt
from oracle.profile import Profile

# QEMU device names of libvirt's USB controller models (qemuControllerModelUSBTypeToString)
USB_DRIVERS = {"piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "ehci": "usb-ehci",
               "ich9-ehci1": "ich9-usb-ehci1", "ich9-uhci1": "ich9-usb-uhci1", "ich9-uhci2": "ich9-usb-uhci2",
               "ich9-uhci3": "ich9-usb-uhci3", "vt82c686b-uhci": "vt82c686b-usb-uhci", "pci-ohci": "pci-ohci",
               "nec-xhci": "nec-usb-xhci", "qemu-xhci": "qemu-xhci"}
USB_COMPANIONS = ("ich9-uhci1", "ich9-uhci2", "ich9-uhci3")
INPUT_DRIVERS = {"mouse": "usb-mouse", "tablet": "usb-tablet", "keyboard": "usb-kbd"}


def _controller_alias(c: Controller) -> str:
    """qemuAssignDeviceControllerAlias."""
    if c.info.alias:
        return c.info.alias
    if c.type == "usb":
        return "usb" if c.idx == 0 else f"usb{c.idx}"
    if c.type == "pci":
        return f"pci.{c.idx}"
    raise OracleUnsupported(f"alias of a {c.type} controller")


def _pci_multibus(dom: Domain) -> bool:
    """virQEMUCapsHasPCIMultiBus (src/qemu/qemu_capabilities.c, 9.0.0): x86, PPC, s390 always;
    ARM and RISC-V only on their ``virt`` machines."""
    return dom.arch in ("i686", "x86_64", "ppc", "ppc64", "ppc64le", "s390", "s390x") \
        or is_arm_virt(dom) or is_riscv_virt(dom)


def _pci_bus(dom: Domain, bus: int) -> str:
    """qemuBuildDeviceAddressPCIGetBus (src/qemu/qemu_command.c, 9.0.0): the bus a PCI address
    names, by the controller's alias (the root bus of i440fx/pSeries is ``pci.0``, of q35/ARM virt
    ``pcie.0``). A user alias (``ua-...``) on a root bus QEMU builds in cannot reach QEMU, which
    never sees that controller on its command line: the default name is used instead (``pci.0``,
    or ``pci`` without multibus, for a non-pSeries pci-root; ``pcie.0`` for pcie-root). pSeries
    PHBs are put on the command line, so their user alias stands. Measured: golden
    define-x86_64-pc-alias-root gives ``bus=pci.0`` on 9.0.0."""
    for c in dom.controllers:
        if c.type == "pci" and c.idx == bus:
            if c.idx == 0 and c.model in ("pci-root", "pcie-root") and not c.info.alias:
                return "pcie.0" if c.model == "pcie-root" else "pci.0"
            if c.info.alias and c.info.alias.startswith("ua-"):
                if c.model == "pci-root" and not is_pseries(dom):
                    return "pci.0" if _pci_multibus(dom) else "pci"
                if c.model == "pcie-root":
                    return "pcie.0"
            return _controller_alias(c)
    raise OracleUnsupported(f"PCI address on bus {bus} without a controller")


def _add(props: dict[str, Any], key: str, value: Any) -> None:
    """virJSONValueObjectAdd (src/util/virjson.c, 9.0.0): a key the device's properties already
    have is refused, "duplicate key" (e.g. a pcie-root-port, whose own ``port`` is set, given a
    USB address, which adds ``port`` too)."""
    if key in props:
        raise LibvirtError("INTERNAL_ERROR", f"duplicate key '{key}'")
    props[key] = value


def _address(dom: Domain, info: Info, props: dict[str, Any]) -> None:
    """qemuBuildDeviceAddressProps (src/qemu/qemu_command.c, 9.0.0)."""
    if info.type == "pci" and info.pci is not None:
        _add(props, "bus", _pci_bus(dom, info.pci.bus))
        if info.pci.multi == "on":
            _add(props, "multifunction", True)
        elif info.pci.multi == "off":
            _add(props, "multifunction", False)
        _add(props, "addr", f"{info.pci.slot}.{info.pci.function}")
    elif info.type == "usb":
        usbc = next((c for c in dom.controllers if c.type == "usb" and c.idx == info.usb_bus), None)
        if usbc is None:
            raise OracleUnsupported(f"USB address on bus {info.usb_bus} without a controller")
        _add(props, "bus", f"{_controller_alias(usbc)}.0")
        _add(props, "port", ".".join(str(p) for p in info.usb_port))
    elif info.type is not None:
        raise OracleUnsupported(f"{info.type} address in the guest layout")


def _machine_and_cpu(dom: Domain, caps: CapSet) -> None:
    """What qemuBuildCommandLine refuses before it reaches any device, in its order: the machine
    (qemuAppendDomainFeaturesMachineParam, 9.0.0: GIC version 3 or host without QEMU's
    ``gic-version`` machine option; version 2 is QEMU's only GIC before the option existed, so it
    passes), then the CPU. Whether a CPU model can be put on the command line is decided by CPU
    model translation (qemuProcessUpdateGuestCPU, virCPUTranslate and the arch's CPU driver:
    "Unknown CPU model", "cannot translate CPU model"), outside the oracle's vocabulary: the layout
    of a domain with a CPU model other than the machine's default one (which libvirt's post-parse
    puts into every stored definition, qemuDomainSetDefaultCPU, and which QEMU reported) is
    declined, not guessed."""
    if dom.gic_version in ("3", "host") and not caps.has("gic-version"):
        raise LibvirtError("CONFIG_UNSUPPORTED", "gic-version option is not available with this QEMU binary")
    if dom.cpu is not None and dom.cpu.model is not None and dom.cpu.model != caps.default_cpu(dom.machine or ""):
        raise OracleUnsupported("the guest layout of a domain with a CPU model other than QEMU's default for the "
                                "machine (CPU model translation)")


def _memballoon(dom: Domain) -> None:
    """qemuBuildMemballoonCommandLine -> qemuBuildVirtioDevGetConfig (9.0.0): a virtio device
    with no address at all (a machine without PCI or virtio-mmio for it, e.g. riscv64 ``spike``)
    has no transport to name: an enum range error. Measured on golden edge-nomachine-riscv64."""
    mb = dom.memballoon
    if mb is not None and mb.model.startswith("virtio") and mb.info.type is None:
        raise LibvirtError("INTERNAL_ERROR", "Unexpected enum value 0 for virDomainDeviceAddressType")


def _pci_controller(dom: Domain, c: Controller) -> dict[str, Any] | None:
    if c.model in ("pci-root", "pcie-root"):
        if c.model == "pci-root" and c.idx > 0 and is_pseries(dom):
            return {"driver": "spapr-pci-host-bridge", "id": _controller_alias(c)}
        return None
    name = c.model_name
    if name is None or name in ("pxb", "pxb-pcie"):
        raise OracleUnsupported(f"PCI controller {c.model} ({name}) on the command line")
    props: dict[str, Any] = {"driver": name, "id": _controller_alias(c)}
    if c.model == "pci-bridge":
        props["chassis_nr"] = c.chassis_nr
    if c.model in ("pcie-root-port", "pcie-switch-downstream-port"):
        props["port"] = c.port
        props["chassis"] = c.chassis
    _address(dom, c.info, props)
    return props


def _usb_model(dom: Domain, c: Controller, caps: CapSet, prof: Profile) -> str | None:
    """The model a USB controller has on the command line: its own, or (eras before libvirt
    2.2.0, where the default model was chosen when the command line was built) the profile's
    ``usb_cmdline_default`` choice; None means legacy ``-usb``."""
    if c.model is not None:
        return c.model
    rule = prof.rule("usb_cmdline_default")
    if rule in ("legacy", "always-legacy"):
        return None
    if dom.arch.startswith("ppc64") and rule in ("ppc-ohci-both", "ppc-ohci"):
        # [A] (<= 1.3.0): pci-ohci needs both PIIX3_USB_UHCI and PCI_OHCI; [B] (1.3.1+): PCI_OHCI
        if caps.has("pci-ohci") and (rule == "ppc-ohci" or caps.has("piix3-usb-uhci")):
            return "pci-ohci"
        return None
    return "piix3-uhci" if caps.has("piix3-usb-uhci") else None


def _legacy_usb_allowed(dom: Domain, prof: Profile, rule: str = "legacy_usb_banned") -> bool:
    """Whether ``-usb`` may be added (``legacy_usb_banned``), or (``usb_legacy_skip_banned``)
    whether a model-less USB controller may be left to it rather than refused ('no model
    provided'): the eras skip it on more machines than they add ``-usb`` on (s390)."""
    banned = prof.rule(rule)
    checks = {"q35": is_q35(dom), "arm-virt": is_arm_virt(dom), "riscv-virt": is_riscv_virt(dom),
              "s390": dom.arch.startswith("s390")}
    return not any(checks[b] for b in banned)


def guest_layout(dom: Domain, caps: CapSet, prof: Profile) -> dict[str, Any]:
    """``{"machine", "devices"}`` of a defined domain; raises libvirt's LibvirtError where it
    cannot build a command line, OracleUnsupported outside the modelled vocabulary."""
    _machine_and_cpu(dom, caps)
    devices: list[dict[str, Any]] = []
    for c in dom.controllers:
        if c.type == "pci":
            d = _pci_controller(dom, c)
            if d is not None:
                devices.append(placement(d))
    nlegacy = nusb = 0
    has_none = False
    for c in dom.controllers:
        if c.type != "usb":
            continue
        if c.model == "none":
            has_none = True
            continue
        model = _usb_model(dom, c, caps, prof)
        if model is None:
            if _legacy_usb_allowed(dom, prof, "usb_legacy_skip_banned"):
                nlegacy += 1
                continue
            raise LibvirtError("CONFIG_UNSUPPORTED", "no model provided for USB controller")
        if c.model is not None and not prof.rule("usb_controller_validate"):
            validate_usb_controller(c, caps, prof)  # qemuBuildUSBControllerDevProps's checks
        nusb += 1
        props: dict[str, Any] = {"driver": USB_DRIVERS[model]}
        if model in USB_COMPANIONS and c.info.master_startport is not None:
            # qemuBuildUSBControllerFindMasterAlias: a controller of that index that is no companion
            master = next((m for m in dom.controllers if m.type == "usb" and m.idx == c.idx
                           and not (m.model in USB_COMPANIONS and m.info.master_startport is not None)), None)
            if master is None:
                raise LibvirtError("INTERNAL_ERROR", "masterbus not found")
            props["masterbus"] = f"{_controller_alias(master)}.0"
            props["firstport"] = c.info.master_startport
        else:
            props["id"] = _controller_alias(c)
        _address(dom, c.info, props)
        devices.append(placement(props))
    if not has_none:
        if nlegacy > 1:
            raise LibvirtError("CONFIG_UNSUPPORTED", "Multiple legacy USB controllers are not supported")
        if nusb == 0 and _legacy_usb_allowed(dom, prof):
            devices.append({"driver": "-usb"})
    for i, h in enumerate(dom.hubs):
        if h.type == "usb":
            props = {"driver": "usb-hub", "id": h.info.alias or f"hub{i}"}
            _address(dom, h.info, props)
            devices.append(placement(props))
    for i, inp in enumerate(dom.inputs):
        if inp.bus == "usb":
            props = {"driver": INPUT_DRIVERS[inp.type], "id": inp.info.alias or f"input{i}"}
            _address(dom, inp.info, props)
            devices.append(placement(props))
    for i, r in enumerate(dom.redirdevs):
        if r.bus == "usb":
            props = {"driver": "usb-redir", "id": r.info.alias or f"redir{i}"}
            _address(dom, r.info, props)
            devices.append(placement(props))
    _memballoon(dom)
    return {"machine": dom.machine or "", "devices": devices}
