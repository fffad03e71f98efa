"""QEMU's ``-daemonize`` as libvirt 9.0.0's capability probe needs it, for the fake and the recorder.

Why each step (measured): the pid file names the launcher, which libvirt has already reaped when
it reads the file, so the kill at the end of the probe (virProcessKillPainfully: SIGTERM, then a
200 ms sleep unless the pid is gone) returns at once; the server exits by itself when libvirt
closes the monitor. A middle process reaps the server as soon as it exits (an orphan would wait
~1.4 s for PID 1 here) and both are named ``qemu-system-fak`` for harnesses that reap
``qemu-system*`` zombies. fds 0-2 go to /dev/null, or libvirt never sees EOF on stderr. Only
built-in modules: start-up is on libvirt's critical path.
"""

from __future__ import annotations

import _socket
import os
import sys


def _to_devnull() -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def _set_comm(name: str) -> None:
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


def write_pidfile(path: str | None, pid: int) -> None:
    if path:
        tmp = f"{path}.tmp{pid}"
        with open(tmp, "w") as f:
            f.write(f"{pid}\n")
        os.replace(tmp, path)


def listen(path: str) -> _socket.socket:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    return listener


def daemonize(pidfile: str | None) -> bool:
    """QEMU's -daemonize, the way libvirt's probe needs it (see module docstring). Returns True
    in the server process; the launcher exits here with the status libvirt will see."""
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:  # launcher: exit once the server is up; the pid file names us
        os.close(ready_w)
        ok = os.read(ready_r, 1) == b"1"
        if ok:
            write_pidfile(pidfile, os.getpid())
        sys.stdout.flush()
        os._exit(0 if ok else 1)
    os.close(ready_r)
    os.setsid()
    _to_devnull()
    _set_comm("qemu-system-fake")
    server_pid = os.fork()
    if server_pid > 0:  # middle process: reap the server as soon as it exits
        os.close(ready_w)
        os.waitpid(server_pid, 0)
        os._exit(0)
    os.write(ready_w, b"1")
    os.close(ready_w)
    return True
