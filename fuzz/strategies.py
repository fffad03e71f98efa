"""Hypothesis strategies for libvirt QEMU domain XML around USB controllers, PCI addresses, hotplug.

Why this shape:

* A draw produces a :class:`DomainSpec` (plain frozen data) and :func:`to_xml` renders it. The
  spec is what a failing example shows and what the fuzzer can classify; the XML is derived, so it
  is deterministic for a given draw.
* Every list is drawn with ``st.lists`` and every optional part with ``st.none()`` first or a
  ``_BOOLEANS`` whose ``False`` means "leave it out", so shrinking walks towards the minimal
  domain (no devices, alias machine, no ``<vcpu>``...).
* About a quarter of the domains carry one deliberate, plausible mistake (a *flaw*: clashing PCI
  addresses, ``none`` beside another USB controller, too many ports, ...). The spec records it in
  ``DomainSpec.flaws`` so results can be grouped by error class. The decision is drawn as an integer
  whose shrink target (0) is "no flaw", so a shrunk failure keeps the flaw only if it matters.
* Name and UUID are derived from the content (UUID5 of the spec's data), so the same draw always
  defines the same domain, and two different domains never collide in one libvirt.
* The fuzzer's batches run the same definitions without hypothesis' engine, drawing from a seeded
  ``random.Random`` (:class:`RandomDraw`, see "drawing" below): the engine cost ~15x the rest.
"""

from __future__ import annotations

import random
import uuid as uuid_mod
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, wraps
from typing import Any, TypeVar

from hypothesis import strategies as st

from fuzz import vocabulary as voc

T = TypeVar("T")

# --- drawing: through hypothesis, or straight from a seeded random.Random ------------------------
# The strategies below serve two drivers. Tests and shrinking run them under hypothesis (``@given``,
# ``find``). Fuzz batches (fuzz.generate.draw_batch) run the *same* composite definitions with a
# ``RandomDraw`` as their ``draw``: around the ~60 draw calls of a domain, hypothesis' engine did
# ~3.5 ms of bookkeeping (spans, choice tree, mutating earlier examples), in a 6 ms per-case budget.
# So every strategy the composites draw from is made here by a factory that also registers its
# *random twin*: how to draw the same kind of value from a random.Random, with hypothesis'
# per-choice distribution for these small ranges (uniform integers and elements, fair booleans,
# list lengths geometric with hypothesis' average size).

_TWINS: weakref.WeakKeyDictionary[st.SearchStrategy, Callable[[RandomDraw], Any]] = weakref.WeakKeyDictionary()
"""strategy -> its random twin. Weak keys: a strategy built for one call (unhashable arguments,
which only tests use) does not stay alive because of its twin."""


class RandomDraw:
    """A ``draw`` function for the composites here that takes its choices from ``rng``.

    Deterministic for a given ``rng`` state, so a seed reproduces a batch. Raises ``TypeError`` for
    a strategy not made by the factories of this module (it would have no twin).
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, strategy: st.SearchStrategy[T]) -> T:
        try:
            twin = _TWINS[strategy]
        except KeyError:
            raise TypeError(f"{strategy!r} has no random twin (build it with fuzz.strategies' factories)") from None
        return twin(self)


def random_twin(strategy: st.SearchStrategy[T], twin: Callable[[RandomDraw], T]) -> st.SearchStrategy[T]:
    """Register how ``RandomDraw`` draws ``strategy``; returns ``strategy``."""
    _TWINS[strategy] = twin
    return strategy


def composite(definition: Callable[..., T]) -> Callable[..., st.SearchStrategy[T]]:
    """``st.composite`` with one strategy object per argument tuple and a random twin.

    Sharing the object matters for hypothesis too: building a strategy costs more than drawing from
    it, and the composites here are called inside other composites on every draw. The twin runs the
    same definition with the ``RandomDraw`` as ``draw``. Unhashable arguments get a fresh object.
    """
    build = st.composite(definition)

    def make(args: tuple, kwargs: dict) -> st.SearchStrategy[T]:
        return random_twin(build(*args, **kwargs), lambda draw: definition(draw, *args, **kwargs))

    shared = cache(lambda args, kw_items: make(args, dict(kw_items)))

    @wraps(definition)
    def factory(*args: Any, **kwargs: Any) -> st.SearchStrategy[T]:
        try:
            return shared(args, tuple(sorted(kwargs.items())))
        except TypeError:  # unhashable argument
            return make(args, kwargs)

    return factory


def mapped(strategy: st.SearchStrategy[Any], f: Callable[[Any], T]) -> st.SearchStrategy[T]:
    """``strategy.map(f)`` with its random twin."""
    return random_twin(strategy.map(f), lambda draw: f(draw(strategy)))


def _p_continue(average: float, span: int) -> float:
    """P(one more element) giving lists of ``span`` optional elements at most an ``average`` length:
    the mean of a geometric length capped at ``span`` is ``(1/(1-p) - 1) * (1 - p**span)``, solved
    by bisection (what hypothesis' ``many`` does for its collections)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        p = (lo + hi) / 2
        if (1 / (1 - p) - 1) * (1 - p**span) < average:
            lo = p
        else:
            hi = p
    return lo


def _list_length(rng: random.Random, min_size: int, max_size: int, p: float) -> int:
    n = min_size
    while n < max_size and rng.random() < p:
        n += 1
    return n


@cache
def _lists(elements: st.SearchStrategy[T], min_size: int = 0, max_size: int = 6,
           unique: bool = False) -> st.SearchStrategy[list[T]]:
    """``st.lists`` with a twin. The twin's length follows hypothesis' collection sizes (average
    ``min(max(2 min, min + 5), (min + max) / 2)``); ``unique`` only for sampled elements (the twin
    redraws duplicates, as hypothesis rejects them)."""
    strategy = st.lists(elements, min_size=min_size, max_size=max_size, unique=unique)
    average = min(max(min_size * 2, min_size + 5), (min_size + max_size) / 2)
    p = _p_continue(average - min_size, max_size - min_size)

    def twin(draw: RandomDraw) -> list[T]:
        n = _list_length(draw.rng, min_size, max_size, p)
        if not unique:
            return [draw(elements) for _ in range(n)]
        out: list[T] = []
        for _ in range(10 * n):  # bounded: hypothesis too gives up on a list after many rejections
            if len(out) == n:
                break
            x = draw(elements)
            if x not in out:
                out.append(x)
        return out

    return random_twin(strategy, twin)


# --- cached primitive strategies ------------------------------------------------------------------
# One object per distinct argument (see ``composite``), each with its random twin.
_BOOLEANS = random_twin(st.booleans(), lambda draw: draw.rng.random() < 0.5)


@cache
def _sampled_t(values: tuple) -> st.SearchStrategy:
    return random_twin(st.sampled_from(values), lambda draw: values[draw.rng.randrange(len(values))])


def _sampled(values: Sequence) -> st.SearchStrategy:
    return _sampled_t(tuple(values))


@cache
def _opt_sampled_t(values: tuple) -> st.SearchStrategy:
    """None or an element, half and half (hypothesis' one_of picks a branch uniformly)."""
    return random_twin(st.none() | st.sampled_from(values),
                       lambda draw: None if draw.rng.random() < 0.5 else values[draw.rng.randrange(len(values))])


def _opt_sampled(values: Sequence) -> st.SearchStrategy:
    return _opt_sampled_t(tuple(values))


@cache
def _ints(lo: int, hi: int) -> st.SearchStrategy:
    return random_twin(st.integers(lo, hi), lambda draw: draw.rng.randint(lo, hi))


@cache
def _opt_ints(lo: int, hi: int) -> st.SearchStrategy:
    return random_twin(st.none() | st.integers(lo, hi),
                       lambda draw: None if draw.rng.random() < 0.5 else draw.rng.randint(lo, hi))


def booleans() -> st.SearchStrategy[bool]:
    """``st.booleans()`` with its random twin, for composites in other modules."""
    return _BOOLEANS


def sampled(values: Sequence[T]) -> st.SearchStrategy[T]:
    """``st.sampled_from(values)`` with its random twin, for composites in other modules."""
    return _sampled(values)


@cache
def unit_floats() -> st.SearchStrategy[float]:
    """Floats in [0, 1] for rates (``draw(unit_floats()) < rate``); the twin is uniform."""
    return random_twin(st.floats(0, 1), lambda draw: draw.rng.random())


# --- plain data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PciAddress:
    """``<address type='pci' .../>``; bus 0 of domain 0 unless stated."""

    slot: int
    function: int = 0
    bus: int = 0
    domain: int = 0
    multifunction: bool = False


@dataclass(frozen=True)
class UsbAddress:
    """``<address type='usb' bus=... port=.../>``; ``port`` is a string because libvirt allows
    hub paths such as ``1.2``."""

    bus: int
    port: str


@dataclass(frozen=True)
class Controller:
    """A ``<controller>``: ``type`` is ``usb`` or ``pci``; ``None`` fields are left out of the XML."""

    type: str
    index: int | None
    model: str | None
    ports: int | None = None
    master_startport: int | None = None
    address: PciAddress | None = None


@dataclass(frozen=True)
class Device:
    """A USB device: ``kind`` input (``type`` tablet/mouse/keyboard), hub (usb) or redirdev (tcp)."""

    kind: str
    type: str
    address: UsbAddress | None = None
    service: int | None = None


@dataclass(frozen=True)
class Memballoon:
    """``<memballoon model=...>`` with an optional explicit PCI address."""

    model: str
    address: PciAddress | None = None


@dataclass(frozen=True)
class DomainSpec:
    """Everything one generated domain consists of.

    ``flaws`` lists the deliberate mistakes injected (empty for a domain meant to be valid); it is
    a label for grouping results, not part of the XML. ``name``/``uuid`` come from
    :func:`spec_uuid` so they are a function of the rest.
    """

    arch: str
    machine: str
    controllers: tuple[Controller, ...]
    devices: tuple[Device, ...]
    memballoon: Memballoon | None
    name: str
    uuid: str
    memory: int = 65536
    memory_unit: str | None = "KiB"
    vcpu: int | None = None
    lifecycle: tuple[tuple[str, str], ...] = ()
    flaws: tuple[str, ...] = ()


FLAWS: tuple[str, ...] = (
    "pci-address-clash",
    "usb-index-gap",
    "pci-index-gap",
    "none-beside-others",
    "none-with-usb-devices",
    "too-many-ports",
    "ports-on-non-xhci",
    "companion-without-master",
    "address-on-implicit",
    "usb-bus-without-controller",
    "usb-port-out-of-range",
    "usb-address-clash",
    "unsupported-usb-model",
    "wrong-pci-root",
)
"""Error classes the generator injects on purpose (see :func:`applicable_flaws`)."""

FLAW_PERCENT = 25
"""Share of domains with a flaw when ``domain_specs(flawed=None)``."""

_FLAW_CUTOFF = 30
"""Under hypothesis, draw ``integers(0, 99) >= 100 - _FLAW_CUTOFF``. Measured, not derived: hypothesis
hands out the shrink target (0) more often than uniform, so a cutoff of 30 gives about FLAW_PERCENT %
flawed domains (checked by tests/test_strategies.py::test_sample_statistics; ~25 % over 1000 draws).
The random twin has no such bias and uses FLAW_PERCENT directly."""


def _flaw_roll_twin(draw: RandomDraw) -> int:
    """0..99, at least ``100 - _FLAW_CUTOFF`` with probability FLAW_PERCENT %."""
    if draw.rng.random() < FLAW_PERCENT / 100:
        return draw.rng.randint(100 - _FLAW_CUTOFF, 99)
    return draw.rng.randrange(100 - _FLAW_CUTOFF)


_FLAW_ROLL = random_twin(st.integers(0, 99), _flaw_roll_twin)
"""A domain gets a flaw (``domain_specs(flawed=None)``) if this is ``>= 100 - _FLAW_CUTOFF``. A plain
integer for hypothesis (mapping it to a bool made shrinking stop at local minima more often)."""

_UUID_NAMESPACE = uuid_mod.UUID("5f1c3a52-8d0e-4f57-9a39-6b1f6c2d7e10")


def spec_uuid(spec: DomainSpec) -> str:
    """UUID5 of everything in ``spec`` that ends up in the XML except name and uuid.

    ``repr`` of frozen dataclasses of tuples/ints/strings is stable across runs (no sets, no hash
    randomisation), which makes the UUID reproducible from the drawn data alone.
    """
    key = (spec.arch, spec.machine, spec.controllers, spec.devices, spec.memballoon, spec.memory,
           spec.memory_unit, spec.vcpu, spec.lifecycle)
    return str(uuid_mod.uuid5(_UUID_NAMESPACE, repr(key)))


def with_identity(spec: DomainSpec, name: str | None = None, uuid: str | None = None) -> DomainSpec:
    """Return ``spec`` with a (re)derived name/uuid, or the given ones.

    ABI checks need a destination with the *source's* identity (libvirt compares name and UUID
    first); pass them explicitly for that.
    """
    u = uuid or spec_uuid(spec)
    return replace(spec, uuid=u, name=name or f"vf-{u[:8]}{u[9:13]}")


@cache
def applicable_flaws(arch: str, machine: str) -> tuple[str, ...]:
    """The flaws that make sense for an arch/machine, in FLAWS order.

    Why restrict: a flaw should be the *only* reason a domain is odd. On s390x no USB device or
    PCI USB model exists at all, so only the USB-controller-level mistakes apply there.
    """
    fam = voc.machine_family(arch, machine)
    pci = fam in voc.PCI_FAMILIES
    usb_devs = voc.has_usb_devices(arch)
    models = set(voc.supported_usb_models(arch))
    out = []
    for f in FLAWS:
        if f in ("pci-address-clash", "pci-index-gap", "address-on-implicit", "wrong-pci-root") and not pci:
            continue
        if f in ("none-with-usb-devices", "usb-bus-without-controller", "usb-port-out-of-range",
                 "usb-address-clash") and not usb_devs:
            continue
        if f == "too-many-ports" and not models & voc.XHCI_MODELS:
            continue
        if f in ("ports-on-non-xhci", "usb-index-gap") and not voc.single_usb_models(arch):
            continue
        if f == "companion-without-master" and "ich9-uhci1" not in models:
            continue
        out.append(f)
    return tuple(out)


# --- rendering ------------------------------------------------------------------------------------


# Rendering builds the text directly from a small tree of ``(tag, attributes, text, children)``
# nodes instead of lxml elements: the same bytes lxml's ``pretty_print`` writes (checked by
# tests/test_strategies.py::test_rendering_is_what_lxml_writes) at a fraction of the cost, which
# matters at one render per generated case.

_Node = tuple[str, tuple[tuple[str, str], ...], str | None, tuple["_Node", ...]]


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", '"': "&quot;",
                               "\n": "&#10;", "\t": "&#9;"})
"""What libxml2 escapes in text and in (double-quoted) attribute values."""


def _render(node: _Node, depth: int, out: list[str]) -> None:
    """Append ``node`` as lxml's pretty printer lays it out (two spaces per level)."""
    tag, attrs, text, children = node
    pad = "  " * depth
    head = pad + "<" + tag + "".join(f' {k}="{v.translate(_ATTR_ESCAPES)}"' for k, v in attrs)
    if children:
        out.append(head + ">\n")
        for child in children:
            _render(child, depth + 1, out)
        out.append(f"{pad}</{tag}>\n")
    elif text is not None:
        out.append(f"{head}>{text.translate(_TEXT_ESCAPES)}</{tag}>\n")
    else:
        out.append(head + "/>\n")


def _node_to_xml(node: _Node) -> str:
    out: list[str] = []
    _render(node, 0, out)
    return "".join(out)


def _pci_address_node(a: PciAddress) -> _Node:
    attrs = (("type", "pci"), ("domain", f"0x{a.domain:04x}"), ("bus", f"0x{a.bus:02x}"),
             ("slot", f"0x{a.slot:02x}"), ("function", f"0x{a.function:x}"))
    if a.multifunction:
        attrs += (("multifunction", "on"),)
    return ("address", attrs, None, ())


def _controller_node(c: Controller) -> _Node:
    """``<controller>`` (attribute order fixed: type, index, model, ports)."""
    attrs = [("type", c.type)]
    if c.index is not None:
        attrs.append(("index", str(c.index)))
    if c.model is not None:
        attrs.append(("model", c.model))
    if c.ports is not None:
        attrs.append(("ports", str(c.ports)))
    children = []
    if c.master_startport is not None:
        children.append(("master", (("startport", str(c.master_startport)),), None, ()))
    if c.address is not None:
        children.append(_pci_address_node(c.address))
    return ("controller", tuple(attrs), None, tuple(children))


def _device_node(d: Device) -> _Node:
    """``<input>``, ``<hub>`` or ``<redirdev>``."""
    children: list[_Node] = []
    if d.kind == "input":
        tag, attrs = "input", (("type", d.type), ("bus", "usb"))
    elif d.kind == "hub":
        tag, attrs = "hub", (("type", d.type),)
    elif d.kind == "redirdev":
        tag, attrs = "redirdev", (("bus", "usb"), ("type", d.type))
        children.append(("source", (("mode", "bind"), ("host", voc.REDIR_HOST), ("service", str(d.service))),
                         None, ()))
    else:
        raise ValueError(f"unknown device kind {d.kind!r}")
    if d.address is not None:
        children.append(("address", (("type", "usb"), ("bus", str(d.address.bus)), ("port", d.address.port)),
                         None, ()))
    return (tag, attrs, None, tuple(children))


def _memballoon_node(m: Memballoon) -> _Node:
    children = (_pci_address_node(m.address),) if m.address is not None else ()
    return ("memballoon", (("model", m.model),), None, children)


def device_to_xml(obj: Device | Controller) -> str:
    """XML of a single hotplug device or controller (what ``attachDeviceFlags`` takes)."""
    return _node_to_xml(_controller_node(obj) if isinstance(obj, Controller) else _device_node(obj))


def to_xml(spec: DomainSpec, emulator: str | None = None) -> str:
    """Render ``spec`` as domain XML.

    No ``<emulator>`` unless given: the backend picks the binary for the arch. ``emulator`` goes
    first in ``<devices>``, where ``CapsContext.prepare`` would put it, without a re-parse.
    """
    memory_attrs = (("unit", spec.memory_unit),) if spec.memory_unit is not None else ()
    children: list[_Node] = [("name", (), spec.name, ()), ("uuid", (), spec.uuid, ()),
                             ("memory", memory_attrs, str(spec.memory), ())]
    if spec.vcpu is not None:
        children.append(("vcpu", (), str(spec.vcpu), ()))
    children.append(("os", (), None, (("type", (("arch", spec.arch), ("machine", spec.machine)), "hvm", ()),)))
    children.extend((event, (), action, ()) for event, action in spec.lifecycle)
    devices: list[_Node] = [("emulator", (), emulator, ())] if emulator is not None else []
    devices.extend(_controller_node(c) for c in spec.controllers)
    devices.extend(_device_node(d) for d in spec.devices)
    if spec.memballoon is not None:
        devices.append(_memballoon_node(spec.memballoon))
    if devices:
        children.append(("devices", (), None, tuple(devices)))
    return _node_to_xml(("domain", (("type", "qemu"),), None, tuple(children)))


# --- arch and machine -----------------------------------------------------------------------------


@composite
def arch_machines(draw: st.DrawFn, arch: str | None = None) -> tuple[str, str]:
    """(arch, machine) pairs: family first, then the alias or one of its versioned machines.

    Drawing the family before the version keeps pc and q35 equally likely although the caps list
    ~29 versions of each, and shrinks to the alias (``pc``, ``pseries``, ``virt``...).
    """
    a = arch if arch is not None else draw(_sampled(voc.ARCHES))
    fam = draw(_sampled(voc.ARCH_FAMILIES[a]))
    names = voc.family_machines(a, fam)
    if len(names) > 1 and draw(_BOOLEANS):
        return a, draw(_sampled(names[1:]))
    return a, names[0]


# --- building blocks --------------------------------------------------------------------------------


@composite
def pci_slot_hints(draw: st.DrawFn) -> int:
    """A preferred slot; collisions are resolved later by :func:`_assign_slots` (next free slot)."""
    return draw(_sampled(voc.PCI_SLOTS))


@composite
def usb_controller_group(draw: st.DrawFn, arch: str, family: str, index: int) -> tuple[Controller, ...]:
    """One USB bus: a standalone controller, or an ich9-ehci1 master with its uhci companions.

    Valid by construction for ``arch``: models come from the caps, ``ports`` only on xHCI and
    within 15, the ich9 set shares one explicit index and one slot (ehci1 on function 7,
    companions on 0/1/2). Addresses carry a *hint* slot that :func:`_assign_slots` finalises.
    """
    singles = voc.single_usb_models(arch)
    pci = family in voc.PCI_FAMILIES
    kinds = ["single"] * 3  # the 4-controller ich9 set would otherwise crowd out the rest
    if "ich9-ehci1" in voc.supported_usb_models(arch):
        kinds.append("ich9")
    kind = draw(_sampled(kinds))
    if kind == "single":
        model = draw(_opt_sampled(singles)) if singles else None
        idx = index if draw(_BOOLEANS) else None
        ports = None
        if model in voc.XHCI_MODELS:
            ports = draw(_opt_ints(1, voc.XHCI_MAX_PORTS))
        address = None
        if pci and draw(_BOOLEANS):
            if family == "i440fx" and index == 0 and model in (None, "piix3-uhci"):
                address = PciAddress(slot=voc.PIIX3_USB_ADDRESS[2], function=voc.PIIX3_USB_ADDRESS[3])
            else:
                address = PciAddress(slot=draw(pci_slot_hints()))
        return (Controller("usb", idx, model, ports=ports, address=address),)
    with_master = draw(_BOOLEANS)
    slot = draw(pci_slot_hints()) if pci and draw(_BOOLEANS) else None
    master = Controller("usb", index, "ich9-ehci1",
                        address=None if slot is None else PciAddress(slot, voc.ICH9_MASTER_FUNCTION))
    companions = tuple(
        Controller("usb", index, model, master_startport=start if with_master else None,
                   address=None if slot is None else PciAddress(slot, fn, multifunction=fn == 0))
        for model, start, fn in voc.ICH9_COMPANIONS
    )
    if draw(_BOOLEANS):  # companions before the master: libvirt re-sorts them
        return (*companions, master)
    return (master, *companions)


@composite
def usb_devices(draw: st.DrawFn, arch: str) -> Device:
    """A USB input, hub or tcp redirdev, without address (addresses are added per domain)."""
    kind = draw(_sampled(voc.DEVICE_KINDS))
    if kind == "input":
        return Device("input", draw(_sampled(voc.USB_INPUT_TYPES)))
    if kind == "hub":
        return Device("hub", "usb")
    return Device("redirdev", "tcp", service=draw(_sampled(voc.REDIR_PORTS)))


@composite
def pci_controllers(draw: st.DrawFn, family: str) -> tuple[Controller, ...]:
    """Explicit PCI controllers: maybe the right root at index 0, then extras with indices 1, 2.

    Without addresses: libvirt places bridges and root ports itself, which is the behaviour under
    test (it may grow the topology with further controllers).
    """
    if family not in voc.PCI_FAMILIES:
        return ()
    out: list[Controller] = []
    if draw(_BOOLEANS):
        out.append(Controller("pci", 0, voc.PCI_ROOT_MODEL[family]))
    if voc.PCI_ROOT_MODEL[family] == "pci-root":
        extras = ["pci-bridge"] * draw(_ints(0, 2))
    else:
        # libvirt 9.0 plugs a controller only into a bus of lower index and cannot invent a root
        # port for a bridge of lower index ("index must be larger than bus", "Cannot automatically
        # add a new PCI bus"): so root ports first, then a pcie-to-pci-bridge on one of them, then
        # a pci-bridge behind that.
        extras = ["pcie-root-port"] * draw(_ints(0, 2))
        if extras and draw(_BOOLEANS):
            extras.append("pcie-to-pci-bridge")
            if draw(_BOOLEANS):
                extras.append("pci-bridge")
    out.extend(Controller("pci", i, m) for i, m in enumerate(extras, start=1))
    return tuple(out)


@composite
def memballoons(draw: st.DrawFn, family: str) -> Memballoon | None:
    """Absent (libvirt adds virtio), virtio (maybe with an address hint), or none."""
    model = draw(_opt_sampled(voc.MEMBALLOON_MODELS))
    if model is None:
        return None
    if model == "virtio" and family in voc.PCI_FAMILIES and draw(_BOOLEANS):
        return Memballoon(model, PciAddress(slot=draw(pci_slot_hints())))
    return Memballoon(model)


@composite
def lifecycles(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    """Optional ``<on_poweroff>``, ``<on_reboot>``, ``<on_crash>`` in schema order."""
    out = []
    for event, actions in voc.LIFECYCLE_EVENTS.items():
        action = draw(_opt_sampled(actions))
        if action is not None:
            out.append((event, action))
    if ("on_poweroff", "restart") in out and ("on_reboot", "destroy") in out:
        # qemu driver: "doesn't support 'onReboot' set to 'destroy and 'onPoweroff' set to 'reboot'"
        out.remove(("on_poweroff", "restart"))
    return tuple(out)


# --- the draft a domain is assembled in ----------------------------------------------------------


@dataclass
class _Draft:
    """Mutable assembly area; frozen into a DomainSpec at the end."""

    arch: str
    machine: str
    family: str
    pci: list[Controller] = field(default_factory=list)
    usb: list[tuple[Controller, ...]] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    memballoon: Memballoon | None = None

    def usb_controllers(self) -> list[Controller]:
        return [c for g in self.usb for c in g]

    def effective_usb_indices(self) -> list[int]:
        """USB indices as libvirt assigns them: an omitted index gets the lowest unused one."""
        used: set[int] = {c.index for c in self.usb_controllers() if c.index is not None}
        out = []
        for g in self.usb:
            if g[0].index is not None:
                out.append(g[0].index)
                continue
            i = 0
            while i in used:
                i += 1
            used.add(i)
            out.append(i)
        return out

    def next_usb_index(self) -> int:
        idx = self.effective_usb_indices()
        return max(idx) + 1 if idx else 0

    def usable_buses(self) -> dict[int, int]:
        """USB bus index -> number of root ports a valid explicit address may use."""
        buses: dict[int, int] = {}
        for g, idx in zip(self.usb, self.effective_usb_indices(), strict=True):
            head = next((c for c in g if c.model not in ("ich9-uhci1", "ich9-uhci2", "ich9-uhci3")), None)
            if head is None or head.model == "none":
                continue
            buses[idx] = head.ports or voc.USB_MODEL_PORTS.get(head.model, 2)
        if 0 not in buses and not self.usb and self.family in voc.AUTO_USB_FAMILIES:
            buses[0] = voc.USB_MODEL_PORTS[None]
        return buses

    def used_slots(self) -> set[int]:
        slots = {c.address.slot for c in self.usb_controllers() if c.address is not None}
        if self.memballoon is not None and self.memballoon.address is not None:
            slots.add(self.memballoon.address.slot)
        return slots

    def used_usb_addresses(self) -> set[tuple[int, str]]:
        return {(d.address.bus, d.address.port) for d in self.devices if d.address is not None}


def _free_slot(used: Iterable[int], hint: int) -> int:
    """``hint`` if free, else the next free slot after it (wrapping)."""
    taken = set(used)
    slots = voc.PCI_SLOTS
    start = slots.index(hint) if hint in slots else 0
    for k in range(len(slots)):
        s = slots[(start + k) % len(slots)]
        if s not in taken:
            return s
    raise RuntimeError("no free PCI slot")  # pragma: no cover - far more slots than elements


def _assign_slots(d: _Draft) -> None:
    """Turn address hints into distinct slots: each USB group / the memballoon gets its own slot.

    The pinned PIIX3 address (slot 1) is outside the pool and left alone.
    """
    used: set[int] = set()
    new_groups = []
    for g in d.usb:
        hint = next((c.address.slot for c in g if c.address is not None), None)
        if hint is None or hint == voc.PIIX3_USB_ADDRESS[2]:
            new_groups.append(g)
            continue
        s = _free_slot(used, hint)
        used.add(s)
        new_groups.append(tuple(c if c.address is None else replace(c, address=replace(c.address, slot=s))
                                for c in g))
    d.usb = new_groups
    if d.memballoon is not None and d.memballoon.address is not None:
        s = _free_slot(used, d.memballoon.address.slot)
        d.memballoon = replace(d.memballoon, address=replace(d.memballoon.address, slot=s))


def _draw_usb_address(draw: st.DrawFn, d: _Draft) -> UsbAddress | None:
    """A free, in-range USB address on a usable bus, or None when every port is taken.

    A plain function taking ``draw`` (like the flaw injectors), not a composite: its argument is
    the mutable draft, so a strategy object would have to be built anew on every call."""
    buses = d.usable_buses()
    used = d.used_usb_addresses()
    free = [(b, str(p)) for b, n in sorted(buses.items()) for p in range(1, n + 1) if (b, str(p)) not in used]
    if not free:
        return None
    b, p = draw(_sampled(free))
    return UsbAddress(b, p)


# --- flaw injectors: each turns a valid draft into one with exactly one kind of mistake ------------


def _drop_usb_none(d: _Draft) -> None:
    """Remove ``model='none'`` (a valid draft may disable USB) so an added controller is the only
    mistake and not also "none beside others"."""
    d.usb = [g for g in d.usb if g[0].model != "none"]


def _add_usb_single(d: _Draft, model: str | None, index: int | None = None, **kw: object) -> None:
    _drop_usb_none(d)
    d.usb.append((Controller("usb", d.next_usb_index() if index is None else index, model, **kw),))


def _fit_addresses(d: _Draft) -> None:
    """Drop USB addresses an injected controller made invalid (it took over bus 0 from the
    auto-added controller, or has fewer ports), so the injected mistake stays the only one."""
    buses = d.usable_buses()
    d.devices = [x if x.address is None or int(x.address.port) <= buses.get(x.address.bus, 0)
                 else replace(x, address=None) for x in d.devices]


def _ensure_usb_bus(draw: st.DrawFn, d: _Draft) -> None:
    """Make sure at least one USB bus accepts devices (adds a standalone controller if needed)."""
    if not d.usable_buses():
        _drop_usb_none(d)
        if not d.usable_buses():
            _add_usb_single(d, draw(_sampled(voc.single_usb_models(d.arch))))


def _ensure_device(draw: st.DrawFn, d: _Draft) -> None:
    if not d.devices:
        d.devices.append(draw(usb_devices(d.arch)))


def _flaw_pci_address_clash(draw: st.DrawFn, d: _Draft) -> None:
    targets = [c.address for c in d.usb_controllers() if c.address is not None
               and c.address.slot != voc.PIIX3_USB_ADDRESS[2]]
    if d.memballoon is not None and d.memballoon.address is not None:
        targets.append(d.memballoon.address)
    if targets:
        addr = draw(_sampled(targets))
    else:
        addr = PciAddress(slot=_free_slot(d.used_slots(), draw(pci_slot_hints())))
        d.memballoon = Memballoon("virtio", addr)
    _drop_usb_none(d)
    models = voc.single_usb_models(d.arch)
    if d.family == "i440fx" and d.next_usb_index() == 0:  # keep clear of the pinned PIIX3 rule
        models = tuple(m for m in models if m != "piix3-uhci")
    _add_usb_single(d, draw(_sampled(models)), address=PciAddress(addr.slot, addr.function))


def _flaw_usb_index_gap(draw: st.DrawFn, d: _Draft) -> None:
    models = voc.single_usb_models(d.arch)
    _drop_usb_none(d)
    if not d.usb:
        _add_usb_single(d, draw(_sampled(models)), index=0)
    gap = draw(_ints(1, 3))
    _add_usb_single(d, draw(_sampled(models)), index=d.next_usb_index() + gap)


def _flaw_pci_index_gap(draw: st.DrawFn, d: _Draft) -> None:
    top = max((c.index for c in d.pci), default=0)
    model = draw(_sampled(voc.PCI_EXTRA_MODELS[d.family]))
    d.pci.append(Controller("pci", top + 1 + draw(_ints(1, 3)), model))


def _flaw_none_beside_others(draw: st.DrawFn, d: _Draft) -> None:
    d.devices = []
    _drop_usb_none(d)
    if draw(_BOOLEANS):  # two `none` controllers
        d.usb = [(Controller("usb", 0, "none"),), (Controller("usb", 1, "none"),)]
        return
    if not d.usb:
        singles = voc.single_usb_models(d.arch)
        _add_usb_single(d, draw(_sampled(singles)) if singles else None)
    none = (Controller("usb", d.next_usb_index(), "none"),)
    if draw(_BOOLEANS):
        d.usb.insert(0, none)
    else:
        d.usb.append(none)


def _flaw_none_with_usb_devices(draw: st.DrawFn, d: _Draft) -> None:
    d.usb = [(Controller("usb", draw(_sampled((0, None))), "none"),)]
    _ensure_device(draw, d)
    d.devices = [replace(x, address=None) for x in d.devices]


def _flaw_too_many_ports(draw: st.DrawFn, d: _Draft) -> None:
    models = sorted(set(voc.supported_usb_models(d.arch)) & voc.XHCI_MODELS)
    ports = draw(_ints(voc.XHCI_MAX_PORTS + 1, 32))
    _add_usb_single(d, draw(_sampled(models)), ports=ports)


def _flaw_ports_on_non_xhci(draw: st.DrawFn, d: _Draft) -> None:
    models = [m for m in voc.single_usb_models(d.arch) if m not in voc.XHCI_MODELS]
    model = draw(_opt_sampled(models)) if models else None
    _add_usb_single(d, model, ports=draw(_ints(1, voc.XHCI_MAX_PORTS)))
    _fit_addresses(d)


def _flaw_companion_without_master(draw: st.DrawFn, d: _Draft) -> None:
    _drop_usb_none(d)
    if d.devices and not d.usb:  # keep a real bus for the devices, or they'd lack a controller too
        _add_usb_single(d, draw(_sampled(voc.single_usb_models(d.arch))))
    idx = d.next_usb_index()
    chosen = draw(_lists(_sampled(voc.ICH9_COMPANIONS), min_size=1, max_size=3, unique=True))
    with_master = draw(_BOOLEANS)
    d.usb.append(tuple(Controller("usb", idx, m, master_startport=s if with_master else None)
                       for m, s, _ in sorted(chosen)))
    _fit_addresses(d)


def _flaw_address_on_implicit(draw: st.DrawFn, d: _Draft) -> None:
    variants = ["memballoon-none", "usb-none", "pci-root"]
    if d.family == "i440fx":
        variants.append("piix3-elsewhere")
    variant = draw(_sampled(variants))
    addr = PciAddress(slot=_free_slot(d.used_slots(), draw(pci_slot_hints())))
    if variant == "memballoon-none":
        d.memballoon = Memballoon("none", addr)
    elif variant == "usb-none":
        d.usb = [(Controller("usb", draw(_sampled((0, None))), "none", address=addr),)]
        d.devices = []
    elif variant == "pci-root":
        d.pci = [Controller("pci", 0, voc.PCI_ROOT_MODEL[d.family], address=addr),
                 *(c for c in d.pci if c.index != 0)]
    else:
        model = draw(_sampled((None, "piix3-uhci")))
        rest = [g for g, i in zip(d.usb, d.effective_usb_indices(), strict=True) if i != 0]
        d.usb = [(Controller("usb", 0, model, address=addr),), *rest]
        cap = voc.USB_MODEL_PORTS[model]
        d.devices = [x if x.address is None or x.address.bus != 0 or int(x.address.port) <= cap
                     else replace(x, address=None) for x in d.devices]


def _flaw_usb_bus_without_controller(draw: st.DrawFn, d: _Draft) -> None:
    if d.family not in voc.AUTO_USB_FAMILIES and draw(_BOOLEANS):
        d.usb = []  # devices with no USB controller at all on a machine that adds none
        _ensure_device(draw, d)
        d.devices = [replace(x, address=None) for x in d.devices]
        return
    _drop_usb_none(d)
    idx = d.effective_usb_indices()
    bus = (max(idx) + 1 if idx else (1 if d.family in voc.AUTO_USB_FAMILIES else 0)) + draw(_ints(0, 2))
    dev = draw(usb_devices(d.arch))
    d.devices.append(replace(dev, address=UsbAddress(bus, str(draw(_ints(1, 2))))))


def _port_upper_bound(d: _Draft, bus: int) -> int:
    """Most ports the bus could have whatever model libvirt picks (model-less: up to qemu-xhci's 4)."""
    for g, idx in zip(d.usb, d.effective_usb_indices(), strict=True):
        if idx == bus:
            head = next(c for c in g if not (c.model or "").startswith("ich9-uhci"))
            return head.ports or (4 if head.model is None else voc.USB_MODEL_PORTS[head.model])
    return 4


def _flaw_usb_port_out_of_range(draw: st.DrawFn, d: _Draft) -> None:
    _ensure_usb_bus(draw, d)
    bus = draw(_sampled(sorted(d.usable_buses())))
    port = _port_upper_bound(d, bus) + draw(_ints(1, 4))
    dev = draw(usb_devices(d.arch))
    d.devices.append(replace(dev, address=UsbAddress(bus, str(port))))


def _flaw_usb_address_clash(draw: st.DrawFn, d: _Draft) -> None:
    _ensure_usb_bus(draw, d)
    taken = [x.address for x in d.devices if x.address is not None]
    if taken:
        addr = draw(_sampled(taken))
    else:
        buses = d.usable_buses()
        bus = draw(_sampled(sorted(buses)))
        addr = UsbAddress(bus, str(draw(_ints(1, buses[bus]))))
        d.devices.append(replace(draw(usb_devices(d.arch)), address=addr))
    d.devices.append(replace(draw(usb_devices(d.arch)), address=addr))


def _flaw_unsupported_usb_model(draw: st.DrawFn, d: _Draft) -> None:
    ok = set(voc.supported_usb_models(d.arch))
    pool = [m for m in voc.USB_MODELS if m not in ok and not m.startswith("ich9-uhci")]
    model = draw(_sampled(voc.XEN_ONLY_USB_MODELS + tuple(pool)))
    _add_usb_single(d, model)
    _fit_addresses(d)


def _flaw_wrong_pci_root(draw: st.DrawFn, d: _Draft) -> None:
    wrong = "pcie-root" if voc.PCI_ROOT_MODEL[d.family] == "pci-root" else "pci-root"
    d.pci = [Controller("pci", 0, wrong), *(c for c in d.pci if c.index != 0)]


_INJECTORS = {
    "pci-address-clash": _flaw_pci_address_clash,
    "usb-index-gap": _flaw_usb_index_gap,
    "pci-index-gap": _flaw_pci_index_gap,
    "none-beside-others": _flaw_none_beside_others,
    "none-with-usb-devices": _flaw_none_with_usb_devices,
    "too-many-ports": _flaw_too_many_ports,
    "ports-on-non-xhci": _flaw_ports_on_non_xhci,
    "companion-without-master": _flaw_companion_without_master,
    "address-on-implicit": _flaw_address_on_implicit,
    "usb-bus-without-controller": _flaw_usb_bus_without_controller,
    "usb-port-out-of-range": _flaw_usb_port_out_of_range,
    "usb-address-clash": _flaw_usb_address_clash,
    "unsupported-usb-model": _flaw_unsupported_usb_model,
    "wrong-pci-root": _flaw_wrong_pci_root,
}
assert tuple(_INJECTORS) == FLAWS


# --- domains ----------------------------------------------------------------------------------------


@composite
def _valid_draft(draw: st.DrawFn, arch: str, machine: str) -> _Draft:
    """A domain meant to be accepted by libvirt 9.0.0 for this arch/machine."""
    fam = voc.machine_family(arch, machine)
    d = _Draft(arch, machine, fam)
    d.pci = list(draw(pci_controllers(fam)))
    usb_devs_ok = voc.has_usb_devices(arch)
    if draw(_ints(0, 5)) == 5:  # USB disabled: one `none`, no USB devices
        d.usb = [(Controller("usb", draw(_sampled((0, None))), "none"),)]
    else:
        # no explicit controller 40 % of the time: the default libvirt adds (qemuDomainDefAddDefaultDevices,
        # qemuDomainControllerDefPostParse) is where arch, machine and capabilities matter most
        n = 0 if draw(_ints(0, 9)) < 4 else draw(_ints(1, 1 if arch == "s390x" else 3))
        for i in range(n):
            d.usb.append(draw(usb_controller_group(arch, fam, i)))
        if usb_devs_ok:
            d.devices = draw(_lists(usb_devices(arch), max_size=6))
        if d.devices and not d.usable_buses():
            d.usb.append(draw(usb_controller_group(arch, fam, d.next_usb_index())))
        # More devices than root ports is valid: a new definition gets USB hubs added
        # (qemuDomainUSBAddressAddHubs, qemu_domain_address.c). Hubs in the input do not count.
        ports = sum(d.usable_buses().values())
        if any(dev.kind == "hub" for dev in d.devices):
            d.devices = d.devices[:ports]
        if all(g[0].index is not None for g in d.usb) and draw(_BOOLEANS):
            d.usb.reverse()  # document order differs from index order; libvirt sorts
    d.memballoon = draw(memballoons(fam))
    _assign_slots(d)
    overflow = len(d.devices) > sum(d.usable_buses().values())  # hubs get added: no explicit ports then
    pending, d.devices = d.devices, []
    for dev in pending:  # addresses drawn one by one so each sees the ports already taken
        if not overflow and draw(_BOOLEANS):
            dev = replace(dev, address=_draw_usb_address(draw, d))
        d.devices.append(dev)
    return d


@composite
def domain_specs(
    draw: st.DrawFn,
    arch: str | None = None,
    *,
    machine: str | None = None,
    flawed: bool | None = None,
    flaws: Sequence[str] | None = None,
) -> DomainSpec:
    """Domain specs for ``arch`` (any arch if None), optionally a fixed ``machine``.

    ``flawed``: None = about FLAW_PERCENT % carry one deliberate mistake, True = always, False =
    never. ``flaws`` restricts which mistakes may be injected (must intersect the applicable ones
    when ``flawed`` is True).
    """
    if machine is not None:
        if arch is None:
            raise ValueError("machine needs arch")
        voc.machine_family(arch, machine)  # validates
        a, m = arch, machine
    else:
        a, m = draw(arch_machines(arch))
    # The flaw is decided before the body is drawn: early choices are spread more evenly by
    # hypothesis than late ones, which matters for rarely applicable classes.
    choices = [f for f in applicable_flaws(a, m) if flaws is None or f in flaws]
    if flawed is None:
        inject = bool(choices) and draw(_FLAW_ROLL) >= 100 - _FLAW_CUTOFF
    else:
        inject = flawed
    if inject and not choices:
        raise ValueError(f"no applicable flaw among {flaws} for {a}/{m}")
    flaw = draw(_sampled(choices)) if inject else None
    d = draw(_valid_draft(a, m))
    injected: tuple[str, ...] = ()
    if flaw is not None:
        _INJECTORS[flaw](draw, d)
        injected = (flaw,)
    unit, amount = draw(_sampled(voc.MEMORY_UNITS))
    spec = DomainSpec(
        arch=a, machine=m,
        controllers=(*d.pci, *d.usb_controllers()),
        devices=tuple(d.devices),
        memballoon=d.memballoon,
        name="", uuid="",
        memory=amount, memory_unit=unit,
        vcpu=draw(_opt_ints(1, 4)),
        lifecycle=draw(lifecycles()),
        flaws=injected,
    )
    return with_identity(spec)


def domain_xml(arch: str | None = None, **kwargs: Any) -> st.SearchStrategy[str]:
    """Domain XML strings; same arguments as :func:`domain_specs`."""
    return mapped(domain_specs(arch, **kwargs), to_xml)


# --- hotplug ---------------------------------------------------------------------------------------


@composite
def hotplug_devices(draw: st.DrawFn, arch: str | None = None) -> Device | Controller:
    """One device to attach/detach: a USB input, hub, redirdev, or a standalone USB controller.

    Devices sometimes carry a USB address on bus 0 (ports 1-4, maybe taken already: that is what
    the attach rule is for); controllers sometimes an index, ports or a PCI address. Arches without
    USB devices (s390x) only get controllers.
    """
    a = arch if arch is not None else draw(_sampled(voc.ARCHES))
    kinds = ["device", "controller"] if voc.has_usb_devices(a) else ["controller"]
    if draw(_sampled(kinds)) == "device":
        dev = draw(usb_devices(a))
        if draw(_BOOLEANS):
            dev = replace(dev, address=UsbAddress(0, str(draw(_ints(1, 4)))))
        return dev
    singles = voc.single_usb_models(a)
    model = draw(_opt_sampled(singles)) if singles else None
    ports = draw(_opt_ints(1, voc.XHCI_MAX_PORTS)) if model in voc.XHCI_MODELS else None
    index = draw(_opt_ints(0, 3))
    address = None
    if a != "s390x" and draw(_BOOLEANS):
        address = PciAddress(slot=draw(pci_slot_hints()))
    return Controller("usb", index, model, ports=ports, address=address)


@cache
def device_xml(arch: str | None = None) -> st.SearchStrategy[str]:
    """XML of one hotplug device for ``arch`` (see :func:`hotplug_devices`)."""
    return mapped(hotplug_devices(arch), device_to_xml)

