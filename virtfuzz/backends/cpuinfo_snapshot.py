"""Serve libvirt a snapshot of /proc/cpuinfo instead of the live file, in the worker's own mount namespace.

libvirt 9.0.0 re-reads the host CPU microcode version on every QEMU capability-cache lookup
(src/qemu/qemu_capabilities.c: virQEMUCapsCacheLookup -> virHostCPUGetMicrocodeVersion, which
parses /proc/cpuinfo on x86). A domain define does about seven lookups, and the kernel formats
/proc/cpuinfo afresh each time: measured on the 2-core test VM, that was 35-45 % of a define.
A regular file with the same bytes is read for a fraction of the cost, and libvirt sees exactly
the content it would have read (the microcode version does not change while a worker lives).

The bind mount lives in a private mount namespace of the worker process (and what it forks:
the loader's driver start-ups, QEMU guests); nothing outside changes. It needs CAP_SYS_ADMIN and a
single-threaded process, so it is done first thing in the worker's ``main``; without the
privilege the worker simply reads the live file (same results, slower).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
CPUINFO = "/proc/cpuinfo"


def use_cpuinfo_snapshot(scratch: Path) -> str | None:
    """Bind a copy of /proc/cpuinfo over it in a new private mount namespace.

    Returns None when done, else why not (kept in the worker's hello reply, for diagnosis).
    """
    if os.environ.get("VIRTFUZZ_LIVE_CPUINFO"):
        return "disabled by VIRTFUZZ_LIVE_CPUINFO"
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    snapshot = scratch / "cpuinfo"
    snapshot.write_bytes(Path(CPUINFO).read_bytes())
    if libc.unshare(CLONE_NEWNS) != 0:
        return f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}"
    # keep our mounts from propagating back to the host namespace
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}"
    if libc.mount(str(snapshot).encode(), CPUINFO.encode(), None, MS_BIND, None) != 0:
        return f"bind mount over {CPUINFO}: {os.strerror(ctypes.get_errno())}"
    return None
