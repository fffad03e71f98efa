"""Structural reduction of a failing domain XML (delta debugging over elements and attributes).

Why not hypothesis' shrinker: cases are checked in batches against a real libvirt (driver restarts
are amortised over a batch), which hypothesis' one-example-at-a-time shrinking cannot use. This
reducer works on the XML itself, so it also minimises inputs that did not come from a strategy
(upstream test files, user reports). It keeps ``name``, ``uuid``, ``memory`` and ``os``.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

KEEP_TOP = {"name", "uuid", "memory", "os"}
KEEP_ATTRS = {"type", "bus"}


def _serialise(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def _candidates(root: etree._Element):
    """Yield (description, mutate) pairs from coarse to fine; ``mutate`` edits a copy in place."""
    for i, child in enumerate(list(root)):
        if child.tag not in KEEP_TOP and child.tag != "devices":
            yield f"drop <{child.tag}>", (lambda r, i=i: r.remove(r[i]))
    devices = root.find("devices")
    if devices is not None:
        n = len(devices)
        for i in range(n):
            yield f"drop device {i}", (lambda r, i=i: r.find("devices").remove(r.find("devices")[i]))
        for i, dev in enumerate(devices):
            for j, _sub in enumerate(dev):
                yield f"drop child {j} of device {i}", (
                    lambda r, i=i, j=j: r.find("devices")[i].remove(r.find("devices")[i][j]))
            for attr in dev.attrib:
                if attr not in KEEP_ATTRS:
                    yield f"drop @{attr} of device {i}", (
                        lambda r, i=i, a=attr: r.find("devices")[i].attrib.pop(a))


def reduce_xml(xml: str, still_fails: Callable[[list[str]], list[bool]], max_rounds: int = 12) -> tuple[str, int]:
    """Smallest variant of ``xml`` for which the failure persists; returns (xml, rounds used).

    ``still_fails`` takes a whole round of candidates at once (one batch on the backends, so one
    driver restart instead of one per candidate) and says which still fail the same way.
    """
    parser = etree.XMLParser(remove_blank_text=True)
    best = etree.fromstring(xml.encode(), parser)
    rounds = 0
    while rounds < max_rounds:
        trials = []
        for _desc, mutate in _candidates(best):
            trial = etree.fromstring(_serialise(best).encode(), parser)
            try:
                mutate(trial)
            except (IndexError, KeyError, AttributeError, TypeError):
                continue
            trials.append(trial)
        if not trials:
            break
        rounds += 1
        verdicts = still_fails([_serialise(t) for t in trials])
        winner = next((t for t, v in zip(trials, verdicts, strict=True) if v), None)
        if winner is None:
            break
        best = winner
    return etree.tostring(best, encoding="unicode", pretty_print=True), rounds
