"""Shared fixtures.

Tests marked ``libvirt`` need the real libvirt 9.0.0. When it is missing they FAIL (that is what
CI must see); a developer without libvirt may skip them only by setting VIRTFUZZ_SKIP_LIBVIRT=1.
"""

from __future__ import annotations

import os

import pytest

from virtfuzz import datadir
from virtfuzz.backend import BackendUnavailable


def seed_data_dir(path):
    """A new data directory that reads the set-up's libvirt source package (read-only, by symlink):
    for tests that must not write into the machine's data directory."""
    path.mkdir(parents=True, exist_ok=True)
    src = datadir.libvirt_src()
    if src.exists():
        (path / "libvirt-src").mkdir(exist_ok=True)
        (path / "libvirt-src" / "installed").symlink_to(src.resolve())
    return path


def _libvirt_backend_or_fail():
    from virtfuzz.backends.libvirt_backend import LibvirtBackend

    try:
        return LibvirtBackend()
    except BackendUnavailable as e:
        if os.environ.get("VIRTFUZZ_SKIP_LIBVIRT") == "1":
            pytest.skip(f"real libvirt unavailable ({e}); skipped because VIRTFUZZ_SKIP_LIBVIRT=1")
        pytest.fail(f"real libvirt unavailable: {e} (set VIRTFUZZ_SKIP_LIBVIRT=1 to skip locally)")


@pytest.fixture(scope="session")
def libvirt_backend():
    """One real backend (worker process + embedded root) per test process (xdist-safe)."""
    b = _libvirt_backend_or_fail()
    yield b
    b.close()


@pytest.fixture
def fresh_libvirt_backend():
    b = _libvirt_backend_or_fail()
    yield b
    b.close()


def domain(arch: str, machine: str, devices: str = "", name: str = "t",
           uuid: str = "c7a5fdbd-cdaf-9455-926a-d65c16db1809") -> str:
    return (f"<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>65536</memory>"
            f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os><devices>{devices}</devices></domain>")
