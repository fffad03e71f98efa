"""Where virtfuzz keeps what it stores on this machine: one directory, ``VIRTFUZZ_DATA_DIR``.

Why one directory: a new machine (and CI, which runs with a fresh temporary one) must see exactly
what virtfuzz itself creates there (capability caches, fake-QEMU copies and variants, the libvirt
source package, the real builds), and nothing a previous run happened to leave elsewhere.
Default ``/var/cache/virtfuzz``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "VIRTFUZZ_DATA_DIR"
DEFAULT = "/var/cache/virtfuzz"


def data_dir() -> Path:
    return Path(os.environ.get(ENV) or DEFAULT)


def libvirt_src() -> Path:
    """The unpacked libvirt source package of the installed build (scripts/fetch-libvirt-source.sh)."""
    return data_dir() / "libvirt-src" / "installed"
