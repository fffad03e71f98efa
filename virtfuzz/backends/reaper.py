"""Reap daemonized QEMU zombies promptly, without ever reaping one of libvirt's own children.

libvirt daemonizes QEMU, so the QEMU process is re-parented; here PID 1 reaps orphans only about
once a second, and libvirt waits for that on every guest stop and capability probe (+1.2-1.6 s).
A child subreaper adopts those orphans instead. The subreaper must not be the process that runs
libvirt: libvirt waits (``waitpid``) for its *direct* children, e.g. the QEMU launcher of a
capability probe, whose name is also ``qemu-system-*``; a reaping thread inside libvirt's process
sometimes took such a zombie first and libvirt failed with "unable to wait for process N: No child
processes" (seen in CI's ``caps-warm``). So the worker forks: the original process becomes a
subreaper that only waits, and libvirt runs in its child. Orphans of libvirt's descendants are
re-parented to the subreaper; libvirt's direct children stay libvirt's.
"""

from __future__ import annotations

import ctypes
import os
import signal

from virtfuzz.lifeline import die_with_parent, kill_all_below

PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def fork_reaper(close_in_reaper: tuple[int, ...] = ()) -> None:
    """Split this process into a reaping parent and the child that returns from this call.

    Call it single-threaded, before libvirt is initialised. The parent never returns: it reaps
    every process re-parented to it and, when the child ends, kills what is left below it and ends
    the same way (same exit status, or the same signal), so the worker's owner sees a crash as a
    crash. ``close_in_reaper`` are descriptors only the child may hold (the request/response pipes:
    the owner must see EOF when the child dies). The child dies with the reaper (SIGTERM).
    """
    if not _set_subreaper():
        return  # without subreaper support, PID 1 reaps the orphans (slower, still correct)
    reaper = os.getpid()
    child = os.fork()
    if child == 0:
        die_with_parent(signal.SIGTERM, reaper)
        return
    for fd in close_in_reaper:
        os.close(fd)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(70)
        if pid != child:
            continue  # an adopted orphan (daemonized QEMU, fake QEMU): reaped, nothing else to do
        kill_all_below(os.getpid())
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status))
