"""The fake emulator: behaves like QEMU under libvirt 9.0.0's capability probe.

libvirt probes an emulator as ``EMU -S -no-user-config -nodefaults -nographic -machine
none,accel=kvm:tcg -qmp unix:PATH,server=on,wait=off -pidfile PATH -daemonize``: it reads stderr
to EOF, waits for the launcher to exit, reads the pid file, talks QMP on the socket, then SIGTERMs
the pid. This module does the same dance and answers every QMP request from a recorded
conversation (see :mod:`virtfuzz.fakeqemu.replies`), so libvirt computes the recorded caps.

Why each detail (all measured; see docs in shared research "Fake QEMU: details that cost time"):
- the pid file names the launcher, which libvirt has already reaped when it reads the file: at
  the end of the probe libvirt's virProcessKillPainfully() sends SIGTERM and then sleeps 200 ms
  before checking again, unless the pid is already gone (ESRCH). The server itself exits as soon
  as libvirt closes the QMP connection, which libvirt does just before that kill. This saves
  200 ms per probe process (x86 with KVM runs two);
- double fork, and the middle process reaps the server: an orphan would become a zombie that
  PID 1 reaps late (~1.4 s here); both forked processes are named ``qemu-system-fak`` so a
  harness that reaps ``qemu-system*`` zombies as a subreaper recognises them;
- fds 0-2 of both forked processes go to /dev/null, or libvirt never sees EOF on stderr;
- KVM is reported on only if the recording has it *and* the arch is native *and* /dev/kvm is
  usable by us (the qemu.conf user): libvirt throws the cache entry away on every lookup if its
  ``kvm`` flag disagrees with /dev/kvm for a native arch. With KVM off, requests are answered
  from the recording's TCG-only section first, as a real QEMU without KVM would answer them
  (including CPU model ``host``, see ``Responder._as_tcg``);
- a request with no recorded answer gets a QMP error and is logged: libvirt would silently lose
  capability flags otherwise, which is exactly what a caller must be able to notice.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtfuzz.fakeqemu import mutations as mutations_mod
from virtfuzz.fakeqemu import replies as replies_mod
from virtfuzz.fakeqemu.replies import Conversation, Exchange, request_key

JSON = Any

# QEMU target names (query-target) -> libvirt arch names.
QEMU_TO_LIBVIRT_ARCH = {"i386": "i686", "arm": "armv7l", "ppc": "ppc", "sparc": "sparc"}
ACCEPT_TIMEOUT_S = 120.0  # a probe never leaves the socket idle this long; avoid leaking servers


class UsageError(Exception):
    """The command line is not one this fake can serve (e.g. a request to run a real guest)."""


@dataclass
class QemuArgs:
    qmp_path: str
    pidfile: str | None = None
    daemonize: bool = False
    accel: str = "kvm:tcg"


@dataclass
class FakeArgs:
    replies: str
    mutations: str | None = None
    log: str | None = None
    qemu: QemuArgs = field(default_factory=lambda: QemuArgs(""))


def parse_qemu_args(argv: Sequence[str]) -> QemuArgs:
    """Pick out what the probe needs; anything else that asks for a guest is refused."""
    qmp = pidfile = None
    daemonize = False
    accel = "tcg"
    it = iter(argv)
    for arg in it:
        if arg == "-qmp":
            spec = next(it, "")
            if not spec.startswith("unix:"):
                raise UsageError(f"unsupported -qmp {spec!r} (only unix: sockets)")
            qmp = spec[len("unix:"):].split(",", 1)[0]
        elif arg == "-pidfile":
            pidfile = next(it, None)
        elif arg == "-daemonize":
            daemonize = True
        elif arg == "-machine":
            for part in next(it, "").split(","):
                if part.startswith("accel="):
                    accel = part[len("accel="):]
        elif arg in ("-S", "-no-user-config", "-nodefaults", "-nographic"):
            continue
        else:
            raise UsageError(f"fake QEMU only serves libvirt's capability probe; unexpected argument {arg!r}")
    if qmp is None:
        raise UsageError("fake QEMU needs -qmp unix:PATH,server=on,wait=off")
    return QemuArgs(qmp, pidfile, daemonize, accel)


def parse_args(argv: Sequence[str]) -> FakeArgs:
    """``--replies FILE [--mutations FILE] [--log FILE] <qemu args...>``."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i] in ("--replies", "--mutations", "--log"):
        if i + 1 >= len(argv):
            raise UsageError(f"{argv[i]} needs a value")
        opts[argv[i][2:]] = argv[i + 1]
        i += 2
    if "replies" not in opts:
        raise UsageError(
            "usage: python -m virtfuzz.fakeqemu --replies FILE [--mutations FILE] [--log FILE] QEMU-ARGS"
        )
    return FakeArgs(opts["replies"], opts.get("mutations"), opts.get("log"), parse_qemu_args(argv[i:]))


def _recorded_kvm(conv: Conversation) -> bool:
    for ex in conv.main:
        if ex.command == "query-kvm":
            ret = ex.reply.get("return") or {}
            return bool(ret.get("enabled") and ret.get("present"))
    return False


def _libvirt_arch(conv: Conversation) -> str | None:
    for ex in conv.main:
        if ex.command == "query-target":
            arch = (ex.reply.get("return") or {}).get("arch")
            return QEMU_TO_LIBVIRT_ARCH.get(arch, arch)
    return None


def _is_native(host: str, guest: str | None) -> bool:
    """Mirror of libvirt 9.0.0 virQEMUCapsGuestIsNative (src/qemu/qemu_capabilities.c)."""
    if guest is None:
        return False
    if host == guest:
        return True
    if host == "x86_64" and guest == "i686":
        return True
    if host == "aarch64" and guest == "armv7l":
        return True
    return host.startswith("ppc64") and guest.startswith("ppc64")


def kvm_usable() -> bool:
    """What libvirt checks (virQEMUCapsKVMUsable): /dev/kvm read-write for the qemu.conf user."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


class Responder:
    """Answers QMP requests for one fake process from a conversation.

    Sections are consulted in preference order; repeated identical requests consume recorded
    answers in order and then keep getting the last one.
    """

    def __init__(self, conv: Conversation, accel: str, log: str | None = None) -> None:
        self.log = log
        arch = _libvirt_arch(conv)
        self.kvm = (
            "kvm" in accel.split(":")
            and _recorded_kvm(conv)
            and _is_native(platform.machine(), arch)
            and kvm_usable()
        )
        tcg_only = accel == "tcg"
        if self.kvm and not tcg_only:
            order = [conv.main]
        else:
            order = [conv.tcg, conv.main]
        self.tables: list[dict[str, list[Exchange]]] = []
        for section in order:
            table: dict[str, list[Exchange]] = {}
            for ex in section:
                table.setdefault(ex.key(), []).append(ex)
            self.tables.append(table)
        self.used: dict[str, int] = {}
        self.version = self._version(conv)

    @staticmethod
    def _version(conv: Conversation) -> JSON:
        for ex in conv.main:
            if ex.command == "query-version" and "return" in ex.reply:
                return ex.reply["return"]
        return {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}

    def greeting(self) -> dict[str, JSON]:
        return {"QMP": {"version": self.version, "capabilities": ["oob"]}}

    def _as_tcg(self, command: str, arguments: dict[str, JSON] | None) -> str | None:
        """libvirt 9.0 computes the accelerator before it has seen the ``tcg-accel`` type, so
        without KVM it still expands CPU model ``host``; a real QEMU without KVM answers that
        like ``max``, which is what the recording's TCG section holds."""
        if self.kvm or command != "query-cpu-model-expansion" or not arguments:
            return None
        model = arguments.get("model") or {}
        if model.get("name") != "host":
            return None
        return request_key(command, {**arguments, "model": {**model, "name": "max"}})

    def answer(self, command: str, arguments: dict[str, JSON] | None) -> dict[str, JSON]:
        key = request_key(command, arguments)
        as_tcg = self._as_tcg(command, arguments)
        if as_tcg is not None and self.tables[0].get(as_tcg):
            key = as_tcg
        for table in self.tables:
            found = table.get(key)
            if found:
                n = self.used.get(key, 0)
                self.used[key] = n + 1
                reply = found[min(n, len(found) - 1)].reply
                if command == "query-kvm" and not self.kvm and "return" in reply:
                    return {"return": {**reply["return"], "enabled": False}}
                return reply
        self._log_miss(key)
        if command in ("device-list-properties", "qom-list-properties"):
            name = (arguments or {}).get("typename")
            return {"error": {"class": "DeviceNotFound", "desc": f"Device '{name}' not found"}}
        return {"error": {"class": "CommandNotFound", "desc": f"The command {command} has not been found"}}

    def _log_miss(self, key: str) -> None:
        if not self.log:
            return
        try:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} unmatched: {key}\n")
        except OSError:
            pass


def serve_connection(conn: socket.socket, responder: Responder) -> None:
    """Speak QMP on one accepted connection until the peer closes it."""
    send = lambda obj: conn.sendall(json.dumps(obj).encode() + b"\r\n")  # noqa: E731
    send(responder.greeting())
    decoder = json.JSONDecoder()
    buf = ""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk.decode("utf-8", errors="replace")
        while True:
            stripped = buf.lstrip()
            if not stripped:
                buf = ""
                break
            try:
                req, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                buf = stripped
                break  # incomplete: wait for more bytes
            buf = stripped[end:]
            if not isinstance(req, dict) or "execute" not in req:
                send({"error": {"class": "GenericError", "desc": "Invalid JSON syntax"}})
                continue
            reply = dict(responder.answer(req["execute"], req.get("arguments")))
            if "id" in req:
                reply["id"] = req["id"]
            send(reply)


def serve(listener: socket.socket, responder: Responder) -> None:
    """Serve the one connection a probe makes, then return (libvirt never reconnects)."""
    listener.settimeout(ACCEPT_TIMEOUT_S)
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return
    with conn:
        conn.settimeout(ACCEPT_TIMEOUT_S)
        try:
            serve_connection(conn, responder)
        except (TimeoutError, ConnectionError):
            return


def _set_comm(name: str) -> None:
    try:
        Path("/proc/self/comm").write_text(name[:15])
    except OSError:
        pass


def _to_devnull() -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def _write_pidfile(path: str | None) -> None:
    if path:
        tmp = f"{path}.tmp{os.getpid()}"
        Path(tmp).write_text(f"{os.getpid()}\n")
        os.replace(tmp, path)


def run(args: FakeArgs) -> int:
    conv = replies_mod.load(args.replies)
    if args.mutations:
        conv = mutations_mod.apply(conv, mutations_mod.load(args.mutations))
    responder = Responder(conv, args.qemu.accel, args.log)

    try:
        os.unlink(args.qemu.qmp_path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.qemu.qmp_path)
    listener.listen(1)

    if not args.qemu.daemonize:
        _write_pidfile(args.qemu.pidfile)
        serve(listener, responder)
        return 0

    ready_r, ready_w = os.pipe()
    if os.fork() > 0:  # launcher: exit once the server is up; the pid file names us (see above)
        os.close(ready_w)
        ok = os.read(ready_r, 1) == b"1"
        if ok:
            _write_pidfile(args.qemu.pidfile)
        return 0 if ok else 1
    # middle process: detach, start the server, reap it as soon as it exits
    os.close(ready_r)
    os.setsid()
    _to_devnull()
    _set_comm("qemu-system-fake")
    server_pid = os.fork()
    if server_pid > 0:
        os.close(ready_w)
        os.waitpid(server_pid, 0)
        os._exit(0)
    try:
        os.write(ready_w, b"1")
        os.close(ready_w)
        serve(listener, responder)
    finally:
        os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(list(sys.argv[1:] if argv is None else argv))
        return run(args)
    except (UsageError, replies_mod.RepliesError, mutations_mod.MutationError, OSError) as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 1
