"""A target names who answers: a real build (``libvirt:12.9.0``) or an oracle profile (``oracle:9.0.0``).

Commands that use several parties at once (``migrate``, later the cross-build campaign) take
targets instead of ``--backend``/``--libvirt``; ``open_target`` opens the matching backend, with the
version carried through (an unknown version is refused there, with the versions that exist).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.backend import Backend
from virtfuzz.inputs import InputError

KINDS = ("libvirt", "oracle")


@dataclass(frozen=True)
class Target:
    kind: str
    version: str | None = None  # None: the default build / profile

    def __str__(self) -> str:
        return f"{self.kind}:{self.version}" if self.version else self.kind


def parse_target(spec: str) -> Target:
    kind, _, version = spec.partition(":")
    if kind not in KINDS:
        raise InputError(f"target {spec!r}: expected KIND:VERSION with KIND one of {', '.join(KINDS)}, "
                         "e.g. libvirt:9.0.0")
    return Target(kind, version or None)


def open_target(target: Target) -> Backend:
    from virtfuzz.backends import open_backend

    return open_backend(target.kind, libvirt_version=target.version)
