"""Backends: the real libvirt (worker processes) and the oracle (in-process)."""

from __future__ import annotations

from virtfuzz.backend import Backend, BackendUnavailable

BACKENDS = ("libvirt", "oracle")


def open_backend(name: str, *, libvirt_version: str | None = None, qemu: str | None = None,
                 caps_del: tuple[str, ...] = ()) -> Backend:
    """Open a backend by CLI name; raises BackendUnavailable with a one-line reason."""
    if name == "libvirt":
        from virtfuzz.backends.libvirt_backend import LibvirtBackend

        return LibvirtBackend(libvirt_version=libvirt_version, qemu=qemu, caps_del=caps_del)
    if name == "oracle":
        from virtfuzz.backends.oracle_backend import OracleBackend

        return OracleBackend(libvirt_version=libvirt_version, qemu=qemu, caps_del=caps_del)
    raise BackendUnavailable(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
