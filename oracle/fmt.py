"""Domain XML formatting, byte-compatible with libvirt 9.0.0's virDomainDefFormatInternal
(src/conf/domain_conf.c) for the modelled vocabulary: element order, attribute order,
two-space indentation, single quotes, trailing newline.

``migratable=True`` applies the format-time parts of VIR_DOMAIN_DEF_FORMAT_MIGRATABLE
(virDomainInputDefFormat drops PS/2 and Xen keyboards; virDomainControllerDefFormatPCI drops the
spapr-pci-host-bridge model name); the definition-level removals live in oracle.migratable.
"""

from __future__ import annotations

from oracle.model import Controller, Domain, Info


def _addr(info: Info, ind: str) -> list[str]:
    if info.type == "pci" and info.pci is not None:
        a = info.pci
        multi = f" multifunction='{a.multi}'" if a.multi else ""
        head = (f"{ind}<address type='pci' domain='0x{a.domain:04x}' bus='0x{a.bus:02x}' "
                f"slot='0x{a.slot:02x}' function='0x{a.function:x}'{multi}")
        if a.zpci_uid is None and a.zpci_fid is None:
            return [head + "/>"]
        z = []
        if a.zpci_uid is not None:
            z.append(f"uid='0x{a.zpci_uid:04x}'")
        if a.zpci_fid is not None:
            z.append(f"fid='0x{a.zpci_fid:08x}'")
        return [head + ">", f"{ind}  <zpci {' '.join(z)}/>", f"{ind}</address>"]
    if info.type == "usb":
        port = f" port='{'.'.join(str(p) for p in info.usb_port)}'" if info.usb_port else ""
        return [f"{ind}<address type='usb' bus='{info.usb_bus}'{port}/>"]
    if info.type == "virtio-mmio":
        return [f"{ind}<address type='virtio-mmio'/>"]
    if info.type == "ccw" and info.ccw is not None:
        c = info.ccw
        return [f"{ind}<address type='ccw' cssid='0x{c[0]:02x}' ssid='0x{c[1]:x}' devno='0x{c[2]:04x}'/>"]
    return []


def _info(info: Info, ind: str) -> list[str]:
    """virDomainDeviceInfoFormat: alias, master, address."""
    out = []
    if info.alias is not None:
        out.append(f"{ind}<alias name='{info.alias}'/>")
    if info.master_startport is not None:
        out.append(f"{ind}<master startport='{info.master_startport}'/>")
    return out + _addr(info, ind)


def _element(ind: str, head: str, children: list[str], tag: str) -> list[str]:
    if children:
        return [f"{ind}<{head}>", *children, f"{ind}</{tag}>"]
    return [f"{ind}<{head}/>"]


def _controller(c: Controller, ind: str, migratable: bool) -> list[str]:
    head = f"controller type='{c.type}' index='{c.idx}'"
    if c.model is not None:
        head += f" model='{c.model}'"
    if c.type == "usb" and c.ports is not None:
        head += f" ports='{c.ports}'"
    ch: list[str] = []
    i2 = ind + "  "
    if c.type == "pci":
        name = c.model_name
        if c.model == "pci-root" and name == "spapr-pci-host-bridge" and migratable:
            name = None
        if name:
            ch.append(f"{i2}<model name='{name}'/>")
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
            ch.append(f"{i2}<target {' '.join(t)}/>")
    ch += _info(c.info, i2)
    return _element(ind, head, ch, "controller")


def format_domain(dom: Domain, migratable: bool = False) -> str:
    L: list[str] = [f"<domain type='{dom.virt_type}'>"]
    i1, i2, i3 = "  ", "    ", "      "
    L.append(f"{i1}<name>{dom.name}</name>")
    L.append(f"{i1}<uuid>{dom.uuid}</uuid>")
    L.append(f"{i1}<memory unit='KiB'>{dom.memory}</memory>")
    L.append(f"{i1}<currentMemory unit='KiB'>{dom.current_memory}</currentMemory>")
    cur = f" current='{dom.vcpu_current}'" if dom.vcpu_current is not None else ""
    L.append(f"{i1}<vcpu placement='{dom.vcpu_placement}'{cur}>{dom.vcpus}</vcpu>")
    L.append(f"{i1}<os>")
    mach = f" machine='{dom.machine}'" if dom.machine else ""
    L.append(f"{i2}<type arch='{dom.arch}'{mach}>{dom.os_type}</type>")
    for tag, text in dom.os_direct:
        L.append(f"{i2}<{tag}>{text}</{tag}>")
    for b in dom.boot_devs:
        L.append(f"{i2}<boot dev='{b}'/>")
    L.append(f"{i1}</os>")
    feats = [f"{i2}<{f}/>" for f in dom.features]
    if dom.gic_version is not None:
        feats.append(f"{i2}<gic version='{dom.gic_version}'/>")
    if feats:
        L += [f"{i1}<features>", *feats, f"{i1}</features>"]
    if dom.cpu is not None:
        c = dom.cpu
        head = f"cpu mode='{c.mode}'"
        if c.match:
            head += f" match='{c.match}'"
        if c.check:
            head += f" check='{c.check}'"
        ch = []
        if c.model:
            fb = f" fallback='{c.fallback}'" if c.fallback else ""
            ch.append(f"{i2}<model{fb}>{c.model}</model>")
        L += _element(i1, head, ch, "cpu")
    L.append(f"{i1}<clock offset='{dom.clock_offset}'/>")
    L.append(f"{i1}<on_poweroff>{dom.on_poweroff}</on_poweroff>")
    L.append(f"{i1}<on_reboot>{dom.on_reboot}</on_reboot>")
    L.append(f"{i1}<on_crash>{dom.on_crash}</on_crash>")
    L.append(f"{i1}<devices>")
    if dom.emulator:
        L.append(f"{i2}<emulator>{dom.emulator}</emulator>")
    for c in dom.controllers:
        L += _controller(c, i2, migratable)
    for ser in dom.serials:
        # migratable XML resets spapr-vio/system serial targets to the default (qemuDomainDefFormatBufInternal)
        plain = migratable and ser.target_type in ("spapr-vio-serial", "system-serial")
        ch = [f"{i3}<target port='{ser.port}'/>"] if plain else [
            f"{i3}<target type='{ser.target_type}' port='{ser.port}'>",
            f"{i3}  <model name='{ser.model}'/>", f"{i3}</target>"]
        if ser.spapr_reg is not None:
            ch.append(f"{i3}<address type='spapr-vio' reg='0x{ser.spapr_reg:08x}'/>")
        L += [f"{i2}<serial type='pty'>", *ch, f"{i2}</serial>"]
    if dom.console:
        ch = [f"{i3}<target type='serial' port='0'/>"]
        if dom.serials[0].spapr_reg is not None:
            ch.append(f"{i3}<address type='spapr-vio' reg='0x{dom.serials[0].spapr_reg:08x}'/>")
        L += [f"{i2}<console type='pty'>", *ch, f"{i2}</console>"]
    for inp in dom.inputs:
        if migratable and inp.type == "keyboard" and inp.bus == "ps2":
            continue
        L += _element(i2, f"input type='{inp.type}' bus='{inp.bus}'", _info(inp.info, i3), "input")
    for a in dom.audios:
        L.append(f"{i2}<audio id='{a.id}' type='{a.type}'/>")
    for r in dom.redirdevs:
        ch = [f"{i3}{r.source_xml}"]
        if r.protocol:
            ch.append(f"{i3}<protocol type='{r.protocol}'/>")
        ch += _info(r.info, i3)
        L += _element(i2, f"redirdev bus='{r.bus}' type='{r.type}'", ch, "redirdev")
    for h in dom.hubs:
        L += _element(i2, f"hub type='{h.type}'", _info(h.info, i3), "hub")
    if dom.memballoon is not None:
        mb = dom.memballoon
        head = f"memballoon model='{mb.model}'"
        if mb.autodeflate:
            head += f" autodeflate='{mb.autodeflate}'"
        L += _element(i2, head, _info(mb.info, i3), "memballoon")
    for p in dom.panics:
        head = "panic" + (f" model='{p.model}'" if p.model else "")
        L += _element(i2, head, _info(p.info, i3), "panic")
    L.append(f"{i1}</devices>")
    L.append("</domain>")
    return "\n".join(L) + "\n"
