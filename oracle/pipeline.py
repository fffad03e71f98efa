"""Parse -> post-parse -> address assignment -> validate, as virDomainDefParseString runs it for
the QEMU driver in libvirt 9.0.0 (src/conf/domain_conf.c virDomainDefParseNode,
src/conf/domain_postparse.c virDomainDefPostParse, src/conf/domain_validate.c and
src/qemu/qemu_validate.c for the validation callbacks).
"""

from __future__ import annotations

from oracle import memo, pci, postparse, usb
from oracle.capsets import CapSet
from oracle.errors import LibvirtError, OracleInputError, OracleUnsupported, fresh_copy
from oracle.fmt import format_domain
from oracle.migratable import migratable_xml
from oracle.model import Domain, clone_domain, parse_domain
from oracle.profile import Profile, get_profile


def check_caps(dom: Domain, caps: CapSet) -> None:
    if caps.arch != dom.arch:
        raise OracleInputError(f"capset is for {caps.arch}, domain is {dom.arch}")


def post_parse(dom: Domain, caps: CapSet, prof: Profile, abi_update: bool) -> None:
    postparse.basic(dom, prof)
    postparse.assign_controller_indexes(dom, prof)
    # qemuDomainDefPostParse
    if dom.machine is None:
        dom.machine = caps.default_machine()
    postparse.add_default_devices(dom, caps, prof)
    postparse.canonicalize_machine(dom, caps)
    postparse.acpi_post_parse(dom, caps, prof, abi_update)
    postparse.set_default_cpu(dom, caps, prof)
    postparse.enable_default_features(dom, caps)
    if dom.vcpu_current == 0:  # qemuDomainDefVcpusPostParse
        raise LibvirtError("CONFIG_UNSUPPORTED", "vcpu 0 can't be offline")
    # device iterator, common, addresses (qemuDomainDefAssignAddresses)
    postparse.device_post_parse(dom, caps, abi_update, prof)
    postparse.common_post_parse(dom)
    pci.assign_s390_ccw(dom)
    pci.assign_virtio_mmio(dom, caps)
    pci.assign_pci(dom, caps, prof)
    usb.assign_usb(dom, prof, new_domain=abi_update)


def validate(dom: Domain, caps: CapSet, prof: Profile | None = None) -> None:
    """qemuValidateDomainDef (machine) then per-device validation in iteration order."""
    usb_validate = prof is not None and prof.rule("usb_controller_validate")
    seen: set[str] = set()  # virDomainDefValidateAliases
    infos = [c.info for c in dom.controllers] + [i.info for i in dom.inputs] + \
        [h.info for h in dom.hubs] + [r.info for r in dom.redirdevs] + \
        ([dom.memballoon.info] if dom.memballoon else []) + [p.info for p in dom.panics]
    for info in infos:
        if info.alias is not None:
            if info.alias in seen:
                raise LibvirtError("CONFIG_UNSUPPORTED", f"non unique alias detected: {info.alias}")
            seen.add(info.alias)
    if caps.canonical_machine(dom.machine or "") != dom.machine:
        raise LibvirtError("CONFIG_UNSUPPORTED",
                           f"Emulator '{dom.emulator}' does not support machine type '{dom.machine}'")
    if prof is not None and prof.rule("machine_acpi_check") and "acpi" in dom.features and \
            caps.machine_acpi(dom.machine or "") == "no":
        raise LibvirtError("CONFIG_UNSUPPORTED", f"machine type '{dom.machine}' does not support ACPI")
    # qemuValidateDomainDef, in its order: ACPI needs UEFI on aarch64, lifecycle, features
    if "acpi" in dom.features and dom.arch == "aarch64":
        raise LibvirtError("CONFIG_UNSUPPORTED", "ACPI requires UEFI on this architecture")
    acts = (dom.on_poweroff, dom.on_reboot, dom.on_crash)
    if "rename-restart" in acts:
        raise LibvirtError("CONFIG_UNSUPPORTED", "qemu driver doesn't support the 'rename-restart' "
                           "action for 'on_reboot'/'on_poweroff'/'on_crash'")
    if "preserve" in (dom.on_poweroff, dom.on_reboot):
        raise LibvirtError("CONFIG_UNSUPPORTED", "qemu driver doesn't support the 'preserve' action "
                           "for 'on_reboot'/'on_poweroff'")
    if dom.on_poweroff == "restart" and dom.on_reboot == "destroy":
        raise LibvirtError("CONFIG_UNSUPPORTED", "qemu driver doesn't support 'onReboot' set to "
                           "'destroy and 'onPoweroff' set to 'reboot'")
    maxc = caps.max_cpus(dom.machine or "")  # qemuValidateDomainVCpuTopology
    if maxc and dom.vcpus > maxc:
        raise LibvirtError("CONFIG_UNSUPPORTED", f"Maximum CPUs greater than specified machine type limit {maxc}")
    if dom.gic_version is not None and not postparse.is_arm_virt(dom):
        raise LibvirtError("CONFIG_UNSUPPORTED", "The 'gic' feature is not supported for architecture "
                           f"'{dom.arch}' or machine type '{dom.machine}'")
    for c in dom.controllers:  # virDomainControllerDefValidate (domain_validate.c), PCI part
        if c.type == "usb" and usb_validate:
            validate_usb_controller(c, caps, prof)
        if c.type != "pci":
            continue
        if c.model in ("pci-root", "pcie-root") and c.info.type is not None:
            raise LibvirtError("CONFIG_UNSUPPORTED", "pci-root and pcie-root controllers should not "
                               "have an address")
        if c.target_index is not None:
            if not 0 <= c.target_index <= 30:
                raise LibvirtError("CONFIG_UNSUPPORTED", f"PCI controller target index '{c.target_index}' "
                                   "out of range - must be 0-30")
            if (c.idx == 0) != (c.target_index == 0):
                raise LibvirtError("CONFIG_UNSUPPORTED", "Only the PCI controller with index 0 can have "
                                   "target index 0, and vice versa")
        if c.chassis_nr is not None and not 1 <= c.chassis_nr <= 255:
            raise LibvirtError("CONFIG_UNSUPPORTED", f"PCI controller chassisNr '{c.chassis_nr}' out of "
                               "range - must be 1-255")
        validate_pci_controller(c, dom, caps)  # the device validation callback, same device
    for i in dom.inputs:
        if i.bus == "usb" and i.type == "keyboard" and not caps.has("usb-kbd"):
            raise LibvirtError("CONFIG_UNSUPPORTED", "usb keyboard is not supported by this QEMU binary")
        if i.bus == "virtio":  # qemuValidateDomainDeviceDefInput
            base = {"mouse": "virtio-mouse", "tablet": "virtio-tablet", "keyboard": "virtio-keyboard"}[i.type]
            if not caps.has(base) or (i.info.type == "ccw" and not caps.has(base + "-ccw")):
                raise LibvirtError("CONFIG_UNSUPPORTED", f"{base} is not supported by this QEMU binary")
    for _h in dom.hubs:
        if not caps.has("usb-hub"):
            raise LibvirtError("CONFIG_UNSUPPORTED", "usb-hub not supported by QEMU binary")
    for r in dom.redirdevs:
        validate_redirdev(r, dom, caps, prof)


def validate_redirdev(r, dom: Domain, caps: CapSet, prof: Profile | None) -> None:
    """virDomainDeviceDefValidate of a redirdev: the generic check (virDomainRedirdevDefValidate) and
    the driver's (qemuValidateDomainRedirdevDef), in the order of the profile's switch
    device_validate_order."""
    prof = prof or get_profile()

    def generic() -> None:  # virDomainRedirdevDefValidate (profile switch redirdev_usb_check)
        if prof.rule("redirdev_usb_check") != "validate-has-usb":
            return
        if r.bus == "usb" and not usb.has_usb(dom):
            raise LibvirtError("CONFIG_UNSUPPORTED",
                               "cannot add redirected USB device: USB is disabled for this domain")

    def driver() -> None:
        if not caps.has("usb-redir"):
            raise LibvirtError("CONFIG_UNSUPPORTED",
                               "USB redirection is not supported by this version of QEMU")

    order = prof.rule("device_validate_order")
    for check in ((driver, generic) if order == "driver-first" else (generic, driver)):
        check()


# virValidateControllerPCIModelNameToQEMUCaps (src/qemu/qemu_validate.c): the capability each PCI
# controller model name needs, by its name in libvirt's caps XML (qemu_capabilities.c)
PCI_MODEL_NAME_CAPS = {
    "pci-bridge": "pci-bridge", "i82801b11-bridge": "dmi-to-pci-bridge", "ioh3420": "ioh3420",
    "x3130-upstream": "x3130-upstream", "xio3130-downstream": "xio3130-downstream", "pxb": "pxb",
    "pxb-pcie": "pxb-pcie", "pcie-root-port": "pcie-root-port",
    "spapr-pci-host-bridge": "spapr-pci-host-bridge", "pcie-pci-bridge": "pcie-pci-bridge",
}
# the model names each model allows (qemuValidateDomainDeviceDefControllerPCI, "modelName (cont'd)")
_PCI_MODEL_NAMES_OK = {
    "pci-root": (None, "spapr-pci-host-bridge"), "pcie-root": (None,), "pci-bridge": ("pci-bridge",),
    "dmi-to-pci-bridge": ("i82801b11-bridge",), "pcie-root-port": ("ioh3420", "pcie-root-port"),
    "pcie-switch-upstream-port": ("x3130-upstream",), "pcie-switch-downstream-port": ("xio3130-downstream",),
    "pci-expander-bus": ("pxb",), "pcie-expander-bus": ("pxb-pcie",), "pcie-to-pci-bridge": ("pcie-pci-bridge",),
}
_PCI_ROOTS = ("pci-root", "pcie-root")
_PCI_PORTS = ("pcie-root-port", "pcie-switch-downstream-port")


def validate_pci_controller(c, dom: Domain, caps: CapSet) -> None:
    """qemuValidateDomainDeviceDefControllerPCI (src/qemu/qemu_validate.c, libvirt 9.0.0), its
    checks in its order for the options the oracle models: modelName, index, targetIndex,
    chassisNr, chassis/port, hotplug, then the QEMU device's capability.  pcihole64, busNr and
    numaNode are outside the vocabulary (expander buses are declined at address assignment)."""
    model, name = c.model, c.model_name
    if name is not None and name not in PCI_MODEL_NAME_CAPS:
        raise OracleUnsupported(f"PCI controller model name {name!r}")
    where = f"for PCI controller with index '{c.idx}', model '{model}' and modelName '{name or 'none'}'"

    def missing(opt: str) -> LibvirtError:
        return LibvirtError("INTERNAL_ERROR", f"Required option '{opt}' is not set {where}")

    def invalid(opt: str) -> LibvirtError:
        return LibvirtError("CONFIG_UNSUPPORTED", f"Option '{opt}' is not valid {where}")

    if name is None and (model not in _PCI_ROOTS or (model == "pci-root" and postparse.is_pseries(dom))):
        raise missing("modelName")
    if name is not None and (model == "pcie-root" or (model == "pci-root" and not postparse.is_pseries(dom))):
        raise invalid("modelName")
    if name not in _PCI_MODEL_NAMES_OK[model]:
        raise LibvirtError("CONFIG_UNSUPPORTED", f"Option 'modelName' has invalid value {where}")
    phb = model == "pci-root" and name == "spapr-pci-host-bridge"
    if model not in _PCI_ROOTS and c.idx == 0:
        raise LibvirtError("CONFIG_UNSUPPORTED", f"Index for '{model}' controllers must be > 0")
    if model in _PCI_ROOTS and not phb and c.idx != 0:
        raise LibvirtError("CONFIG_UNSUPPORTED", f"Index for '{model}' controllers must be 0")
    if phb and c.target_index is None:
        raise missing("targetIndex")
    if not phb and c.target_index is not None:
        raise invalid("targetIndex")
    if model == "pci-bridge" and c.chassis_nr is None:
        raise missing("chassisNr")
    if model != "pci-bridge" and c.chassis_nr is not None:
        raise invalid("chassisNr")
    for opt, val in (("chassis", c.chassis), ("port", c.port)):
        if model in _PCI_PORTS and val is None:
            raise missing(opt)
        if model not in _PCI_PORTS and val is not None:
            raise invalid(opt)
    if c.hotplug is not None:
        if model not in _PCI_PORTS and model != "pci-root":
            raise invalid("hotplug")
        flag = "piix4.acpi-root-pci-hotplug" if model == "pci-root" else "pcie-root-port.hotplug"
        if not caps.has(flag):
            raise LibvirtError("CONFIG_UNSUPPORTED", "setting the 'hotplug' property on a "
                               f"'{name if model != 'pci-root' else 'pci-root'}' device is not "
                               "supported by this QEMU binary")
    cap = PCI_MODEL_NAME_CAPS.get(name)
    if cap is not None and not caps.has(cap):
        raise LibvirtError("CONFIG_UNSUPPORTED", f"The '{name}' device is not supported by this QEMU binary")


def validate_usb_controller(c, caps: CapSet, prof: Profile) -> None:
    """qemuValidateDomainDeviceDefControllerUSB: in libvirt <= 11.3 a qemu_command.c check made
    only when a guest starts; the 12.9.0 build runs it when a domain is defined (profile switch
    ``usb_controller_validate``).  Model 'none' has no device to check."""
    if c.model == "none":
        return
    if c.model is None:
        raise OracleUnsupported("USB controller left without a model at validation")
    cap = prof.data["usb_model_caps"].get(c.model)
    texts = prof.data["usb_cmdline_texts"]
    from oracle.layout import USB_DRIVERS

    names = {"model": c.model, "qemu": USB_DRIVERS.get(c.model, c.model)}
    if cap is None or not caps.has(cap):
        raise LibvirtError("CONFIG_UNSUPPORTED", texts["unsupported"].format(**names))
    if c.ports is not None and c.model not in ("nec-xhci", "qemu-xhci"):
        raise LibvirtError("CONFIG_UNSUPPORTED", texts["ports"].format(**names))


def reparse(xml: str, caps: CapSet, prof: Profile) -> Domain:
    """virDomainDefCopy / virDomainDefParseString(INACTIVE|SKIP_VALIDATE): parse + post-parse
    without ABI_UPDATE, no validation."""
    d = _parse(xml, prof)
    check_caps(d, caps)
    post_parse(d, caps, prof, abi_update=False)
    return d


def parse_and_define(xml: str, caps: CapSet, prof: Profile, abi_update: bool) -> Domain:
    dom = _parse(xml, prof)
    check_caps(dom, caps)
    post_parse(dom, caps, prof, abi_update)
    validate(dom, caps, prof)
    return dom


# --------------------------------------------------------------------------- memoised definitions


class Definition:
    """The outcome of parsing one XML string in one mode -- a definition or libvirt's error --
    with what is derived from it (formatted XML, migratable XML, validation) computed on first
    use.  Memo tables share these between calls, so ``dom`` is read-only: whoever needs to
    change a definition copies it first (model.clone_domain)."""

    __slots__ = ("dom", "error", "caps", "prof", "_xml", "_mig", "_valid")

    def __init__(self, dom: Domain | None, error: LibvirtError | None, caps: CapSet, prof: Profile) -> None:
        self.dom, self.error, self.caps, self.prof = dom, error, caps, prof
        self._xml: str | None = None
        self._mig: str | LibvirtError | None = None
        self._valid: LibvirtError | bool = False

    def xml(self) -> str:
        """XMLDesc(0)."""
        if self._xml is None:
            self._xml = _produced(format_domain(self.dom), self.prof)
        return self._xml

    def migratable(self) -> str:
        """XMLDesc(MIGRATABLE); raises its LibvirtError."""
        if self._mig is None:
            try:
                self._mig = _produced(migratable_xml(self.dom, self.caps, self.prof), self.prof)
            except LibvirtError as e:
                self._mig = fresh_copy(e)
        return _value(self._mig)

    def validate(self) -> None:
        """validate() of the definition; raises its LibvirtError."""
        if self._valid is False:
            try:
                validate(self.dom, self.caps, self.prof)
                self._valid = True
            except LibvirtError as e:
                self._valid = fresh_copy(e)
        _value(self._valid)


def _value(v):
    """A stored outcome: the value, or a fresh copy of the stored error raised."""
    if isinstance(v, LibvirtError):
        raise fresh_copy(v)
    return v


# Sized for campaign batches: with 128 or 200 domains per batch these sizes hit exactly as
# often as unbounded tables would (cases carried into the next batch included).  Larger tables
# only feed the garbage collector, whose full passes scan every live definition (an eviction
# costs a recomputation, never a different answer).
_DEFINED = memo.table(512)
_REPARSED = memo.table(512)
_OWN_XML = memo.table(768)


def _produced(xml: str, prof: Profile) -> str:
    """Note an XML string the oracle produced (stored or migratable XML): the campaign parses
    those again in both modes (a stored XML is re-defined and reloaded, a migratable XML is
    reloaded and is an ABI source), so :func:`_parse` keeps their parse."""
    if memo.usable(prof) and _OWN_XML.get((xml, prof.version)) is None:
        _OWN_XML.put((xml, prof.version), True)
    return xml


def _parse(xml: str, prof: Profile) -> Domain:
    """parse_domain(xml), as a private definition to post-parse.  Parsing does not depend on the
    mode (ABI_UPDATE or not, validation or not), so inside a memo session the parse of an XML the
    oracle produced is kept and each mode post-parses its own copy (model.clone_domain copies
    every part a parse sets).  Other XML is parsed as always: most is parsed only once, and a
    copy would cost more than it saves."""
    if not memo.usable(prof):
        return parse_domain(xml, prof.data)
    key = (xml, prof.version)
    parsed = _OWN_XML.get(key)
    if parsed is None:
        return parse_domain(xml, prof.data)
    if parsed is True:
        try:
            parsed = parse_domain(xml, prof.data)
        except LibvirtError as e:
            parsed = fresh_copy(e)
        _OWN_XML.put(key, parsed)
    if isinstance(parsed, LibvirtError):
        raise fresh_copy(parsed)
    return clone_domain(parsed)


def _lookup(table: memo.Lru, key: tuple, compute, *args) -> Definition:
    """The memoised Definition for ``key`` (inside a memo session), else a fresh one; raises the
    definition's LibvirtError.  Other exceptions (OracleInputError, oracle bugs) propagate and
    are never stored.  Only definitions of XML the oracle produced are kept: those are the ones
    asked for again (inputs, ABI-check mutations and hotplug results never were, in campaigns)."""
    xml, caps, prof = args[0], args[1], args[2]
    use = memo.usable(prof) and _OWN_XML.get((xml, prof.version)) is not None
    d = table.get(key) if use else None
    if d is None:
        try:
            d = Definition(compute(*args), None, caps, prof)
        except LibvirtError as e:
            d = Definition(None, fresh_copy(e), caps, prof)
        if use:
            table.put(key, d)
    if d.error is not None:
        raise fresh_copy(d.error)
    return d


def defined(xml: str, caps: CapSet, prof: Profile, abi_update: bool = True) -> Definition:
    """:func:`parse_and_define`, shared through the memo tables (keyed by the exact XML string,
    capability-set identity, profile and ABI_UPDATE)."""
    return _lookup(_DEFINED, (xml, id(caps), prof.version, abi_update), parse_and_define,
                   xml, caps, prof, abi_update)


def reparsed(xml: str, caps: CapSet, prof: Profile) -> Definition:
    """:func:`reparse` (= a config load, without validation), shared through the memo tables."""
    return _lookup(_REPARSED, (xml, id(caps), prof.version), reparse, xml, caps, prof)
