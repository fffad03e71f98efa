"""The fake emulator: behaves like QEMU under libvirt 9.0.0's capability probe.

libvirt probes an emulator as ``EMU -S -no-user-config -nodefaults -nographic -machine
none,accel=kvm:tcg -qmp unix:PATH,server=on,wait=off -pidfile PATH -daemonize``: it reads stderr
to EOF, waits for the launcher to exit, reads the pid file, talks QMP on the socket, then kills
the pid. This module does the same dance and answers every QMP request from a recorded
conversation (see :mod:`virtfuzz.fakeqemu.replies`), so libvirt computes the recorded caps.

Why each detail (all measured on libvirt 9.0.0; the daemonizing steps are in daemon.py):
- KVM is reported on only if the recording has it *and* the arch is native *and* /dev/kvm is
  usable by us (the qemu.conf user): libvirt throws the cache entry away on every lookup if its
  ``kvm`` flag disagrees with /dev/kvm for a native arch. With KVM off, requests are answered
  from the recording's TCG-only section first, as a real QEMU without KVM would answer them
  (including CPU model ``host``, see ``Responder.lookup``);
- a request with no recorded answer gets a QMP error and is logged: libvirt would silently lose
  capability flags otherwise, which is exactly what a caller must be able to notice;
- start-up is on libvirt's critical path, so this module imports only built-in modules and
  serves pre-serialised replies (see :mod:`virtfuzz.fakeqemu.compiled`); ``--replies`` input is
  compiled in-process, variants ship a compiled file (``--compiled``).
"""

from __future__ import annotations

import _json
import _socket
import marshal
import os
import sys

from virtfuzz.fakeqemu.daemon import daemonize, listen, write_pidfile

ACCEPT_TIMEOUT_S = 120.0  # a probe never leaves the socket idle this long; avoid leaking servers
# QEMU target names (query-target) -> libvirt arch names.
QEMU_TO_LIBVIRT_ARCH = {"i386": "i686", "arm": "armv7l"}
FAKE_OPTIONS = ("--replies", "--mutations", "--compiled", "--log")
COMPILED_FORMAT = 1  # layout of the tables in virtfuzz.fakeqemu.compiled


class UsageError(Exception):
    """The command line is not one this fake can serve (e.g. a request to run a real guest)."""


class QemuArgs:
    def __init__(self, qmp_path: str, pidfile: str | None, daemonize: bool, accel: str) -> None:
        self.qmp_path, self.pidfile, self.daemonize, self.accel = qmp_path, pidfile, daemonize, accel


def parse_qemu_args(argv: list[str]) -> QemuArgs:
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


def parse_args(argv: list[str]) -> tuple[dict[str, str], QemuArgs]:
    """``(--replies FILE [--mutations FILE] | --compiled FILE) [--log FILE] <qemu args...>``."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i] in FAKE_OPTIONS:
        if i + 1 >= len(argv):
            raise UsageError(f"{argv[i]} needs a value")
        opts[argv[i][2:]] = argv[i + 1]
        i += 2
    if ("replies" in opts) == ("compiled" in opts):
        raise UsageError(
            "usage: python -m virtfuzz.fakeqemu (--replies FILE [--mutations FILE] | --compiled FILE)"
            " [--log FILE] QEMU-ARGS"
        )
    return opts, parse_qemu_args(argv[i:])


def load_tables(opts: dict[str, str]) -> dict:
    if "compiled" in opts:
        with open(opts["compiled"], "rb") as f:
            tables = marshal.load(f)
        if not isinstance(tables, dict) or tables.get("format") != COMPILED_FORMAT:
            raise UsageError(f"{opts['compiled']}: not a compiled recording of format {COMPILED_FORMAT}")
        return tables
    from virtfuzz.fakeqemu import compiled, mutations, replies  # slow path: full JSON parsing

    conv = replies.load(opts["replies"])
    if "mutations" in opts:
        mutations.apply(conv, mutations.load(opts["mutations"]))
    return compiled.compile_conversation(conv)


def canon(value: object) -> object:
    """Hashable, order-insensitive form of a JSON value (tags keep 1/true and []/{} apart);
    the key of recorded and live requests alike."""
    if isinstance(value, dict):
        return ("{", tuple(sorted((k, canon(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("[", tuple(canon(v) for v in value))
    if isinstance(value, bool):
        return ("b", value)
    return value


def is_native(host: str, guest: str | None) -> bool:
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
    """Answers QMP requests for one fake process from compiled tables.

    Sections are consulted in preference order; repeated identical requests consume recorded
    answers in order and then keep getting the last one.
    """

    def __init__(self, tables: dict, accel: str, log: str | None = None) -> None:
        self.log = log
        qemu_arch = tables["qemu_arch"]
        arch = QEMU_TO_LIBVIRT_ARCH.get(qemu_arch, qemu_arch)
        self.kvm = bool(
            "kvm" in accel.split(":")
            and tables["kvm_recorded"]
            and is_native(os.uname().machine, arch)
            and kvm_usable()
        )
        self.order = [tables["main"]] if self.kvm and accel != "tcg" else [tables["tcg"], tables["main"]]
        self.kvm_off_reply: bytes | None = tables["kvm_off_reply"]
        self.greeting: bytes = tables["greeting"]
        self.used: dict = {}

    def lookup(self, command: str, arguments: dict | None) -> bytes | None:
        """The recorded reply (without closing brace), or None.

        libvirt 9.0 computes the accelerator before it has seen the ``tcg-accel`` type, so
        without KVM it still expands CPU model ``host``; a real QEMU without KVM answers that
        like ``max``, which is what the recording's TCG section holds.
        """
        if command == "query-kvm" and not self.kvm and self.kvm_off_reply is not None:
            return self.kvm_off_reply
        key = (command, canon(arguments or {}))
        if not self.kvm and command == "query-cpu-model-expansion" and arguments:
            model = arguments.get("model") or {}
            if model.get("name") == "host":
                as_max = (command, canon({**arguments, "model": {**model, "name": "max"}}))
                if as_max in self.order[0]:
                    key = as_max
        for table in self.order:
            found = table.get(key)
            if found:
                n = self.used.get(key, 0)
                self.used[key] = n + 1
                return found[min(n, len(found) - 1)]
        return None

    def answer(self, command: str, arguments: dict | None, ident: object) -> bytes:
        """The full reply line for one request."""
        reply = self.lookup(command, arguments)
        if reply is None:
            reply = self.synthesise(command, arguments)
            self._log_miss(command, arguments, synthesised=reply is not None)
        if reply is None:
            if command in ("device-list-properties", "qom-list-properties"):
                name = str((arguments or {}).get("typename"))
                err = ("DeviceNotFound", f"Device '{name}' not found")
            else:
                err = ("CommandNotFound", f"The command {command} has not been found")
            reply = (
                b'{"error": {"class": ' + _json.encode_basestring_ascii(err[0]).encode()
                + b', "desc": ' + _json.encode_basestring_ascii(err[1]).encode() + b"}"
            )
        if ident is None:
            return reply + b"}\r\n"
        return reply + b', "id": ' + _encode_id(ident) + b"}\r\n"

    @staticmethod
    def synthesise(command: str, arguments: dict | None) -> bytes | None:
        """An answer computed from the request, for the one kind libvirt asks only when a
        mutation removed ``canonical-cpu-features``: a full expansion of a static expansion's
        result (to learn alias spellings). Echoing the model is what QEMU returns minus the
        aliases; without it the whole probe would fail."""
        if command != "query-cpu-model-expansion" or not arguments or arguments.get("type") != "full":
            return None
        model = arguments.get("model") or {}
        if not model.get("props") or model.get("name") in ("host", "max"):
            return None
        import json  # rare path; keep start-up free of it

        return json.dumps({"return": {"model": {"name": model.get("name"), "props": model["props"]}}})[:-1].encode()

    def _log_miss(self, command: str, arguments: dict | None, synthesised: bool = False) -> None:
        if not self.log:
            return
        what = "synthesised" if synthesised else "unmatched"
        try:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"pid={os.getpid()} {what}: {command} {arguments!r}\n")
        except OSError:
            pass


def _encode_id(ident: object) -> bytes:
    if isinstance(ident, str):
        return _json.encode_basestring_ascii(ident).encode()
    if isinstance(ident, bool) or ident is None:
        return b"true" if ident is True else b"false" if ident is False else b"null"
    return str(ident).encode()


class _ScanContext:
    """What ``_json.make_scanner`` reads from a JSONDecoder (avoids importing json)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_ScanContext())


def _next_request(buf: str) -> tuple[object, str] | None:
    """Split one JSON value off ``buf``; None if ``buf`` holds no complete value yet."""
    start = len(buf) - len(buf.lstrip())
    if start == len(buf):
        return None
    try:
        obj, end = _scan(buf, start)
    except StopIteration:
        return ("invalid", "")
    except ValueError:  # incomplete (JSONDecodeError is a ValueError)
        return None
    return obj, buf[end:]


def serve_connection(conn: _socket.socket, responder: Responder) -> None:
    """Speak QMP on one accepted connection until the peer closes it."""
    conn.sendall(responder.greeting)
    buf = ""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk.decode("utf-8", errors="replace")
        while (item := _next_request(buf)) is not None:
            req, buf = item
            if not isinstance(req, dict) or "execute" not in req:
                conn.sendall(b'{"error": {"class": "GenericError", "desc": "Invalid JSON syntax"}}\r\n')
                if not isinstance(req, dict):
                    buf = ""
                continue
            conn.sendall(responder.answer(req["execute"], req.get("arguments"), req.get("id")))


def serve(listener: _socket.socket, responder: Responder) -> None:
    """Serve the one connection a probe makes, then return (libvirt never reconnects)."""
    listener.settimeout(ACCEPT_TIMEOUT_S)
    try:
        fd, _ = listener._accept()
    except OSError:  # includes the accept timeout
        return
    conn = _socket.socket(fileno=fd)
    try:
        conn.settimeout(ACCEPT_TIMEOUT_S)
        serve_connection(conn, responder)
    except OSError:
        pass
    finally:
        conn.close()


def run(opts: dict[str, str], qemu: QemuArgs) -> int:
    responder = Responder(load_tables(opts), qemu.accel, opts.get("log"))
    listener = listen(qemu.qmp_path)
    if not qemu.daemonize:
        write_pidfile(qemu.pidfile, os.getpid())
        serve(listener, responder)
        return 0
    daemonize(qemu.pidfile)
    try:
        serve(listener, responder)
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    try:
        opts, qemu = parse_args(list(sys.argv[1:] if argv is None else argv))
        return run(opts, qemu)
    except (UsageError, OSError, ValueError, EOFError) as exc:
        print(f"fakeqemu: {exc}", file=sys.stderr)
        return 1
