"""First difference between two XML documents, as an XPath with both sides.

Why XPath: a finding report must point a maintainer at the element that differs ("the USB
controller's model", "the memballoon's PCI slot"), and the de-duplication signature must be
stable across inputs that differ only in irrelevant details (indexes of sibling elements).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

_POSITION = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Difference:
    xpath: str           # e.g. /domain/devices/controller[2]/@model
    left: str | None     # text/attribute value on the left side (None = absent)
    right: str | None

    @property
    def generic_xpath(self) -> str:
        """The XPath without positional indexes, with the element's type/model key kept."""
        return _POSITION.sub("", self.xpath)


def _label(el: etree._Element) -> str:
    """A step that says what the element is (controller[@type='usb']) rather than just where."""
    for key in ("type",):
        if el.get(key) is not None:
            return f"{el.tag}[@{key}='{el.get(key)}']"
    return el.tag


def _canon(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n")


def _summary(el: etree._Element) -> str:
    attrs = " ".join(f"{k}='{v}'" for k, v in el.attrib.items())
    return f"<{el.tag} {attrs}>" if attrs else f"<{el.tag}>"


def _position(siblings: list, i: int) -> int:
    """1-based position among siblings with the same label (so the XPath really selects it)."""
    label = _label(siblings[i])
    return sum(1 for s in siblings[: i + 1] if _label(s) == label)


def _diff(a: etree._Element, b: etree._Element, path: str) -> Difference | None:
    if a.tag != b.tag:
        return Difference(path, a.tag, b.tag)
    for k in sorted(set(a.attrib) | set(b.attrib)):
        if a.get(k) != b.get(k):
            return Difference(f"{path}/@{k}", a.get(k), b.get(k))
    ta, tb = (a.text or "").strip(), (b.text or "").strip()
    if ta != tb:
        return Difference(f"{path}/text()", ta, tb)
    ca, cb = list(a), list(b)
    ka, kb = [_canon(c) for c in ca], [_canon(c) for c in cb]
    if ka == kb:
        return None  # identical children: nothing below differs (the common case; prunes the walk)
    if len(ka) == len(kb) and sorted(ka) == sorted(kb):
        i = next(k for k in range(len(ka)) if ka[k] != kb[k])
        # same children, other order: say so instead of a misleading value diff
        return Difference(f"{path}/(order)", _summary(ca[i]), _summary(cb[i]))
    aligned = _align(ca, cb)
    if aligned is not None:
        return _diff_aligned(ca, cb, ka, kb, aligned, path)
    for i in range(max(len(ca), len(cb))):
        if i >= len(ca):
            return Difference(f"{path}/{_label(cb[i])}", None, etree.tostring(cb[i]).decode().strip())
        if i >= len(cb):
            return Difference(f"{path}/{_label(ca[i])}", etree.tostring(ca[i]).decode().strip(), None)
        if ka[i] == kb[i]:
            continue
        d = _diff(ca[i], cb[i], f"{path}/{_label(ca[i])}[{_position(ca, i)}]")
        if d:
            return d
    return None


def _identity(el: etree._Element) -> tuple:
    """What makes a child the same device on both sides: tag, type, index, bus and id (a
    controller's type and index name it; a device without an index is named by its tag and type)."""
    return (el.tag, el.get("type"), el.get("index"), el.get("bus"), el.get("id"))


def _keys(children: list) -> list[tuple]:
    """Each child's identity plus its ordinal among children of the same identity, so that two
    identical USB mice are "the first mouse" and "the second mouse" on both sides."""
    seen: dict[tuple, int] = {}
    out = []
    for c in children:
        ident = _identity(c)
        seen[ident] = seen.get(ident, 0) + 1
        out.append((*ident, seen[ident]))
    return out


def _align(ca: list, cb: list) -> dict[int, int] | None:
    """Children of ``a`` matched to children of ``b`` by identity (see ``_keys``), unless the two
    sides have the same identities in the same order (then positions already match). Matching by
    identity keeps a reordering from hiding the real difference: "the USB controller lost
    ports='12'", not "the first controller's model differs" because another controller moved in
    front of it; and it never compares a PCI controller with a USB controller."""
    ia, ib = _keys(ca), _keys(cb)
    if ia == ib:
        return None
    where = {k: j for j, k in enumerate(ib)}
    return {i: where[k] for i, k in enumerate(ia) if k in where}


def _diff_aligned(ca: list, cb: list, ka: list, kb: list, aligned: dict[int, int], path: str) -> Difference | None:
    for i, el in enumerate(ca):
        j = aligned.get(i)
        if j is None:
            return Difference(f"{path}/{_label(el)}", etree.tostring(el).decode().strip(), None)
        if ka[i] != kb[j]:
            d = _diff(el, cb[j], f"{path}/{_label(el)}[{_position(ca, i)}]")
            if d:
                return d
    extra = sorted(set(range(len(cb))) - set(aligned.values()))
    if extra:
        el = cb[extra[0]]
        return Difference(f"{path}/{_label(el)}", None, etree.tostring(el).decode().strip())
    # same children after matching, in another order
    i = next((k for k in range(min(len(ka), len(kb))) if ka[k] != kb[k]), 0)
    return Difference(f"{path}/(order)", _summary(ca[i]), _summary(cb[i]))


def first_difference(left: str, right: str) -> Difference | None:
    """None when the documents are equal element by element (whitespace between elements ignored)."""
    parser = etree.XMLParser(remove_blank_text=True)
    a = etree.fromstring(left.encode(), parser)
    b = etree.fromstring(right.encode(), parser)
    return _diff(a, b, f"/{a.tag}")
