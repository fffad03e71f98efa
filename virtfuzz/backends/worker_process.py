"""Parent-side handle on one libvirt worker process: start, call with a deadline, restart.

A worker that dies by a signal or misses its deadline raises ``WorkerLost``; the backend turns
that into a crash/timeout *result* and the next call starts a fresh worker on the same root.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from typing import Any

from virtfuzz.backends import wire
from virtfuzz.backends.embed_root import EmbedRoot
from virtfuzz.lifeline import PARENT_ENV, descendants, kill_tree

DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class WorkerLost(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "crash" or "timeout"
        self.message = message


class WorkerError(RuntimeError):
    """The worker hit a Python exception (a virtfuzz bug, not a libvirt verdict)."""


class WorkerProcess:
    def __init__(self, root: EmbedRoot, env: dict[str, str] | None = None,
                 command_prefix: list[str] | None = None, loader: bool = False,
                 python: str | None = None) -> None:
        self.root = root
        self.python = python or sys.executable  # a build's own interpreter inside its root
        self.loader = loader
        self.env = env or {}
        self.command_prefix = command_prefix or []
        self.proc: subprocess.Popen | None = None
        self.req_w = self.resp_r = -1
        self.info: dict = {}

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 120.0) -> dict:
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        env = dict(os.environ)
        # the search path a libvirt daemon gets from systemd: libvirt looks QEMU binaries up along
        # PATH on every capability lookup, and a developer's long PATH only adds failed lookups
        env["PATH"] = DAEMON_PATH
        env.update(self.env)
        env[PARENT_ENV] = str(os.getpid())  # the worker dies with us (virtfuzz.lifeline)
        # libvirt logs errors to a file: a driver restart reports why it skipped a definition only there
        env["LIBVIRT_LOG_OUTPUTS"] = f"4:file:{self.root.log_file}"
        env["LIBVIRT_LOG_FILTERS"] = "4:*"
        self.root.log_file.unlink(missing_ok=True)
        stderr = open(self.root.scratch / "worker.stderr", "ab")
        mode = ["--loader"] if self.loader else []
        cmd = [*self.command_prefix, self.python, "-m", "virtfuzz.backends.libvirt_worker", *mode,
               str(self.root.path), str(req_r), str(resp_w)]
        self.proc = subprocess.Popen(cmd, pass_fds=(req_r, resp_w), env=env, stdin=subprocess.DEVNULL,
                                     stdout=stderr, stderr=stderr, start_new_session=True)
        stderr.close()
        os.close(req_r)
        os.close(resp_w)
        self.info = self.call("hello", (), timeout)
        return self.info

    def call(self, op: str, args: tuple, timeout: float) -> Any:
        if not self.alive:
            raise WorkerLost("crash", "worker is not running")
        try:
            wire.send(self.req_w, (op, args))
            ready, _, _ = select.select([self.resp_r], [], [], timeout)
            if not ready:
                self.kill()
                raise WorkerLost("timeout", f"libvirt did not answer {op} within {timeout:.0f} s")
            status, value = wire.recv(self.resp_r)
        except (EOFError, BrokenPipeError):
            raise WorkerLost("crash", self._death_note()) from None
        if status == "exception":
            raise WorkerError(value)
        if status == "crash":
            raise WorkerLost("crash", value)
        return value

    def _death_note(self) -> str:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        self._close_fds()
        if rc is not None and rc < 0:
            how = f"killed by {signal.Signals(-rc).name}"
        else:
            how = f"exited with status {rc}"
        tail = self.stderr_tail()
        return f"libvirt worker {how}" + (f": {tail}" if tail else "")

    def stderr_tail(self, lines: int = 3) -> str:
        try:
            text = (self.root.scratch / "worker.stderr").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the worker, its process group and what it reaps: QEMU daemonizes (its own
        session) and the worker's reaping parent (a child subreaper, ``reaper.py``) adopts it, so
        probes and guests are found below the worker and would otherwise outlive it."""
        if self.proc is not None and self.proc.poll() is None:
            below = descendants(self.proc.pid)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            kill_tree(below)
            self.proc.wait()
        self._close_fds()

    def stop(self) -> None:
        """Graceful stop: the driver shuts down and releases the root's pid-file lock."""
        if self.alive:
            try:
                self.call("quit", (), 30)
                assert self.proc is not None
                self.proc.wait(timeout=30)
            except (WorkerLost, subprocess.TimeoutExpired, WorkerError):
                self.kill()
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.req_w, self.resp_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.req_w = self.resp_r = -1


def default_timeout() -> float:
    return float(os.environ.get("VIRTFUZZ_LIBVIRT_TIMEOUT", "60"))

