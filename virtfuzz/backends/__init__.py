"""Backends: the real libvirt (worker processes) and the oracle (in-process)."""

from __future__ import annotations

from virtfuzz.backend import Backend, BackendUnavailable
from virtfuzz.backends.caps_context import CapsContext, ContextBackend

BACKENDS = ("libvirt", "oracle")


def open_backend(name: str, *, libvirt_version: str | None = None, qemu: str | None = None,
                 caps_del: tuple[str, ...] = ()) -> Backend:
    """Open a backend by CLI name; raises BackendUnavailable with a one-line reason."""
    backend: Backend
    if name == "libvirt":
        from virtfuzz.backends.libvirt_backend import LibvirtBackend

        backend = LibvirtBackend(libvirt_version=libvirt_version)
    elif name == "oracle":
        from virtfuzz.backends.oracle_backend import OracleBackend

        backend = OracleBackend(libvirt_version=libvirt_version)
    else:
        raise BackendUnavailable(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    ctx = CapsContext(qemu, caps_del)
    return ContextBackend(backend, ctx) if ctx.active else backend
