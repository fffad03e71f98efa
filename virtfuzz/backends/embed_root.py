"""Embedded-driver roots: one private directory tree per libvirt worker process.

libvirt's embedded QEMU driver (``qemu:///embed?root=DIR``) allows one root per process and one
process per root (pid-file lock), so every worker gets its own. Roots live on tmpfs when there is
one (define fsyncs; tmpfs doubles the rate). The capability cache is the only expensive state
(a QEMU probe costs 2-4 s per emulator): it is seeded from, and saved back to, a cache shared by
all roots of the same libvirt build on this machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from virtfuzz import datadir

QEMU_CONF = (
    "# written by virtfuzz: see the platform notes\n"
    'user = "root"\n'  # otherwise x86 caps are discarded and re-probed on every lookup when /dev/kvm exists
    'group = "root"\n'
    'stdio_handler = "file"\n'  # otherwise starting a guest needs virtlogd
    "namespaces = []\n"  # a private /dev namespace cannot move /dev/shm into a root that lives on /dev/shm
)


def data_dir() -> Path:
    """Machine-wide cache (libvirt source, caps cache, fake-QEMU variants)."""
    return datadir.data_dir()


def shared_caps_cache(build: str) -> Path:
    return data_dir() / "capscache" / build


def _tmp_parent() -> Path:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    parent = base / "virtfuzz-roots"
    parent.mkdir(mode=0o755, exist_ok=True)
    return parent


def reap_stale_roots(parent: Path | None = None) -> None:
    """Remove roots left by processes that died without cleaning up (named by owner pid)."""
    parent = parent or _tmp_parent()
    for entry in parent.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(entry, ignore_errors=True)


def save_caps_to(caps_dir: Path, shared: Path) -> int:
    """Copy the new or changed entries of a libvirt capability cache directory into ``shared``,
    each by an atomic rename (other processes read it at the same time). Returns how many."""
    saved = 0
    for f in caps_dir.glob("*.xml"):
        dst = shared / f.name
        try:
            if dst.exists() and dst.stat().st_size == f.stat().st_size and dst.read_bytes() == f.read_bytes():
                continue
            shared.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=shared, suffix=".tmp")
            os.close(fd)
            shutil.copy2(f, tmp)
            os.replace(tmp, dst)
            saved += 1
        except OSError:
            continue
    return saved


class EmbedRoot:
    """A root directory for one embedded driver, with a seeded capabilities cache."""

    def __init__(self, build: str, path: Path | None = None) -> None:
        self.build = build
        if path is None:
            parent = _tmp_parent()
            reap_stale_roots(parent)
            path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
        self.path = path
        (path / "etc").mkdir(parents=True, exist_ok=True)
        (path / "etc" / "qemu.conf").write_text(QEMU_CONF)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.caps_dir.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.seed_caps()
        self._caps_mtime = self.caps_dir.stat().st_mtime_ns

    @property
    def uri(self) -> str:
        return f"qemu:///embed?root={self.path}"

    @property
    def config_dir(self) -> Path:
        """Where persistent definitions live (what a restarting driver re-reads)."""
        return self.path / "etc" / "qemu"

    @property
    def caps_dir(self) -> Path:
        return self.path / "cache" / "qemu" / "capabilities"

    @property
    def scratch(self) -> Path:
        return self.path / "virtfuzz"

    @property
    def log_file(self) -> Path:
        return self.scratch / "libvirt.log"

    def seed_caps(self) -> None:
        shared = shared_caps_cache(self.build)
        if not shared.is_dir():
            return
        for f in shared.glob("*.xml"):
            dst = self.caps_dir / f.name
            if not dst.exists():
                shutil.copy2(f, dst)

    def save_caps(self) -> int:
        """Copy new or changed cache entries back to the shared cache (atomic rename). Returns count."""
        return save_caps_to(self.caps_dir, shared_caps_cache(self.build))

    def save_caps_if_changed(self) -> None:
        """Cheap check (one stat) so the hot path can call it after every batch."""
        mtime = self.caps_dir.stat().st_mtime_ns
        if mtime != self._caps_mtime:
            self._caps_mtime = mtime
            self.save_caps()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
