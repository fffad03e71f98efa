"""Domain XML formatting, byte-compatible with libvirt 9.0.0's virDomainDefFormatInternal
(src/conf/domain_conf.c) for the modelled vocabulary: element order, attribute order,
two-space indentation, single quotes, trailing newline.

``migratable=True`` applies the format-time parts of VIR_DOMAIN_DEF_FORMAT_MIGRATABLE
(virDomainInputDefFormat drops PS/2 and Xen keyboards; virDomainControllerDefFormatPCI drops the
spapr-pci-host-bridge model name); the definition-level removals live in oracle.migratable.
"""

from __future__ import annotations

import functools

from oracle.model import Controller, Domain, Info

# Every formatter appends its lines to ``out`` (one list per document, joined once): formatting
# runs twice per define (stored and migratable XML), and building per-element lists cost more
# than the text itself.


@functools.lru_cache(maxsize=4096)
def _pci_address(ind: str, domain: int, bus: int, slot: int, function: int, multi: str | None) -> str:
    """The start of a PCI <address> element (hex formatting is the costliest text in a domain,
    and a few hundred distinct addresses cover everything the oracle formats)."""
    multi = f" multifunction='{multi}'" if multi else ""
    return (f"{ind}<address type='pci' domain='0x{domain:04x}' bus='0x{bus:02x}' "
            f"slot='0x{slot:02x}' function='0x{function:x}'{multi}")


def _addr(info: Info, ind: str, out: list[str]) -> None:
    t = info.type
    if t == "pci" and info.pci is not None:
        a = info.pci
        head = _pci_address(ind, a.domain, a.bus, a.slot, a.function, a.multi)
        if a.zpci_uid is None and a.zpci_fid is None:
            out.append(head + "/>")
            return
        z = []
        if a.zpci_uid is not None:
            z.append(f"uid='0x{a.zpci_uid:04x}'")
        if a.zpci_fid is not None:
            z.append(f"fid='0x{a.zpci_fid:08x}'")
        out += (head + ">", f"{ind}  <zpci {' '.join(z)}/>", f"{ind}</address>")
    elif t == "usb":
        port = f" port='{'.'.join(str(p) for p in info.usb_port)}'" if info.usb_port else ""
        out.append(f"{ind}<address type='usb' bus='{info.usb_bus}'{port}/>")
    elif t == "virtio-mmio":
        out.append(f"{ind}<address type='virtio-mmio'/>")
    elif t == "ccw" and info.ccw is not None:
        c = info.ccw
        out.append(f"{ind}<address type='ccw' cssid='0x{c[0]:02x}' ssid='0x{c[1]:x}' devno='0x{c[2]:04x}'/>")


def _info(info: Info, ind: str, out: list[str]) -> None:
    """virDomainDeviceInfoFormat: alias, master, address."""
    if info.alias is not None:
        out.append(f"{ind}<alias name='{info.alias}'/>")
    if info.master_startport is not None:
        out.append(f"{ind}<master startport='{info.master_startport}'/>")
    _addr(info, ind, out)


def _open(out: list[str]) -> int:
    """Reserve the line of an element's start tag; :func:`_close` fills it in once it is known
    whether the element has children (``<x>...</x>``) or not (``<x/>``)."""
    out.append("")
    return len(out) - 1


def _close(out: list[str], mark: int, ind: str, head: str, tag: str) -> None:
    if len(out) > mark + 1:
        out[mark] = f"{ind}<{head}>"
        out.append(f"{ind}</{tag}>")
    else:
        out[mark] = f"{ind}<{head}/>"


def _controller(c: Controller, ind: str, migratable: bool, out: list[str]) -> None:
    head = f"controller type='{c.type}' index='{c.idx}'"
    if c.model is not None:
        head += f" model='{c.model}'"
    if c.type == "usb" and c.ports is not None:
        head += f" ports='{c.ports}'"
    mark = _open(out)
    i2 = ind + "  "
    if c.type == "pci":
        name = c.model_name
        if c.model == "pci-root" and name == "spapr-pci-host-bridge" and migratable:
            name = None
        if name:
            out.append(f"{i2}<model name='{name}'/>")
        t = []
        if c.chassis_nr is not None:
            t.append(f"chassisNr='{c.chassis_nr}'")
        if c.chassis is not None:
            t.append(f"chassis='{c.chassis}'")
        if c.port is not None:
            t.append(f"port='0x{c.port:x}'")
        if c.target_index is not None:
            t.append(f"index='{c.target_index}'")
        if c.hotplug is not None:
            t.append(f"hotplug='{c.hotplug}'")
        if t:
            out.append(f"{i2}<target {' '.join(t)}/>")
    _info(c.info, i2, out)
    _close(out, mark, ind, head, "controller")


def _device(head: str, tag: str, info: Info, out: list[str]) -> None:
    """A device element whose only children are its device info."""
    mark = _open(out)
    _info(info, "      ", out)
    _close(out, mark, "    ", head, tag)


def format_domain(dom: Domain, migratable: bool = False) -> str:
    i1, i2, i3 = "  ", "    ", "      "
    cur = f" current='{dom.vcpu_current}'" if dom.vcpu_current is not None else ""
    mach = f" machine='{dom.machine}'" if dom.machine else ""
    L: list[str] = [
        f"<domain type='{dom.virt_type}'>",
        f"{i1}<name>{dom.name}</name>",
        f"{i1}<uuid>{dom.uuid}</uuid>",
        f"{i1}<memory unit='KiB'>{dom.memory}</memory>",
        f"{i1}<currentMemory unit='KiB'>{dom.current_memory}</currentMemory>",
        f"{i1}<vcpu placement='{dom.vcpu_placement}'{cur}>{dom.vcpus}</vcpu>",
        f"{i1}<os>",
        f"{i2}<type arch='{dom.arch}'{mach}>{dom.os_type}</type>",
    ]
    for tag, text in dom.os_direct:
        L.append(f"{i2}<{tag}>{text}</{tag}>")
    for b in dom.boot_devs:
        L.append(f"{i2}<boot dev='{b}'/>")
    L.append(f"{i1}</os>")
    if dom.features or dom.gic_version is not None:
        L.append(f"{i1}<features>")
        for f in dom.features:
            L.append(f"{i2}<{f}/>")
        if dom.gic_version is not None:
            L.append(f"{i2}<gic version='{dom.gic_version}'/>")
        L.append(f"{i1}</features>")
    if dom.cpu is not None:
        c = dom.cpu
        head = f"cpu mode='{c.mode}'"
        if c.match:
            head += f" match='{c.match}'"
        if c.check:
            head += f" check='{c.check}'"
        mark = _open(L)
        if c.model:
            fb = f" fallback='{c.fallback}'" if c.fallback else ""
            L.append(f"{i2}<model{fb}>{c.model}</model>")
        _close(L, mark, i1, head, "cpu")
    L += (f"{i1}<clock offset='{dom.clock_offset}'/>",
          f"{i1}<on_poweroff>{dom.on_poweroff}</on_poweroff>",
          f"{i1}<on_reboot>{dom.on_reboot}</on_reboot>",
          f"{i1}<on_crash>{dom.on_crash}</on_crash>",
          f"{i1}<devices>")
    if dom.emulator:
        L.append(f"{i2}<emulator>{dom.emulator}</emulator>")
    for c in dom.controllers:
        _controller(c, i2, migratable, L)
    for ser in dom.serials:
        L.append(f"{i2}<serial type='pty'>")
        # migratable XML resets spapr-vio/system serial targets to the default (qemuDomainDefFormatBufInternal)
        if migratable and ser.target_type in ("spapr-vio-serial", "system-serial"):
            L.append(f"{i3}<target port='{ser.port}'/>")
        else:
            L += (f"{i3}<target type='{ser.target_type}' port='{ser.port}'>",
                  f"{i3}  <model name='{ser.model}'/>", f"{i3}</target>")
        if ser.spapr_reg is not None:
            L.append(f"{i3}<address type='spapr-vio' reg='0x{ser.spapr_reg:08x}'/>")
        L.append(f"{i2}</serial>")
    if dom.console:
        L += (f"{i2}<console type='pty'>", f"{i3}<target type='serial' port='0'/>")
        if dom.serials[0].spapr_reg is not None:
            L.append(f"{i3}<address type='spapr-vio' reg='0x{dom.serials[0].spapr_reg:08x}'/>")
        L.append(f"{i2}</console>")
    for inp in dom.inputs:
        if migratable and inp.type == "keyboard" and inp.bus == "ps2":
            continue
        _device(f"input type='{inp.type}' bus='{inp.bus}'", "input", inp.info, L)
    for a in dom.audios:
        L.append(f"{i2}<audio id='{a.id}' type='{a.type}'/>")
    for r in dom.redirdevs:
        L += (f"{i2}<redirdev bus='{r.bus}' type='{r.type}'>", f"{i3}{r.source_xml}")
        if r.protocol:
            L.append(f"{i3}<protocol type='{r.protocol}'/>")
        _info(r.info, i3, L)
        L.append(f"{i2}</redirdev>")
    for h in dom.hubs:
        _device(f"hub type='{h.type}'", "hub", h.info, L)
    for w in dom.watchdogs:
        L.append(f"{i2}<watchdog model='{w.model}' action='{w.action}'/>")
    if dom.memballoon is not None:
        mb = dom.memballoon
        head = f"memballoon model='{mb.model}'"
        if mb.autodeflate:
            head += f" autodeflate='{mb.autodeflate}'"
        _device(head, "memballoon", mb.info, L)
    for p in dom.panics:
        _device("panic" + (f" model='{p.model}'" if p.model else ""), "panic", p.info, L)
    L += (f"{i1}</devices>", "</domain>", "")
    return "\n".join(L)
