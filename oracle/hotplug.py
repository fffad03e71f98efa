"""Config-only hotplug (``virDomainAttachDeviceFlags/DetachDeviceFlags(VIR_DOMAIN_AFFECT_CONFIG)``).

Rewritten from libvirt 9.0.0 src/qemu/qemu_driver.c (qemuDomainAttachDeviceLiveAndConfig,
qemuDomainAttachDeviceConfig, qemuDomainDetachDeviceLiveAndConfig, qemuDomainDetachDeviceConfig)
and src/conf/domain_conf.c (virDomainDefCompatibleDevice, virDomainInputDefEquals,
virDomainRedirdevDefFind):

1. the persistent definition is copied (format + re-parse *without* ABI_UPDATE);
2. the device XML is parsed (+ device post-parse; validated on attach only);
3. attach: USB devices are refused when the domain has no USB bus; the device is inserted;
   detach: the matching device is removed;
4. the whole definition is post-parsed again (attach: with ABI_UPDATE, so new USB devices get
   ports and new controllers get PCI addresses; detach: without).
"""

from __future__ import annotations

from contract.results import XmlResult
from oracle import postparse, usb
from oracle.capsets import CapSet
from oracle.errors import LibvirtError, OracleUnsupported
from oracle.fmt import format_domain
from oracle.model import (
    Domain,
    Hub,
    Info,
    insert_controller,
    parse_controller,
    parse_domain,
    parse_info,
    parse_input,
    parse_redirdev,
    parse_xml,
)
from oracle.pipeline import check_caps, defined, post_parse, validate_redirdev
from oracle.profile import Profile


def _persistent_copy(dom: Domain, caps: CapSet, prof: Profile) -> Domain:
    """virDomainObjCopyPersistentDef: format, re-parse (INACTIVE|SKIP_VALIDATE), post-parse.
    Done in model form (an independent copy with re-sorted controllers) when the re-parse cannot
    do more than that; see oracle.migratable._reparse_may_differ.  Either way the result is a
    private copy: ``dom`` may be a shared (memoised) definition and is never modified."""
    from oracle.migratable import _reparse_may_differ, _resorted_copy

    if not _reparse_may_differ(dom):
        return _resorted_copy(dom, deep=True)
    d = parse_domain(format_domain(dom), prof.data)
    post_parse(d, caps, prof, abi_update=False)
    return d


def _parse_device(xml: str, dom: Domain, caps: CapSet, prof: Profile, validate: bool):
    """virDomainDeviceDefParse for the modelled device kinds (+ device post-parse/validation)."""
    el = parse_xml(xml)
    tag = el.tag
    if el.find("alias") is not None:
        raise OracleUnsupported("hotplug of a device with an <alias> (alias validation not modelled)")
    if tag == "controller":
        c = parse_controller(el, prof.data["usb_models"])
        postparse.controller_post_parse(dom, c, caps, True, prof)
        if validate and c.type == "usb" and prof.rule("usb_controller_validate"):
            from oracle.pipeline import validate_usb_controller
            validate_usb_controller(c, caps, prof)
        if validate and c.type == "pci":
            # qemuValidateDomainDeviceDefControllerPCI runs on the bare device: no model name yet
            if c.model_name is None:
                raise LibvirtError("INTERNAL_ERROR", "Required option 'modelName' is not set for PCI "
                                   f"controller with index '{c.idx}', model '{c.model}' and modelName "
                                   "'none'")
            raise OracleUnsupported("hotplug of a PCI controller with an explicit model name")
        return "controller", c
    if tag == "input":
        inp = parse_input(el, dom.arch)  # the parser a domain's inputs go through (same checks, messages)
        inp.bus_default = False  # the device's own post-parse has run (virDomainDeviceDefParse)
        itype, bus = inp.type, inp.bus
        if bus not in ("usb", "virtio"):
            raise OracleUnsupported(f"hotplug of a {bus} input")
        if validate and bus == "usb" and itype == "keyboard" and not caps.has("usb-kbd"):
            raise LibvirtError("CONFIG_UNSUPPORTED", "usb keyboard is not supported by this QEMU binary")
        if validate and bus == "virtio" and not caps.has(f"virtio-{itype}"):
            raise LibvirtError("CONFIG_UNSUPPORTED", f"virtio-{itype} is not supported by this QEMU binary")
        return "input", inp
    if tag == "hub":
        if el.get("type") != "usb":
            raise OracleUnsupported("non-USB hub")
        h = Hub("usb", parse_info(el, ("usb",)))
        if validate and not caps.has("usb-hub"):
            raise LibvirtError("CONFIG_UNSUPPORTED", "usb-hub not supported by QEMU binary")
        return "hub", h
    if tag == "redirdev":
        r = parse_redirdev(el)
        if r.protocol is None:
            r.protocol = "raw"
        if validate:
            validate_redirdev(r, dom, caps, prof)
        return "redirdev", r
    if tag == "memballoon" and set(el.attrib) <= {"model"} and not len(el) and \
            el.get("model") in ("virtio", "none", "virtio-transitional", "virtio-non-transitional"):
        return "memballoon", None  # persistent (de)attach is refused by qemu_driver.c
    raise OracleUnsupported(f"hotplug of <{tag}>")


def _is_usb(kind: str, dev) -> bool:
    """virDomainDeviceIsUSB for the modelled kinds."""
    return kind in ("hub", "redirdev") or (kind == "input" and dev.bus == "usb")


def _addr_equal(a: Info, b: Info) -> bool:
    if a.type != b.type:
        return False
    if a.type == "usb":
        return a.usb_bus == b.usb_bus and a.usb_port == b.usb_port
    if a.type == "pci":
        return a.pci.key() == b.pci.key()
    return False


def attach_config(domain_xml: str, device_xml: str, caps: CapSet, prof: Profile) -> XmlResult:
    try:
        dom = defined(domain_xml, caps, prof, abi_update=True).dom  # shared: copied below
        vmdef = _persistent_copy(dom, caps, prof)
        kind, dev = _parse_device(device_xml, vmdef, caps, prof, validate=True)
        if _is_usb(kind, dev) and not usb.has_usb(vmdef):
            raise LibvirtError("CONFIG_UNSUPPORTED", "Device configuration is not compatible: "
                               "Domain has no USB bus support")
        if kind == "controller":
            if dev.idx != -1 and any(c.type == dev.type and c.idx == dev.idx for c in vmdef.controllers):
                raise LibvirtError("OPERATION_INVALID", f"controller index='{dev.idx}' already exists")
            insert_controller(vmdef, dev)
        elif kind == "input":
            vmdef.inputs.append(dev)
        elif kind == "redirdev":
            vmdef.redirdevs.append(dev)
        else:
            raise LibvirtError("OPERATION_UNSUPPORTED", f"persistent attach of device '{kind}' is not "
                               "supported")
        check_caps(vmdef, caps)
        post_parse(vmdef, caps, prof, abi_update=True)
    except LibvirtError as e:
        return XmlResult(kind="error", error=str(e))
    return XmlResult(kind="ok", xml=format_domain(vmdef))


def detach_config(domain_xml: str, device_xml: str, caps: CapSet, prof: Profile) -> XmlResult:
    try:
        dom = defined(domain_xml, caps, prof, abi_update=True).dom  # shared: copied below
        vmdef = _persistent_copy(dom, caps, prof)
        kind, dev = _parse_device(device_xml, vmdef, caps, prof, validate=False)
        if kind == "input":
            for i, inp in enumerate(vmdef.inputs):
                if inp.type == dev.type and inp.bus == dev.bus and \
                        (dev.info.type is None or _addr_equal(dev.info, inp.info)):
                    del vmdef.inputs[i]
                    break
            else:
                raise LibvirtError("DEVICE_MISSING", "matching input device not found")
        elif kind == "redirdev":
            for i, r in enumerate(vmdef.redirdevs):
                if r.bus == dev.bus and r.source_xml == dev.source_xml and \
                        (dev.info.type is None or _addr_equal(dev.info, r.info)):
                    del vmdef.redirdevs[i]
                    break
            else:
                raise LibvirtError("DEVICE_MISSING", "no matching redirdev was not found")
        elif kind == "controller":
            # config-only detach removes the controller without any in-use check
            for i, c in enumerate(vmdef.controllers):
                if c.type == dev.type and c.idx == dev.idx:
                    del vmdef.controllers[i]
                    break
            else:
                raise LibvirtError("DEVICE_MISSING", "device not present in domain configuration")
        else:
            raise LibvirtError("OPERATION_UNSUPPORTED", f"persistent detach of device '{kind}' is not "
                               "supported")
        post_parse(vmdef, caps, prof, abi_update=False)
    except LibvirtError as e:
        return XmlResult(kind="error", error=str(e))
    return XmlResult(kind="ok", xml=format_domain(vmdef))
