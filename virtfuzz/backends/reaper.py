"""Reap daemonized QEMU zombies promptly.

libvirt daemonizes QEMU, so the QEMU process is re-parented; here PID 1 reaps orphans only about
once a second, and libvirt waits for that on every guest stop and capability probe (+1.2-1.6 s).
Making the worker a child subreaper re-parents those orphans to us; a thread then reaps the ones
that are QEMU zombies. Only those: libvirt waits for its own direct children itself.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _is_reapable_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    comm = stat[stat.index("(") + 1: stat.rindex(")")]
    state = stat[stat.rindex(")") + 2]
    return state == "Z" and (comm.startswith("qemu-system") or comm.startswith("virtfuzz-fake"))


def _loop(interval: float) -> None:
    me = os.getpid()
    while True:
        for child in _children(me):
            if _is_reapable_zombie(child):
                try:
                    os.waitpid(child, os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(interval)


def become_subreaper(interval: float = 0.02) -> bool:
    """Mark this process a child subreaper and start the reaping thread; False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    threading.Thread(target=_loop, args=(interval,), daemon=True, name="qemu-reaper").start()
    return True
