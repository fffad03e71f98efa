"""The oracle as a backend: same contract as the real libvirt, computed in-process in pure Python.

The capability set is chosen per domain from its arch (``--qemu`` version, ``--caps-del`` edits),
the way libvirt picks the emulator's capabilities for the domain's arch.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtfuzz.backend import BackendUnavailable
from virtfuzz.inputs import InputError, domain_arch
from virtfuzz.results import AbiResult, DefineResult, XmlResult

DEFAULT_PROFILE = "9.0.0"


class OracleBackend:
    name = "oracle"

    def __init__(self, libvirt_version: str | None = None, qemu: str | None = None,
                 caps_del: Sequence[str] = ()) -> None:
        try:
            import oracle
        except ImportError as e:
            raise BackendUnavailable(f"the oracle package is not importable: {e}") from None
        self._oracle = oracle
        self.profile = libvirt_version or DEFAULT_PROFILE
        self.qemu = qemu
        self.caps_del = tuple(caps_del)
        self._caps: dict[str, object] = {}

    @property
    def version(self) -> str:
        return self.profile

    def caps(self, xml: str) -> object:
        """The capability set for the domain's arch; None when the oracle has none for that arch."""
        arch = domain_arch(xml) or "x86_64"
        if arch not in self._caps:
            try:
                self._oracle.capset_for(arch)
            except self._oracle.OracleInputError:
                self._caps[arch] = None  # no recorded QEMU for this arch: an oracle gap, per domain
                return None
            kwargs = {"caps_del": self.caps_del}
            if self.qemu:
                kwargs["qemu_version"] = self.qemu
            try:
                self._caps[arch] = self._oracle.capset_for(arch, **kwargs)
            except self._oracle.OracleInputError as e:
                raise InputError(str(e)) from None  # a bad --qemu/--caps-del: usage error
        return self._caps[arch]

    def _guard(self, result_type: type, fn, *args):
        """Run an oracle call; an input outside its vocabulary becomes an ``unsupported`` result."""
        if args[-1] is None:
            return result_type(kind="unsupported", error="no capability set for this arch")
        try:
            return fn(*args)
        except self._oracle.OracleInputError as e:  # includes OracleUnsupported
            return result_type(kind="unsupported", error=str(e))

    def define(self, xml: str) -> DefineResult:
        return self._guard(DefineResult, self._oracle.define, xml, self.caps(xml))

    def define_many(self, xmls: Sequence[str]) -> list[DefineResult]:
        return [self.define(x) for x in xmls]

    def load(self, xml: str) -> XmlResult:
        return self._guard(XmlResult, self._oracle.load, xml, self.caps(xml))

    def load_many(self, xmls: Sequence[str]) -> list[XmlResult]:
        return [self.load(x) for x in xmls]

    def abi(self, src_xml: str, dst_xml: str) -> AbiResult:
        return self._guard(AbiResult, self._oracle.abi, src_xml, dst_xml, self.caps(src_xml))

    def abi_many(self, pairs: Sequence[tuple[str, str]]) -> list[AbiResult]:
        return [self.abi(src, dst) for src, dst in pairs]

    def attach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        return [self.attach(d, x) for d, x in items]

    def attach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._guard(XmlResult, self._oracle.attach, domain_xml, device_xml, self.caps(domain_xml))

    def detach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._guard(XmlResult, self._oracle.detach, domain_xml, device_xml, self.caps(domain_xml))

    def close(self) -> None:
        pass
