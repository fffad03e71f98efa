"""Every process of a campaign dies with the one that started it, and is stopped within seconds.

A campaign is a tree: the ``virtfuzz fuzz`` parent, its job processes, their libvirt worker
processes (each in its own session, so a terminal's Ctrl-C does not kill libvirt mid-call) and
the loader children those fork. CI runners, ``timeout`` and service managers stop it with SIGTERM
to the parent alone, or SIGKILL it. So: each child asks the kernel to signal it when its parent
dies (``PR_SET_PDEATHSIG``), and the parent, when told to stop, signals its jobs, waits a grace
period and then kills whatever of its tree is left (``kill_tree``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

PR_SET_PDEATHSIG = 1
PARENT_ENV = "VIRTFUZZ_PARENT_PID"


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits; False if unsupported.

    ``parent`` is the pid the parent had when it started us: if it has already gone (we are
    re-parented), the signal is sent at once, closing the race between fork and this call.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (children first seen first), from /proc."""
    found: list[int] = []
    todo = _children(pid)
    while todo:
        p = todo.pop()
        if p not in found:
            found.append(p)
            todo += _children(p)
    return found


def cpu_seconds(pid: int) -> float | None:
    """utime + stime + cutime + cstime of ``pid`` in seconds (children it waited for included), or
    None when it is gone: what the benchmarks add up over a campaign tree."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def kill_tree(pids: list[int]) -> None:
    """SIGKILL ``pids`` and everything below them (read before any is killed)."""
    victims = list(pids)
    for p in pids:
        victims += descendants(p)
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_all_below(pid: int, timeout: float = 2.0) -> list[int]:
    """SIGKILL everything below ``pid`` (this process, a child subreaper) until nothing below it
    runs, or ``timeout``; returns what still runs.

    One ``kill_tree`` pass reads the tree, then kills: a process that forks meanwhile (libvirt's
    QEMU capability probe daemonizing) escapes it. Below a child subreaper the escapee is
    re-parented to ``pid``, so the next pass finds it; after ``pid`` exits it would belong to
    init and run on (seen: a QEMU probe alive 80 minutes after its atheris run was stopped).
    Zombies re-parented here are reaped on the way."""
    end = time.monotonic() + timeout
    while True:
        below = [p for p in descendants(pid) if _running(p)]
        if not below or time.monotonic() > end:
            return below
        kill_tree(below)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.02)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` exists (zombies count as gone); returns those still alive."""
    end = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < end:
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.05)
    return [p for p in alive if _running(p)]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"
