"""The oracle as a backend: same contract as the real libvirt, computed in-process in pure Python.

The capability set is chosen per domain from its arch and ``<emulator>``, the way libvirt takes
the capabilities of the emulator the domain names (``--qemu``/``--caps-del`` put a fake-QEMU
variant there, see ``virtfuzz.backends.caps_context``).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache

from contract.backend import BackendUnavailable
from contract.results import AbiResult, DefineResult, GuestResult, XmlResult
from virtfuzz.fakeqemu.variants import VariantError, variant_of_emulator
from virtfuzz.inputs import InputError, domain_arch

DEFAULT_PROFILE = "9.0.0"


_DEPTH = threading.local()


def _cpu_accounted(method: Callable) -> Callable:
    """Add the calling thread's CPU time spent in ``method`` to the backend's ``cpu_seconds``.

    Why: a campaign runs the oracle inside its job processes next to generation, the checks and
    the cross-build thread, so the process's CPU says nothing about the oracle's share (the
    builds issue bounds it at 35 % of campaign CPU). Thread CPU time, counted at the outermost
    accounted call only (``define_many`` calls ``define``), is exact even with two threads."""
    @functools.wraps(method)
    def accounted(self, *args, **kwargs):
        depth = getattr(_DEPTH, "n", 0)
        if depth:
            return method(self, *args, **kwargs)
        _DEPTH.n = 1
        t = time.thread_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.cpu_seconds += time.thread_time() - t
            _DEPTH.n = 0
    return accounted


_EMULATOR = re.compile(r"<emulator>\s*([^<]*?)\s*</emulator>")


def emulator_path(xml: str) -> str | None:
    m = _EMULATOR.search(xml)
    return m.group(1) if m else None


@lru_cache(maxsize=256)
def variant_of(emulator: str | None) -> tuple[str | None, tuple[str, ...]]:
    """(QEMU version or None for the installed one, deleted flags) described by an emulator path:
    a fake-QEMU variant's wrapper names its own; any other emulator is the installed QEMU."""
    if not emulator:
        return None, ()
    try:
        found = variant_of_emulator(emulator)
    except VariantError as e:
        raise InputError(str(e)) from None
    return found if found is not None else (None, ())


class OracleBackend:
    """Batches (``*_many``) run in an oracle memo session: definitions parsed by one call are
    reused by the next ones (and by later batches) while the oracle's rules are unchanged; see
    oracle.memo.  Single calls compute everything afresh."""

    name = "oracle"
    cpu_seconds = 0.0  # thread CPU spent in this backend's calls (see _cpu_accounted)

    def __init__(self, libvirt_version: str | None = None) -> None:
        try:
            import oracle
        except ImportError as e:
            raise BackendUnavailable(f"the oracle package is not importable: {e}") from None
        self._oracle = oracle
        self.profile = libvirt_version or DEFAULT_PROFILE
        try:  # an unknown version is refused here, never computed as another one
            oracle.get_profile(self.profile)
        except oracle.OracleInputError as e:
            raise BackendUnavailable(f"oracle: {e}") from None
        self._caps: dict[tuple[str, str | None], object] = {}

    @property
    def version(self) -> str:
        return self.profile

    def caps(self, xml: str) -> object:
        """The capability set libvirt would use for this domain, or None if the oracle has none.

        A fake-QEMU variant emulator (see ``virtfuzz.fakeqemu.variants``) names its recorded QEMU
        version and flag deletions in ``variant.json`` beside it; any other emulator means the
        installed QEMU, i.e. the recorded host capability set for the domain's arch.
        """
        arch = self._arch(xml) or "x86_64"
        key = (arch, emulator_path(xml))
        if key not in self._caps:
            version, caps_del = variant_of(key[1])
            try:
                self._caps[key] = self._oracle.capset_for(arch, **({"qemu_version": version} if version else {}),
                                                          caps_del=caps_del, profile=self.profile)
            except self._oracle.OracleInputError:
                self._caps[key] = None  # no capability data for this arch/version: an oracle gap
        return self._caps[key]

    def _arch(self, xml: str) -> str | None:
        """``domain_arch(xml)``, from the oracle's own parse when the document has no DTD (the
        oracle keeps that parse for the call that follows); otherwise, or when the oracle finds
        the XML malformed, ``domain_arch`` itself (which raises on malformed XML, as before)."""
        if "<!DOCTYPE" not in xml:
            try:
                return self._oracle.arch_of(xml)
            except self._oracle.OracleInputError:
                pass
        return domain_arch(xml)

    def _call(self, op: str):
        """The oracle operation ``op`` computed with this backend's profile (every call passes it)."""
        return functools.partial(getattr(self._oracle, op), profile=self.profile)

    def _guard(self, result_type: type, fn, *args):
        """Run an oracle call; an input outside its vocabulary becomes an ``unsupported`` result."""
        if args[-1] is None:
            return result_type(kind="unsupported", error="no capability set for this arch")
        try:
            return fn(*args)
        except self._oracle.OracleInputError as e:  # includes OracleUnsupported
            return result_type(kind="unsupported", error=str(e))
        except Exception as e:  # an oracle bug: a finding about this input, not the end of the campaign
            return result_type(kind="crash", error=f"oracle raised {type(e).__name__}: {e}",
                               input=args[0] if isinstance(args[0], str) else None)

    @_cpu_accounted
    def define(self, xml: str) -> DefineResult:
        return self._guard(DefineResult, self._call("define"), xml, self.caps(xml))

    @_cpu_accounted
    def define_many(self, xmls: Sequence[str], migratable: bool = True) -> list[DefineResult]:
        with self._oracle.session():
            out = [self.define(x) for x in xmls]
        if not migratable:  # same contract as the real backend: no migratable XML asked for
            out = [replace(r, migratable=None, migratable_error=None) for r in out]
        return out

    @_cpu_accounted
    def load(self, xml: str) -> XmlResult:
        return self._guard(XmlResult, self._call("load"), xml, self.caps(xml))

    @_cpu_accounted
    def load_many(self, xmls: Sequence[str]) -> list[XmlResult]:
        with self._oracle.session():
            return [self.load(x) for x in xmls]

    @_cpu_accounted
    def abi(self, src_xml: str, dst_xml: str) -> AbiResult:
        return self._guard(AbiResult, self._call("abi"), src_xml, dst_xml, self.caps(src_xml))

    @_cpu_accounted
    def abi_many(self, pairs: Sequence[tuple[str, str]]) -> list[AbiResult]:
        with self._oracle.session():
            return [self.abi(src, dst) for src, dst in pairs]

    @_cpu_accounted
    def attach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        with self._oracle.session():
            return [self.attach(d, x) for d, x in items]

    @_cpu_accounted
    def detach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        with self._oracle.session():
            return [self.detach(d, x) for d, x in items]

    @_cpu_accounted
    def attach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._guard(XmlResult, self._call("attach"), domain_xml, device_xml, self.caps(domain_xml))

    @_cpu_accounted
    def detach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._guard(XmlResult, self._call("detach"), domain_xml, device_xml, self.caps(domain_xml))

    def close(self) -> None:
        pass

    @_cpu_accounted
    def guest(self, xml: str) -> GuestResult:
        return self._guard(GuestResult, self._call("guest"), xml, self.caps(xml))

    @_cpu_accounted
    def guest_many(self, xmls: Sequence[str]) -> list[GuestResult]:
        """The guest layout (contract.guest_layout) the profile's libvirt would give QEMU."""
        with self._oracle.session():
            return [self.guest(x) for x in xmls]
