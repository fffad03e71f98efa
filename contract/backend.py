"""The contract shared by the real-libvirt backend and the oracle backend.

Every operation is stateless from the caller's view: it takes whole XML documents and returns
plain results (see ``contract.results``). That keeps a finding reproducible from its inputs alone
and lets the fuzzer run the same step on both backends and compare.

Parse-flag semantics mirror libvirt 9.0.0:
- ``define``: a new definition, parsed with VIR_DOMAIN_DEF_PARSE_ABI_UPDATE (qemuDomainDefineXMLFlags).
- ``load``: a definition read back by a restarting driver / a migration destination, parsed
  *without* ABI_UPDATE (virDomainObjListLoadAllConfigs, qemuMigrationDstPrepare).
- ``abi``: qemuDomainDefCheckABIStability of DST against SRC, where SRC is first defined and its
  migratable inactive XML is what the check starts from (what a save image or migration carries).
- ``attach``/``detach``: config-only hotplug on the domain defined from ``domain_xml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from contract.results import AbiResult, DefineResult, XmlResult


class Backend(Protocol):
    name: str  # the kind of target: "libvirt" (a real build) or "oracle" (a profile)

    @property
    def version(self) -> str | None:
        """The build's libvirt version, or the oracle profile's (the target's second half)."""
        ...

    def define(self, xml: str) -> DefineResult: ...

    def define_many(self, xmls: Sequence[str], migratable: bool = True) -> list[DefineResult]:
        """Batch define; ``migratable=False`` skips the migratable XML (re-defines only compare
        stored XML, and formatting it costs libvirt a definition copy: a third of a define)."""
        ...

    def load(self, xml: str) -> XmlResult: ...

    def abi(self, src_xml: str, dst_xml: str) -> AbiResult: ...

    def abi_many(self, pairs: Sequence[tuple[str, str]]) -> list[AbiResult]:
        """(migratable XML of a defined source, destination XML) pairs; see LibvirtBackend.abi_many."""
        ...

    def attach(self, domain_xml: str, device_xml: str) -> XmlResult: ...

    def attach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]: ...

    def detach(self, domain_xml: str, device_xml: str) -> XmlResult: ...

    def detach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]: ...

    def close(self) -> None: ...


def target_name(backend: Backend) -> str:
    """The target a backend answers as, ``KIND:VERSION`` (``libvirt:9.0.0``, ``oracle:7.0.0``):
    what checks key observations by and findings record."""
    return f"{backend.name}:{backend.version}" if backend.version else backend.name


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (e.g. libvirt-python or the QEMU driver is missing)."""
