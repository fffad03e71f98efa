"""A recording proxy in front of a real QEMU: writes libvirt-style ``.replies`` files.

Why: libvirt's own test data has no recordings for several arches of the installed QEMU 7.2
(i686, armv7l, riscv64, ...) and none made on this host. Put this proxy where libvirt expects
the emulator; libvirt probes it exactly as it probes QEMU, the proxy starts the real binary with
the same arguments (its QMP socket and pid file moved to a private directory), relays QMP both
ways and appends each request/reply pair to the output in libvirt's layout. libvirt's second,
TCG-only probe process appends its own ``qmp_capabilities``-led section, as in libvirt's files.

Usage (as the emulator): ``python -m virtfuzz.fakeqemu.recorder --real /usr/bin/qemu-system-X
--out FILE <qemu probe args...>``. The daemonizing dance is the fake server's (see daemon.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from virtfuzz.fakeqemu import daemon, server
from virtfuzz.fakeqemu import replies as replies_mod

JSON = Any


class _JsonStream:
    """Newline-agnostic reader of consecutive JSON objects from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.decoder = sock, "", json.JSONDecoder()

    def read(self) -> dict[str, JSON] | None:
        while True:
            stripped = self.buf.lstrip()
            if stripped:
                try:
                    obj, end = self.decoder.raw_decode(stripped)
                    self.buf = stripped[end:]
                    return obj
                except json.JSONDecodeError:
                    pass
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk.decode("utf-8", errors="replace")


def _send(sock: socket.socket, obj: dict[str, JSON]) -> None:
    sock.sendall(json.dumps(obj).encode() + b"\r\n")


def relay(client: socket.socket, qemu: socket.socket, out: Path) -> None:
    """Relay one probe conversation, appending each exchange to ``out`` as it completes."""
    from_client, from_qemu = _JsonStream(client), _JsonStream(qemu)
    greeting = from_qemu.read()
    if greeting is None:
        return
    _send(client, greeting)
    while (req := from_client.read()) is not None:
        _send(qemu, req)
        while (msg := from_qemu.read()) is not None:
            if "event" in msg:  # asynchronous; libvirt's recordings leave them out
                _send(client, msg)
                continue
            break
        if msg is None:
            return
        with open(out, "a", encoding="utf-8") as f:
            sep = "\n" if out.exists() and out.stat().st_size else ""
            f.write(sep + replies_mod.format_messages([req, msg]))
        _send(client, msg)


def _start_real(real: str, qargs: server.QemuArgs, argv: list[str], priv: Path) -> tuple[Path, int]:
    sock, pidfile = priv / "qmp.sock", priv / "qemu.pid"
    new_argv: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "-qmp":
            next(it)
            new_argv += ["-qmp", f"unix:{sock},server=on,wait=off"]
        elif arg == "-pidfile":
            next(it)
            new_argv += ["-pidfile", str(pidfile)]
        else:
            new_argv.append(arg)
    if not qargs.daemonize:
        new_argv.append("-daemonize")
    subprocess.run([real, *new_argv], check=True, stdin=subprocess.DEVNULL)
    return sock, int(pidfile.read_text().strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] != ["--real"] or args[2:3] != ["--out"]:
            raise server.UsageError("usage: recorder --real QEMU --out FILE <qemu probe args...>")
        real, out, qemu_argv = args[1], Path(args[3]), list(args[4:])
        qargs = server.parse_qemu_args(qemu_argv)
        priv = Path(tempfile.mkdtemp(prefix="virtfuzz-rec-"))
        real_sock, real_pid = _start_real(real, qargs, qemu_argv, priv)
        try:
            os.unlink(qargs.qmp_path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(qargs.qmp_path)
        listener.listen(1)  # before daemonizing: libvirt connects once the launcher has exited
    except (server.UsageError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"recorder: {exc}", file=sys.stderr)
        return 1

    daemon.daemonize(qargs.pidfile)
    try:
        listener.settimeout(server.ACCEPT_TIMEOUT_S)
        client, _ = listener.accept()
        qemu = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        qemu.connect(str(real_sock))
        with client, qemu:
            relay(client, qemu, out)
    finally:
        try:
            os.kill(real_pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(real_pid, 0)
                time.sleep(0.02)
        except OSError:
            pass
        for p in priv.iterdir():
            p.unlink(missing_ok=True)
        priv.rmdir()
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
