"""Backends: the real libvirt (worker processes) and the oracle (in-process).

This package's ``__init__`` imports nothing at module level: the worker-side modules
(``libvirt_worker``, ``wire``, ``saveimage``, ``cpuinfo_snapshot``, ``embed_open``, ``reaper``) also
run inside a build's root filesystem with that build's python3 (3.9 on bullseye), where only the
stdlib and libvirt exist. Everything else is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contract.backend import Backend

BACKENDS = ("libvirt", "oracle")


def open_backend(name: str, *, libvirt_version: str | None = None, qemu: str | None = None,
                 caps_del: tuple[str, ...] = ()) -> Backend:
    """Open a backend by CLI name; raises BackendUnavailable with a one-line reason."""
    from contract.backend import BackendUnavailable
    from virtfuzz.backends.caps_context import CapsContext, ContextBackend

    backend: Backend
    if name == "libvirt":
        from virtfuzz.backends.builds import resolve_build
        from virtfuzz.backends.libvirt_backend import LibvirtBackend

        resolve_build(libvirt_version)  # an uninstalled build is refused before the variant is made
        backend = LibvirtBackend(libvirt_version=libvirt_version)
    elif name == "oracle":
        from virtfuzz.backends.oracle_backend import OracleBackend

        backend = OracleBackend(libvirt_version=libvirt_version)
    else:
        raise BackendUnavailable(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    try:
        ctx = CapsContext(qemu, caps_del, libvirt=variant_libvirt(libvirt_version))
    except Exception:
        backend.close()
        raise
    return ContextBackend(backend, ctx) if ctx.active else backend


def variant_libvirt(version: str | None) -> str:
    """Whose capability variants serve ``--libvirt version``: a build with its own recordings
    (capsets/replies/libvirt-V/) gets its own; the host's 9.0.0 and the oracle's era profiles
    (no build) get the host's."""
    from virtfuzz.fakeqemu import flags, variants

    if version and version != flags.DEFAULT_LIBVIRT and variants.build_replies(version).is_dir():
        return version
    return flags.DEFAULT_LIBVIRT


def __getattr__(name: str) -> Any:
    if name in ("CapsContext", "ContextBackend"):
        from virtfuzz.backends import caps_context

        return getattr(caps_context, name)
    if name in ("Backend", "BackendUnavailable"):
        from contract import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'virtfuzz.backends' has no attribute {name!r}")
