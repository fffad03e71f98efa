"""Migratable XML: the definition-level removals of qemuDomainDefFormatBufInternal
(src/qemu/qemu_domain.c, VIR_DOMAIN_XML_MIGRATABLE branch) in libvirt 9.0.0.

- i440fx: a lone USB controller at index 0 with no model or piix3-uhci is dropped (libvirt
  <= 0.9.4 could not express it);
- a lone PCI controller at index 0 of model pci-root (no pcihole64) is dropped;
- the first s390/pseries panic device is dropped;
- a lone <audio> equal to the one libvirt would add by default is dropped
  (qemuDomainDefClearDefaultAudioBackend).
Format-time parts (PS/2 keyboard, spapr model name) are in oracle.fmt.
"""

from __future__ import annotations

from oracle import usb
from oracle.capsets import CapSet
from oracle.fmt import format_domain
from oracle.model import Domain, clone_domain, insert_controller, shallow_copy
from oracle.postparse import is_i440fx, is_q35
from oracle.profile import Profile


def migratable_xml(dom: Domain, caps: CapSet, prof: Profile) -> str:
    """XMLDesc(VIR_DOMAIN_XML_MIGRATABLE): virDomainDefCopy (format + re-parse, which re-sorts
    controllers and may fail with a parse error -- then XMLDesc fails), removals, format."""
    from oracle.pipeline import reparse

    if _reparse_may_fail(dom):
        d = reparse(format_domain(dom, migratable=True), caps, prof)
    elif _hub_relative_ports(dom):
        # the re-parse's post-parse re-reserves the given USB addresses with the hubs in parse
        # (= model) order, which fails when a hub-relative port precedes its hub; that pass is
        # the only one not idempotent here, so it is redone on a private copy
        d = _resorted_copy(dom, deep=True)
        usb.assign_usb(d, prof, new_domain=False)
    else:
        d = _resorted_copy(dom)
    return format_domain(make_migratable(d, prof), migratable=True)


def _reparse_may_fail(dom: Domain) -> bool:
    """A model='none' USB controller beside other USB controllers (e.g. ones post-parse added)
    fails the re-parse in virDomainDefControllersParse ("Can't add another USB controller");
    then XMLDesc fails, and only the real path produces that error in libvirt's order.
    (A lone 'none' controller re-parses to the same definition.)"""
    usbs = [c for c in dom.controllers if c.type == "usb"]
    return len(usbs) > 1 and any(c.model == "none" for c in usbs)


def _hub_relative_ports(dom: Domain) -> bool:
    return any(len(info.usb_port) > 1 for info in usb_infos(dom))


def _reparse_may_differ(dom: Domain) -> bool:
    """Whether re-parsing the formatted definition can do more than re-sort the controllers.

    Post-parse and address assignment are idempotent on their own output (no ABI_UPDATE on the
    re-parse), except for USB: a model='none' USB controller beside the ones post-parse added
    fails virDomainDefControllersParse, and hub-relative ports (bus 0 port 1.1) are resolved
    against the hubs in parse order (virDomainUSBAddressFindPort).  Those take the real path.
    (Hotplug's persistent copy uses this conservative test; migratable_xml uses the narrower
    _reparse_may_fail / _hub_relative_ports, checked against the real path by
    tests/test_oracle_fastpaths.py.)"""
    for c in dom.controllers:
        if c.type == "usb" and c.model == "none":
            return True
    for info in usb_infos(dom):
        if len(info.usb_port) > 1:
            return True
    return False


def _resorted_copy(dom: Domain, deep: bool = False) -> Domain:
    """The parse half of virDomainDefCopy in model form: controllers re-inserted in formatted
    order (virDomainControllerInsertPreAlloced re-sorts them).  Shallow (the lists
    make_migratable edits are copied, devices shared read-only) unless ``deep``."""
    if deep:
        d = clone_domain(dom)
    else:
        d = shallow_copy(dom)
        d.panics = list(dom.panics)
    ctrls, d.controllers = d.controllers, []
    for c in ctrls:
        insert_controller(d, c)
    return d


def usb_infos(dom: Domain):
    for x in (*dom.controllers, *dom.hubs, *dom.inputs, *dom.redirdevs):
        if x.info.type == "usb":
            yield x.info


def make_migratable(d: Domain, prof: Profile | None = None) -> Domain:
    """Apply the removals in place: ``d`` is the private re-parsed copy made by migratable_xml
    (virDomainDefCopy), so no further copy is needed."""
    usbs = [c for c in d.controllers if c.type == "usb"]
    usb = usbs[0] if len(usbs) == 1 else None
    rule = prof.rule("usb_migratable_drop") if prof is not None else "i440fx-none-or-piix3"
    if rule == "any-none":  # libvirt 0.9.12 .. 1.3.4 (409b5f54): any arch, no model
        drop = usb is not None and usb.idx == 0 and usb.model is None
    elif rule == "x86-i440fx-none":  # 1.3.5 .. 2.1.0 (192a53e0, be1a7e6d)
        drop = usb is not None and d.arch in ("x86_64", "i686") and is_i440fx(d) and usb.idx == 0 \
            and usb.model is None
    else:  # 2.2.0+ (31de0fab): also an explicit piix3-uhci; user aliases are kept
        drop = usb is not None and is_i440fx(d) and usb.idx == 0 and usb.model in (None, "piix3-uhci") \
            and usb.info.alias is None
    if not drop:
        usb = None
    pcis = [c for c in d.controllers if c.type == "pci"]
    pci = pcis[0] if len(pcis) == 1 else None
    if not (pci is not None and pci.idx == 0 and pci.model == "pci-root" and pci.info.alias is None):
        pci = None
    d.controllers = [c for c in d.controllers if c is not usb and c is not pci]
    for i, p in enumerate(d.panics):
        if p.model in ("s390", "pseries"):
            del d.panics[i]
            break
    # no graphics are modelled, so the default backend is type='none' id=1
    if len(d.audios) == 1 and d.audios[0].type == "none" and d.audios[0].id == 1:
        d.audios = []
    # libvirt >= 9.1 (profile switch q35_itco_watchdog): "Old libvirt did not know about the iTCO
    # watchdog in q35 machine types ... Remove it if it has the default action set."
    if prof is not None and prof.rule("q35_itco_watchdog") and is_q35(d):
        itco = next((w for w in d.watchdogs if w.model == "itco"), None)
        if itco is not None and itco.action == "reset":
            d.watchdogs = [w for w in d.watchdogs if w is not itco]
    return d
