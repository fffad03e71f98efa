"""Plain-data results every backend returns.

Why plain data: the real backend runs libvirt in a worker process, the oracle runs in-process, and
the fuzzer compares the two field by field. Both must hand back the same picklable/JSON-able shape,
and a libvirt crash or hang must be representable as a result rather than an exception.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

# "unsupported": the oracle declines an input outside its modelled vocabulary (an oracle gap, not a
# verdict); checks skip it, and campaigns count it.
Kind = Literal["ok", "error", "crash", "timeout", "unsupported"]


@dataclass(frozen=True)
class DefineResult:
    """Outcome of defining one domain XML (libvirt: defineXML + XMLDesc(0) + XMLDesc(MIGRATABLE)).

    ``error`` is libvirt's message exactly as ``str(libvirtError)`` prints it, e.g.
    ``"unsupported configuration: ..."``; the oracle must reproduce it byte for byte.
    """

    kind: Kind
    xml: str | None = None
    migratable: str | None = None
    migratable_error: str | None = None
    error: str | None = None
    input: str | None = None  # set on crash/timeout, so the finding carries what killed libvirt

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DefineResult:
        return cls(**d)


@dataclass(frozen=True)
class AbiResult:
    """Outcome of an ABI-stability check of a destination definition against a source one."""

    kind: Kind
    error: str | None = None
    stage: str | None = None  # "define-src" when the source itself was rejected, else "abi"
    input: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AbiResult:
        return cls(**d)


@dataclass(frozen=True)
class XmlResult:
    """Outcome of an operation that yields one stored XML (attach, detach, reload)."""

    kind: Kind
    xml: str | None = None
    error: str | None = None
    stage: str | None = None  # which step failed: "define", "attach", "detach", "load"
    input: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> XmlResult:
        return cls(**d)


@dataclass(frozen=True)
class GuestResult:
    """The guest's USB/PCI layout as QEMU would get it (contract.guest_layout), or libvirt's reason
    why no command line can be built for the definition."""

    kind: Kind
    layout: dict | None = None  # {"machine": str, "devices": [{"driver", "id", "bus", "addr", ...}]}
    error: str | None = None
    input: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GuestResult:
        return cls(**d)
