"""Capability context (``--qemu VERSION``, ``--caps-del FLAG``) applied identically to every backend.

libvirt takes its capabilities from the domain's ``<emulator>``; a capability variant is a fake
QEMU wrapper replaying a recorded probe with mutations (``virtfuzz.fakeqemu``). So the context is
applied to the *input*: the domain gets that wrapper as its emulator, for the real libvirt and the
oracle alike, and both therefore format the same emulator path. The oracle additionally picks the
matching recorded capability set for the arch. Without ``--qemu``/``--caps-del`` inputs pass through
unchanged and libvirt uses the installed QEMU binaries.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from virtfuzz.backend import Backend
from virtfuzz.inputs import InputError
from virtfuzz.results import AbiResult, DefineResult, XmlResult


class CapsContext:
    def __init__(self, qemu: str | None, caps_del: Sequence[str]) -> None:
        self.qemu = qemu
        self.caps_del = tuple(caps_del)
        self._emulators: dict[str, str] = {}

    @property
    def active(self) -> bool:
        return bool(self.qemu or self.caps_del)

    def emulator(self, arch: str) -> str:
        if arch not in self._emulators:
            from virtfuzz.fakeqemu.variants import VariantError, emulator_for

            try:
                self._emulators[arch] = emulator_for(arch, self.qemu, self.caps_del)
            except VariantError as e:
                raise InputError(str(e)) from None
        return self._emulators[arch]

    def prepare(self, xml: str) -> str:
        """The domain with the variant's emulator, unless it names an emulator itself."""
        if not self.active:
            return xml
        try:
            root = etree.fromstring(xml.encode())
        except etree.XMLSyntaxError:
            return xml  # let the backend report the parse error as libvirt would
        ostype = root.find("os/type")
        arch = ostype.get("arch") if ostype is not None else None
        if not arch or root.find("devices/emulator") is not None:
            return xml
        devices = root.find("devices")
        if devices is None:
            devices = etree.SubElement(root, "devices")
        emu = etree.Element("emulator")
        emu.text = self.emulator(arch)
        devices.insert(0, emu)
        return etree.tostring(root, encoding="unicode")


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

    def close(self) -> None:
        self.inner.close()
