"""Invariant 7, hotplug does what it says: an accepted config attach/detach changes exactly one device.

libvirt answers an attach or detach with success or an error; the stored definition afterwards
is only checked for re-definability (invariant 4). This check compares the definition before
and after the step, device by device (children of ``<devices>``, each canonicalised: attributes
sorted, so libvirt re-ordering controllers is not a change):

- attach: every device of before is still there unchanged, and what is new is the requested
  device (same element and ``type``/``bus``/``model`` where the request names them) plus, at most,
  PCI controllers libvirt adds to make room for it (``pcie-root-port``, ``pci-bridge``,
  ``pcie-to-pci-bridge``, ``dmi-to-pci-bridge``: qemuDomainAttachDeviceConfig assigns the new
  device's address with qemuDomainAssignAddresses, which grows the PCI bus set, libvirt 9.0.0
  src/qemu/qemu_domain_address.c, virDomainPCIAddressSetGrow). ``multifunction='on'`` on an
  existing function-0 address is not a change: it is set for every slot with several functions
  in use (virDomainPCIAddressSetAllMulti, same file), so a device added at function 1 sets it on
  the device at function 0;
- detach: exactly one device is gone, it is of the requested kind, and nothing else changed;
- attach then detach of the same device (as libvirt stored it: its index, address, alias;
  ``added_device``): accepted, and it gives back the original devices (the PCI controllers the
  attach added for it may stay: libvirt does not remove controllers it added implicitly,
  qemuDomainDetachDeviceConfig removes only the device it is given).

A device's identity is its element name plus type, bus, model and index; its address is part of
its canonical form, so a device that moved is "changed".
"""

from __future__ import annotations

from collections import Counter

from lxml import etree

from fuzz.checks import Failure, Observation

INVARIANT = "7-hotplug-does-what-it-says"
_IMPLICIT_ON_ATTACH = {("controller", "pci", m)
                       for m in ("pcie-root-port", "pci-bridge", "pcie-to-pci-bridge", "dmi-to-pci-bridge")}
_PARSER = etree.XMLParser(remove_blank_text=True)


def _canonical(el: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(el), _PARSER)
    for node in copy.iter():
        if isinstance(node.tag, str):
            items = sorted(node.attrib.items())
            node.attrib.clear()
            node.attrib.update(items)
            node.text = (node.text or "").strip() or None
            node.tail = None
            if node.tag == "address" and node.get("multifunction") == "on":
                del node.attrib["multifunction"]
    return etree.tostring(copy, encoding="unicode")


def _devices(xml: str) -> Counter[str]:
    root = etree.fromstring(xml.encode(), _PARSER)
    devs = root.find("devices")
    return Counter(_canonical(d) for d in (devs if devs is not None else []) if isinstance(d.tag, str)
                   and d.tag != "emulator")


def _kind(canonical_or_xml: str) -> tuple[str, str | None, str | None, str | None]:
    el = etree.fromstring(canonical_or_xml.encode(), _PARSER)
    return el.tag, el.get("type"), el.get("bus"), el.get("model")


def _label(kind: tuple) -> str:
    """``<controller type='usb' model='ich9-ehci1'>``: a device kind as a message names it."""
    return f"<{kind[0]} type={kind[1]!r}" + (f" model={kind[3]!r}" if kind[3] else "") + ">"


def _matches(requested: tuple, got: tuple) -> bool:
    """The stored device is what was requested: same element; type/bus/model where the request set them."""
    return requested[0] == got[0] and all(r is None or r == g for r, g in zip(requested[1:], got[1:], strict=True))


def added_device(before_xml: str, after_xml: str, requested_xml: str) -> str | None:
    """The device an accepted attach added, as libvirt stored it (with the index, address and
    alias it was given): what a detach of "the same device" names. None if it cannot be told."""
    before, after = _devices(before_xml), _devices(after_xml)
    requested = _kind(requested_xml)
    new = [d for d in (after - before) if _matches(requested, _kind(d))]
    return new[0] if len(new) == 1 else None


def hotplug_does_what_it_says(obs: Observation, party: str) -> list[Failure]:
    r = obs.hotplug
    if r is None or r.kind != "ok" or r.xml is None or obs.define.xml is None or obs.device is None:
        return []
    before, after = _devices(obs.define.xml), _devices(r.xml)
    gone, new = before - after, after - before
    requested = _kind(obs.device)
    if obs.step == "attach":
        wanted = [d for d in new if _matches(requested, _kind(d))]
        implicit = [d for d in new if _kind(d)[0:2] + (_kind(d)[3],) in _IMPLICIT_ON_ATTACH]
        if gone:
            d = _kind(next(iter(gone)))
            return [Failure(INVARIANT, party, f"attach of <{requested[0]}> changed or removed an existing "
                            f"<{d[0]} type={d[1]!r} model={d[3]!r}>", f"attach/changed/{d[0]}[{d[1]}]")]
        if len(wanted) != 1 or sum(new.values()) != 1 + len([d for d in implicit if d not in wanted]):
            kinds = sorted(f"<{k[0]} type={k[1]!r}>" for k in map(_kind, new.elements()))
            return [Failure(INVARIANT, party, f"attach of <{requested[0]}> added {', '.join(kinds) or 'nothing'}",
                            f"attach/added/{requested[0]}")]
    if obs.step == "attach" and obs.undo is not None:
        u = obs.undo
        if u.kind != "ok" or u.xml is None:
            return [Failure(INVARIANT, party, f"attached <{requested[0]}> cannot be detached again: {u.error}",
                            None, None, u.error)]
        undone = _devices(u.xml)
        lost, extra = before - undone, undone - before
        if lost or any(_kind(d)[0:2] + (_kind(d)[3],) not in _IMPLICIT_ON_ATTACH for d in extra):
            what = sorted(f"<{k[0]} type={k[1]!r}>" for k in map(_kind, (lost + extra).elements()))
            return [Failure(INVARIANT, party, f"attach then detach of <{requested[0]}> does not restore the "
                            f"devices: {', '.join(what)}", f"undo/{requested[0]}")]
        return []
    if obs.step == "detach":
        if sum(gone.values()) != 1 or new or not _matches(requested, _kind(next(iter(gone)))):
            what = sorted(_label(k) for k in map(_kind, gone.elements()))
            named = _label(requested)
            return [Failure(INVARIANT, party, f"detach of {named} removed {', '.join(what) or 'nothing'}"
                            + (f" and changed {sum(new.values())} other(s)" if new else ""),
                            f"detach/{requested[0]}")]
    return []
