"""Real live migration between two libvirt builds: a destination ``libvirtd --listen`` per build.

The source is a libvirt worker's embedded driver (the host's 9.0.0: ``qemu:///embed`` cannot be a
migration destination, it has no listening daemon); the destination is the build's own
``libvirtd`` inside its root (``virtfuzz.buildroots``), following the platform notes' measured
recipe: its own mount namespace with proc, dev, sys and a tmpfs ``/run`` inside the root,
libvirtd.conf ``listen_tcp = 1`` on 127.0.0.1 with a free ``tcp_port``, ``auth_tcp = "none"``,
its own ``host_uuid`` (else the source sees "the same host"), qemu.conf user/group root,
``stdio_handler = "file"``, a ``migration_port_min/max`` range of its own and ``namespaces = []``
(as on the source; else QEMU fails "Failed disable mount propagation out of the root filesystem").

Nothing of the root is changed: the daemon's configuration, state, cache and logs live in a
private directory (on /dev/shm, beside the embedded-driver roots, named by our pid so a dead
process's is reaped) bind-mounted over the root's ``/etc/libvirt/qemu.conf``,
``/etc/libvirt/qemu``, ``/var/lib/libvirt``, ``/var/cache/libvirt`` and ``/var/log/libvirt`` inside
the namespace (empty mount points are created in the root where missing: bullseye's come with
libvirt-daemon-system). The daemon also gets its own PID namespace whose init is a tiny stdlib reaper
(``_INIT``, the root's python3) with libvirtd as its child: QEMU daemonizes, so without it a
guest would outlive its libvirtd; with it, everything the daemon started dies with the namespace.
The namespace's ``unshare`` is killed by the kernel when the process that started it exits
(``PR_SET_PDEATHSIG``; ``--kill-child`` passes it on), so a daemon dies with its parent. The
capability cache is seeded from, and saved back to, a machine-wide cache per build
(``capscache/<version>-daemon``): the first start probes QEMU (seconds), later ones do not.

One daemon per build and process (``destination(version)``), started on first use, or all at once
by ``start_all`` (a campaign job does, so that its processes and descriptors are the same from
its first minute to its last: started lazily, a build first drawn after an hour showed up in the
soak as descriptor growth), and stopped with its QEMU processes by ``close_all`` (at exit too).
Start it from the thread that keeps it: the kernel's parent-death signal follows the starting
thread.

``logged_argv`` also runs in the source worker (it may run inside a root): stdlib only, 3.9.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

# pid 1 of the daemon's PID namespace (inside the root: stdlib only, Python 3.9): runs libvirtd,
# reaps every orphan (daemonized QEMU), forwards SIGTERM, and exits with libvirtd, which makes
# the kernel kill whatever is left in the namespace
_INIT = r"""
import os, signal, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda s, f: p.send_signal(s))
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        sys.exit(0)
    except InterruptedError:
        continue
    if pid == p.pid:
        sys.exit(1)
"""

# sh -c ENTER NAME ROOT STATE -- COMMAND...: mounts inside the new mount (and PID) namespace, then chroot
_ENTER = r"""
r=$1; s=$2; shift 2
mount --bind "$r" "$r" || exit 125
mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" || exit 125
mount -t tmpfs tmpfs "$r/run" || exit 125
# bullseye's /etc/libvirt comes with libvirt-daemon-system (not installed): empty mount points
mkdir -p "$r/etc/libvirt/qemu" "$r/var/lib/libvirt" "$r/var/cache/libvirt" "$r/var/log/libvirt" || exit 125
[ -e "$r/etc/libvirt/qemu.conf" ] || : > "$r/etc/libvirt/qemu.conf" || exit 125
mount --bind "$s/qemu.conf" "$r/etc/libvirt/qemu.conf" && mount --bind "$s/etc-qemu" "$r/etc/libvirt/qemu" &&
mount --bind "$s/lib" "$r/var/lib/libvirt" && mount --bind "$s/cache" "$r/var/cache/libvirt" &&
mount --bind "$s/log" "$r/var/log/libvirt" || exit 125
shift
exec chroot "$r" "$@"
"""

START_TIMEOUT = 120.0  # a first start probes the x86_64 QEMU's capabilities


class DaemonError(Exception):
    """The destination daemon could not be started; the message is one line."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logged_argv(log: Path) -> str | None:
    """The QEMU command line libvirt logged when it started a guest (``stdio_handler = "file"``):
    the last block of lines from ``LC_ALL=C`` to the first line without a trailing backslash."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if line.startswith("LC_ALL=C")]
    if not starts:
        return None
    block = []
    for line in lines[starts[-1]:]:
        block.append(line)
        if not line.endswith("\\"):
            break
    return "\n".join(block)


# a message QEMU printed itself in the guest's log: "2026-12-06T17:35:20.043326Z qemu-system-ppc64: ..."
_QEMU_MESSAGE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z qemu-system-[\w]+: ")


def logged_errors(log: Path, offset: int = 0) -> list[str]:
    """QEMU's own error lines (timestamped, warnings left out) that the guest's log gained after
    ``offset`` bytes: why a destination QEMU exited, also when libvirt's error on the source does
    not quote it (it sometimes says only "domain is no longer running", depending on which side
    noticed first)."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if _QEMU_MESSAGE.match(line) and " warning: " not in line]


def _die_with_parent(parent: int) -> None:
    """In the forked child before exec: SIGKILL when the parent (thread) goes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


class DestinationDaemon:
    """``libvirtd --listen`` of one build inside its root (see the module docstring)."""

    def __init__(self, version: str) -> None:
        from virtfuzz.backends.builds import resolve_build

        self.version = version
        self.build = resolve_build(version)
        if self.build.root is None:
            raise DaemonError(f"libvirt {version} is the host's build: its embedded driver cannot be a "
                              "migration destination (choose a build in a root)")
        self.root = Path(self.build.root)
        if not (self.root / "usr/sbin/libvirtd").exists():
            raise DaemonError(f"libvirt {version}: no libvirtd in {self.root} (package libvirt-daemon)")
        self.proc: subprocess.Popen | None = None
        self.state: Path | None = None
        self.port = 0
        self.started_seconds: float | None = None

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _write_config(self, state: Path) -> None:
        from virtfuzz.backends.embed_root import shared_caps_cache

        for d in ("etc-qemu", "lib", "cache/qemu/capabilities", "log"):
            (state / d).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        lo = max(1024, min(free_port(), 65535 - 16))
        (state / "libvirtd.conf").write_text(
            "# written by virtfuzz (virtfuzz/backends/live_migration.py)\n"
            f'listen_tcp = 1\nlisten_tls = 0\nlisten_addr = "127.0.0.1"\ntcp_port = "{self.port}"\n'
            f'auth_tcp = "none"\nhost_uuid = "{uuid.uuid4()}"\n'
            f'log_outputs = "3:file:{state}/libvirtd.log"\n')
        (state / "qemu.conf").write_text(
            '# written by virtfuzz\nuser = "root"\ngroup = "root"\nstdio_handler = "file"\nnamespaces = []\n'
            f"migration_port_min = {lo}\nmigration_port_max = {lo + 15}\n")
        shared = shared_caps_cache(f"{self.version}-daemon")
        if shared.is_dir():
            for f in shared.glob("*.xml"):
                shutil.copy2(f, state / "cache/qemu/capabilities" / f.name)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        from virtfuzz.backends.embed_root import _tmp_parent, reap_stale_roots

        if self.alive:
            return
        t = time.monotonic()
        parent = _tmp_parent()
        reap_stale_roots(parent)
        self.state = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-live-{self.version}-", dir=parent))
        self._write_config(self.state)
        cmd = ["unshare", "--mount", "--pid", "--fork", "--kill-child=SIGKILL", "--propagation", "private",
               "sh", "-c", _ENTER, "virtfuzz-live", str(self.root), str(self.state), "--",
               "/usr/bin/python3", "-c", _INIT, "/usr/sbin/libvirtd", "--listen", "--config",
               str(self.state / "libvirtd.conf")]
        err = open(self.state / "daemon.stderr", "ab")
        me = os.getpid()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     start_new_session=True, preexec_fn=lambda: _die_with_parent(me),
                                     env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
        err.close()
        end = time.monotonic() + timeout
        while True:  # listening: a client that connects now waits for the drivers (libvirtd holds it)
            if not self.alive:
                tail = self._tail()
                self.stop()
                raise DaemonError(f"libvirtd {self.version} exited at start-up: {tail}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                pass
            if time.monotonic() > end:
                tail = self._tail()
                self.stop()
                raise DaemonError(f"libvirtd {self.version} did not listen within {timeout:.0f} s: {tail}")
            time.sleep(0.05)
        self.started_seconds = round(time.monotonic() - t, 2)

    def _tail(self) -> str:
        lines: list[str] = []
        for name in ("daemon.stderr", "libvirtd.log"):
            if self.state is None:
                break
            try:
                lines += (self.state / name).read_text(errors="replace").strip().splitlines()[-2:]
            except OSError:
                pass
        return " | ".join(lines) or "no output"

    def processes(self) -> list[int]:
        """unshare and everything below it (the namespace's init, libvirtd, QEMU)."""
        from virtfuzz.lifeline import descendants

        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        """Stop libvirtd and every QEMU it started (the PID namespace goes with it); keep its
        capability cache; remove its state."""
        from virtfuzz.lifeline import kill_tree

        if self.proc is not None:
            if self.proc.poll() is None:
                kill_tree([self.proc.pid])
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            self.proc = None
        if self.state is not None:
            self._save_caps()
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = None

    def _save_caps(self) -> None:
        from virtfuzz.backends.embed_root import save_caps_to, shared_caps_cache

        assert self.state is not None
        save_caps_to(self.state / "cache/qemu/capabilities", shared_caps_cache(f"{self.version}-daemon"))


def summarize(result: dict) -> dict:
    """A ``migrate_live`` result as a verdict: ``{"ok", "error", "stage", "seconds", "guest":
    {"same", "first_difference", "source", "destination"}, "destination_xml"}``. ``ok``: the
    migration succeeded and the guest layout QEMU got on the destination is the one it had on the
    source (``contract.guest_layout``; ``-usb`` compared as the device QEMU creates for it)."""
    from contract.guest_layout import first_difference, parse_argv, qemu_view

    out = {"ok": False, "error": result.get("error"), "stage": result.get("stage"),
           "seconds": result.get("seconds"), "destination_xml": result.get("destination_xml"),
           "guest": {"same": None, "first_difference": None, "source": None, "destination": None}}
    if result.get("kind") != "ok":
        if result.get("kind") in ("crash", "timeout"):
            out["error"] = f"{result['kind']}: {result.get('error')}"
        return out
    src, dst = result.get("source_argv"), result.get("destination_argv")
    if not src or not dst:
        out["error"] = "no QEMU command line of the " + ("source" if not src else "destination")
        return out
    a, b = parse_argv(src), parse_argv(dst)
    diff = first_difference(qemu_view(a), qemu_view(b))
    out["guest"] = {"same": diff is None, "first_difference": diff, "source": a, "destination": b}
    if diff is not None:
        out["error"] = f"the guest changed in the migration: {diff}"
    else:
        out["ok"] = True
    return out


_DAEMONS: dict[str, DestinationDaemon] = {}


def destination(version: str) -> DestinationDaemon:
    """This process's destination daemon of ``version``, started on first use (raises DaemonError)."""
    d = _DAEMONS.get(version)
    if d is None:
        d = _DAEMONS[version] = DestinationDaemon(version)
    if not d.alive:
        d.start()
    return d


def start_all(versions: list[str]) -> dict[str, str]:
    """Start this process's destination daemon of each of ``versions`` now: ``{version: error}``
    for those that cannot start (their first use raises the same error and reports it)."""
    from contract.backend import BackendUnavailable

    errors = {}
    for v in versions:
        try:
            destination(v)
        except (DaemonError, BackendUnavailable, OSError) as e:
            errors[v] = str(e)
    return errors


def close_all() -> None:
    """Stop every destination daemon of this process (and its guests)."""
    for d in list(_DAEMONS.values()):
        d.stop()
    _DAEMONS.clear()


atexit.register(close_all)
