"""Capability context (``--qemu VERSION``, ``--caps-del FLAG``) applied identically to every backend.

libvirt takes its capabilities from the domain's ``<emulator>``; a capability variant is a fake
QEMU wrapper replaying a recorded probe with mutations (``virtfuzz.fakeqemu``). So the context is
applied to the *input*: the domain gets that wrapper as its emulator (in place of none or of the
stock binary), for the real libvirt and the oracle alike, and both therefore format the same
emulator path. The oracle additionally picks the
matching recorded capability set for the arch. Without ``--qemu``/``--caps-del`` inputs pass through
unchanged and libvirt uses the installed QEMU binaries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace as dc_replace
from functools import cache
from pathlib import Path
from typing import TypeVar

from lxml import etree

from contract.backend import Backend
from contract.results import AbiResult, DefineResult, GuestResult, XmlResult
from virtfuzz.inputs import InputError

C = TypeVar("C")  # a case: any dataclass with ``xml`` and ``variant`` (fuzz.observe.Case)


def stock_emulator(arch: str) -> str:
    """The installed QEMU binary libvirt picks for ``arch`` (Debian's path)."""
    from virtfuzz.fakeqemu.variants import QEMU_BINARY

    return f"/usr/bin/{QEMU_BINARY.get(arch, f'qemu-system-{arch}')}"


class CapsContext:
    def __init__(self, qemu: str | None, caps_del: Sequence[str], libvirt: str | None = None) -> None:
        from virtfuzz.fakeqemu.flags import DEFAULT_LIBVIRT

        self.qemu = qemu
        self.caps_del = tuple(caps_del)
        self.libvirt = libvirt or DEFAULT_LIBVIRT  # whose recordings and flag table the variants use
        if self.caps_del:  # an unknown flag is refused before any work starts
            from virtfuzz.fakeqemu.variants import VariantError, check_flags

            try:
                check_flags(self.caps_del, self.libvirt)
            except VariantError as e:
                raise InputError(str(e)) from None
        self._emulators: dict[str, str] = {}

    @property
    def active(self) -> bool:
        return bool(self.qemu or self.caps_del)

    def emulator(self, arch: str) -> str:
        if arch not in self._emulators:
            from virtfuzz.fakeqemu.variants import VariantError, emulator_for

            try:
                self._emulators[arch] = emulator_for(arch, self.qemu, self.caps_del, self.libvirt)
            except VariantError as e:
                raise InputError(str(e)) from None
        return self._emulators[arch]

    def prepare(self, xml: str, where: str = "domain") -> str:
        """The domain with the variant's fake QEMU as its emulator.

        A domain without ``<emulator>`` gets the variant's; one naming the stock binary for its
        arch (``/usr/bin/qemu-system-ARCH``, what libvirt itself would pick) has it replaced, so a
        hand-written file or a corpus case means the same thing with and without the options; one
        already naming this variant is kept. Any other emulator contradicts ``--qemu``/
        ``--caps-del``: that is bad input (never silently ignored), reported naming ``where``.
        """
        if not self.active:
            return xml
        try:
            root = etree.fromstring(xml.encode())
        except etree.XMLSyntaxError:
            return xml  # let the backend report the parse error as libvirt would
        ostype = root.find("os/type")
        arch = ostype.get("arch") if ostype is not None else None
        if not arch:
            return xml
        want = self.emulator(arch)
        emu = root.find("devices/emulator")
        if emu is not None:
            have = (emu.text or "").strip()
            if have == want:
                return xml
            if have != stock_emulator(arch):
                raise InputError(f"{where}: <emulator>{have}</emulator> contradicts --qemu/--caps-del "
                                 f"(they select {want}); name {stock_emulator(arch)} or no emulator")
            emu.text = want
            return etree.tostring(root, encoding="unicode")
        devices = root.find("devices")
        if devices is None:
            devices = etree.SubElement(root, "devices")
        emu = etree.Element("emulator")
        emu.text = want
        devices.insert(0, emu)
        return etree.tostring(root, encoding="unicode")


def render_variants(cases: Sequence[C], libvirt: str | None = None) -> list[C]:
    """Cases as build ``libvirt`` runs them: a case drawn for a capability variant
    (``case.variant`` = (recorded QEMU version, deleted flags)) gets that variant's fake QEMU as
    its ``<emulator>`` by :meth:`CapsContext.prepare`'s rule; other cases are returned as they are.

    Why here and not in generation: the path is this machine's (the data directory) and the
    variant's recordings and flag table are the build's, so generation names the context and the
    side that runs the case applies it (issue "targets": generation is a domain plus a context).
    """
    out = []
    for c in cases:
        variant = getattr(c, "variant", None)
        if variant is None:
            out.append(c)
        else:
            out.append(dc_replace(c, xml=_rendering_context(variant[0], tuple(variant[1]), libvirt).prepare(c.xml)))
    return out


@cache
def _rendering_context(qemu: str, caps_del: tuple[str, ...], libvirt: str | None) -> CapsContext:
    return CapsContext(qemu, caps_del, libvirt)


class ContextBackend:
    """A backend whose inputs first go through a :class:`CapsContext`."""

    def __init__(self, inner: Backend, ctx: CapsContext) -> None:
        self.inner = inner
        self.ctx = ctx
        self.name = inner.name

    @property
    def version(self) -> str | None:
        return getattr(self.inner, "version", None)

    def define(self, xml: str) -> DefineResult:
        return self.inner.define(self.ctx.prepare(xml))

    def define_many(self, xmls: Sequence[str], migratable: bool = True) -> list[DefineResult]:
        return self.inner.define_many([self.ctx.prepare(x) for x in xmls], migratable)

    def load(self, xml: str) -> XmlResult:
        return self.inner.load(self.ctx.prepare(xml))

    def load_many(self, xmls: Sequence[str]) -> list[XmlResult]:
        return self.inner.load_many([self.ctx.prepare(x) for x in xmls])

    def abi(self, src_xml: str, dst_xml: str) -> AbiResult:
        return self.inner.abi(self.ctx.prepare(src_xml), self.ctx.prepare(dst_xml))

    def abi_many(self, pairs: Sequence[tuple[str, str]]) -> list[AbiResult]:
        return self.inner.abi_many([(self.ctx.prepare(a), self.ctx.prepare(b)) for a, b in pairs])

    def attach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        return self.inner.attach_many([(self.ctx.prepare(d), x) for d, x in items])

    def detach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        return self.inner.detach_many([(self.ctx.prepare(d), x) for d, x in items])

    def attach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self.inner.attach(self.ctx.prepare(domain_xml), device_xml)

    def detach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self.inner.detach(self.ctx.prepare(domain_xml), device_xml)

    def guest_many(self, xmls: Sequence[str]) -> list[GuestResult]:
        return self.inner.guest_many([self.ctx.prepare(x) for x in xmls])

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        getattr(self.inner, "abort", self.inner.close)()


_EMULATOR_ELEMENT = re.compile(r"(<emulator>\s*)([^<]*?)(\s*</emulator>)")


def portable(xml: str) -> tuple[str, tuple[str | None, tuple[str, ...]] | None]:
    """``xml`` with a fake-QEMU variant's wrapper path replaced by the stock binary, and the variant
    it named as (QEMU version, deleted flags), or None when it named none.

    A finding or corpus case keeps its capability context as data (``qemu``, ``caps_del``) and
    names ``/usr/bin/qemu-system-ARCH``; replaying it through a :class:`CapsContext` re-creates
    the variant in whatever data directory the replaying machine has.
    """
    from virtfuzz.fakeqemu.variants import variant_of_emulator

    found: list[tuple[str | None, tuple[str, ...]]] = []

    def swap(m: re.Match) -> str:
        variant = variant_of_emulator(m.group(2))
        if variant is None:
            return m.group(0)
        found.append(variant)
        return m.group(1) + f"/usr/bin/{Path(m.group(2)).name}" + m.group(3)

    out = _EMULATOR_ELEMENT.sub(swap, xml)
    return out, (found[0] if found else None)
