"""The ways a user names a device to detach, drawn from the domain as libvirt stored it.

A config detach names a device by an XML element, and libvirt finds the stored device it means
(9.0.0 src/conf/domain_conf.c: virDomainControllerFind matches type and index,
virDomainInputDefFind type and bus (and the address or alias when the request has one),
virDomainHubDefFind and virDomainRedirdevDefFind likewise). Requests built only from what the
fuzzer attached earlier use one form; users write several, each a different path through those
matchers, so each form here is one:

- ``as-stored``: the element exactly as stored (address, alias, model, ports);
- ``bare``: without its ``<address>`` and ``<alias>`` (libvirt must find it by its kind);
- ``by-alias``: only the kind and a user alias (``ua-...``), when the stored device has one;
- ``index-only``: a controller as ``<controller type='usb' index='N'/>``, the default controller
  (index 0) and ICH9 companion controllers (which share their EHCI master's index) included.

Invariant 7 judges each accepted detach (exactly the named device gone, nothing else changed).
"""

from __future__ import annotations

from lxml import etree

_PARSER = etree.XMLParser(remove_blank_text=True)
# the devices the oracle and the generator speak of: (element, the attribute that must match)
_DETACHABLE = {"controller": "type", "input": "bus", "hub": "type", "redirdev": "bus"}


def _usb(el: etree._Element) -> bool:
    return (el.tag == "controller" and el.get("type") == "usb") or \
        (el.tag in ("input", "redirdev") and el.get("bus") == "usb") or (el.tag == "hub" and el.get("type") == "usb")


def _xml(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


def forms(domain_xml: str) -> list[tuple[str, str]]:
    """(form name, device XML) for every USB device and controller of the stored ``domain_xml``."""
    try:
        root = etree.fromstring(domain_xml.encode(), _PARSER)
    except etree.XMLSyntaxError:
        return []
    devices = root.find("devices")
    out: list[tuple[str, str]] = []
    for el in devices if devices is not None else []:
        if not isinstance(el.tag, str) or el.tag not in _DETACHABLE or not _usb(el):
            continue
        out.append(("as-stored", _xml(el)))
        bare = etree.fromstring(_xml(el), _PARSER)
        for child in list(bare):
            if child.tag in ("address", "alias"):
                bare.remove(child)
        out.append(("bare", _xml(bare)))
        alias = el.find("alias")
        if alias is not None and (alias.get("name") or "").startswith("ua-"):
            named = etree.Element(el.tag, {k: v for k, v in el.attrib.items() if k in ("type", "bus")})
            etree.SubElement(named, "alias", name=alias.get("name"))
            out.append(("by-alias", _xml(named)))
        if el.tag == "controller" and el.get("index") is not None:
            out.append(("index-only", _xml(etree.Element("controller", type="usb", index=el.get("index")))))
    return out
