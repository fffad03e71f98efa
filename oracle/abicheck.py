"""ABI-stability verdicts (libvirt 9.0.0).

Modelled path -- the one verified against the real libvirt (a save image redefined with
``virDomainSaveImageDefineXML``; src/qemu/qemu_saveimage.c qemuSaveImageUpdateDef):

1. SRC is defined (ABI_UPDATE) and its ``XMLDesc(MIGRATABLE|INACTIVE)`` is what the image carries;
   the image XML is parsed again (post-parse without ABI_UPDATE, so implicit devices dropped by
   the migratable formatter come back);
2. DST is parsed (no ABI_UPDATE), formatted migratable and re-parsed (qemuDomainDefCopy);
3. virDomainDefCheckABIStabilityFlags(src, dst_migratable, flags=0) (src/conf/domain_conf.c);
   on failure libvirt retries against the parsed DST itself and, if that fails too, reports the
   *first* error.  qemuDomainDefCheckABIStability (migration) differs only by the
   SKIP_VOLATILE flag (current memory is not compared).

Messages use 9.0.0's printf forms; model numbers print as enum integers, e.g.
``Target controller model 9 does not match source 12``.
"""

from __future__ import annotations

from contract.results import AbiResult
from oracle.capsets import CapSet
from oracle.errors import LibvirtError
from oracle.model import Controller, Domain, Info
from oracle.pipeline import defined, reparsed
from oracle.profile import Profile


def _fail(msg: str) -> LibvirtError:
    return LibvirtError("CONFIG_UNSUPPORTED", msg)


def _info(s: Info, d: Info, prof: Profile) -> None:
    """virDomainDeviceInfoCheckABIStability (USB/CCW addresses are not compared)."""
    if s.type != d.type:
        raise _fail(f"Target device address type {d.type or 'none'} does not match source "
                    f"{s.type or 'none'}")
    if s.type == "pci" and s.pci.key() != d.pci.key():
        a, b = d.pci, s.pci
        sep = prof.data["abi_pci_address_sep"]
        raise _fail(f"Target device PCI address {a.domain:04x}:{a.bus:02x}:{a.slot:02x}.{a.function:x}"
                    f"{sep}does not match source {b.domain:04x}:{b.bus:02x}:{b.slot:02x}.{b.function:x}")


def _model_int(c: Controller, prof: Profile) -> int:
    if c.model is None:
        return -1
    if c.type == "usb":
        return prof.data["usb_models"].index(c.model)
    if c.type == "pci":
        return prof.data["pci_models"].index(c.model)
    return -1


def _controller(s: Controller, d: Controller, prof: Profile) -> None:
    if s.type != d.type:
        raise _fail(f"Target controller type {d.type} does not match source {s.type}")
    if s.idx != d.idx:
        raise _fail(f"Target controller index {d.idx} does not match source {s.idx}")
    if s.model != d.model:
        raise _fail(f"Target controller model {_model_int(d, prof)} does not match source "
                    f"{_model_int(s, prof)}")
    if s.type == "usb" and s.ports != d.ports:
        sp = -1 if s.ports is None else s.ports
        dp = -1 if d.ports is None else d.ports
        raise _fail(f"Target controller ports {dp} does not match source {sp}")
    _info(s.info, d.info, prof)


def _count(what: str, d: int, s: int) -> None:
    if s != d:
        raise _fail(f"Target domain {what} {d} does not match source {s}")


def compare(src: Domain, dst: Domain, prof: Profile, skip_volatile: bool = False) -> None:
    """virDomainDefCheckABIStabilityFlags for the modelled parts, in libvirt's order."""
    if src.virt_type != dst.virt_type:
        raise _fail(f"Target domain virt type {dst.virt_type} does not match source {src.virt_type}")
    if src.uuid != dst.uuid:
        raise _fail(f"Target domain uuid {dst.uuid} does not match source {src.uuid}")
    if src.name != dst.name:
        raise _fail(f"Target domain name '{dst.name}' does not match source '{src.name}'")
    if src.memory != dst.memory:
        raise _fail(f"Target domain max memory {dst.memory} does not match source {src.memory}")
    if not skip_volatile and src.current_memory != dst.current_memory:
        raise _fail(f"Target domain current memory {dst.current_memory} does not match source "
                    f"{src.current_memory}")
    if src.vcpus != dst.vcpus:
        raise _fail(f"Target domain vCPU max {dst.vcpus} does not match source {src.vcpus}")
    s_on = src.vcpus if src.vcpu_current is None else src.vcpu_current
    d_on = dst.vcpus if dst.vcpu_current is None else dst.vcpu_current
    if s_on != d_on:
        raise _fail(f"State of vCPU '{min(s_on, d_on)}' differs between source and destination definitions")
    if src.os_type != dst.os_type:
        raise _fail(f"Target domain OS type {dst.os_type} does not match source {src.os_type}")
    if src.arch != dst.arch:
        raise _fail(f"Target domain architecture {dst.arch} does not match source {src.arch}")
    if src.machine != dst.machine:
        raise _fail(f"Target domain machine type {dst.machine} does not match source {src.machine}")
    # virDomainDefFeaturesCheckABIStability, in virDomainFeature enum order
    for f in ("acpi", "apic", "pae"):
        a = "on" if f in src.features else "default"  # virTristateSwitch ABSENT prints 'default'
        b = "on" if f in dst.features else "default"
        if a != b:
            if f == "apic":
                raise _fail(f"State of feature 'apic' differs: source: '{a},eoi=default', destination: "
                            f"'{b},eoi=default'")
            raise _fail(f"State of feature '{f}' differs: source: '{a}', destination: '{b}'")
    if src.gic_version != dst.gic_version:
        def st(v: str | None) -> str:
            return "default" if v is None else "on"
        raise _fail(f"State of feature 'gic' differs: source: '{st(src.gic_version)},version="
                    f"{src.gic_version or 'none'}', destination: '{st(dst.gic_version)},version="
                    f"{dst.gic_version or 'none'}'")
    if (src.cpu is None) != (dst.cpu is None):
        raise _fail("Target CPU does not match source")
    if src.cpu is not None and src.cpu.model != dst.cpu.model:
        raise _fail(f"Target CPU model {dst.cpu.model} does not match source {src.cpu.model}")
    _count("controller count", len(dst.controllers), len(src.controllers))
    for s, d in zip(src.controllers, dst.controllers, strict=True):
        _controller(s, d, prof)
    _count("input device count", len(dst.inputs), len(src.inputs))
    for s, d in zip(src.inputs, dst.inputs, strict=True):
        if s.type != d.type:
            raise _fail(f"Target input device type {d.type} does not match source {s.type}")
        if s.bus != d.bus:
            raise _fail(f"Target input device bus {d.bus} does not match source {s.bus}")
        _info(s.info, d.info, prof)
    _count("serial port count", len(dst.serials), len(src.serials))
    for s, d in zip(src.serials, dst.serials, strict=True):
        if s.target_type != d.target_type:
            raise _fail(f"Target serial type {d.target_type} does not match source {s.target_type}")
        if s.model != d.model:
            raise _fail(f"Target serial model {d.model} does not match source {s.model}")
        if s.port != d.port:
            raise _fail(f"Target serial port {d.port} does not match source {s.port}")
    _count("console count", int(dst.console), int(src.console))
    _count("hub device count", len(dst.hubs), len(src.hubs))
    for s, d in zip(src.hubs, dst.hubs, strict=True):
        _info(s.info, d.info, prof)
    _count("redirected devices count", len(dst.redirdevs), len(src.redirdevs))
    for s, d in zip(src.redirdevs, dst.redirdevs, strict=True):
        _info(s.info, d.info, prof)
    _count("watchdog device count", len(dst.watchdogs), len(src.watchdogs))
    for s_, d_ in zip(src.watchdogs, dst.watchdogs, strict=True):
        if s_.model != d_.model:
            raise _fail(f"Target watchdog model {d_.model} does not match source {s_.model}")
    if (src.memballoon is None) != (dst.memballoon is None):
        raise _fail(f"Target domain memory balloon count {int(dst.memballoon is not None)} does not "
                    f"match source {int(src.memballoon is not None)}")
    if src.memballoon is not None:
        s, d = src.memballoon, dst.memballoon
        if s.model != d.model:
            raise _fail(f"Target balloon model {d.model} does not match source {s.model}")
        if s.autodeflate != d.autodeflate:
            raise _fail(f"Target balloon autodeflate attribute value '{d.autodeflate or 'absent'}' "
                        f"does not match source '{s.autodeflate or 'absent'}'")
        _info(s.info, d.info, prof)
    _count("panic device count", len(dst.panics), len(src.panics))
    for s, d in zip(src.panics, dst.panics, strict=True):
        if s.model != d.model:
            raise _fail(f"Target panic model '{d.model}' does not match source '{s.model}'")
        _info(s.info, d.info, prof)


def check_abi(src_xml: str, dst_xml: str, caps: CapSet, prof: Profile) -> AbiResult:
    try:
        # pipeline.Definition: parsed definitions and their migratable XML are shared with the
        # other operations inside a memo session (a migratable XML is also reloaded, and is the
        # source of several checks)
        src0 = defined(src_xml, caps, prof, abi_update=True)
        src = reparsed(src0.migratable(), caps, prof).dom
        _compare_destination(src, dst_xml, caps, prof)
    except LibvirtError as e:
        return AbiResult(kind="error", error=str(e))
    return AbiResult(kind="ok")


def _compare_destination(src, dst_xml: str, caps: CapSet, prof: Profile) -> None:
    """Parse the destination as libvirt does (INACTIVE only, i.e. validated) and compare it, as
    its migratable form and else as it is, with the source; raises libvirt's error."""
    dst_def = reparsed(dst_xml, caps, prof)
    dst_def.validate()
    dst = dst_def.dom
    dst_migr = reparsed(dst_def.migratable(), caps, prof).dom
    try:
        compare(src, dst_migr, prof)
    except LibvirtError as first:
        try:
            compare(src, dst, prof)
        except LibvirtError:
            raise first from None


def check_abi_image(src_xml: str, dst_xml: str, caps: CapSet, prof: Profile) -> AbiResult:
    """The ABI check of a restore/migration destination whose source XML is taken as it is (a save
    image's or a migration's XML, possibly another libvirt's): virDomainSaveImageDefineXML parses
    the image's XML without ABI_UPDATE (qemuSaveImageOpen), so no post-parse default is re-chosen
    as for a new definition; then as check_abi."""
    try:
        src = reparsed(reparsed(src_xml, caps, prof).migratable(), caps, prof).dom
        _compare_destination(src, dst_xml, caps, prof)
    except LibvirtError as e:
        return AbiResult(kind="error", error=str(e))
    return AbiResult(kind="ok")
