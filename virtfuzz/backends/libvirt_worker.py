"""The process that owns one embedded libvirt driver and executes requests on it.

Run as ``python -m virtfuzz.backends.libvirt_worker ROOT REQ_FD RESP_FD``. It is the only place
that imports libvirt: a libvirt crash (SIGSEGV, abort) or hang kills this process, never the
fuzzer, and the parent turns it into a result of kind crash/timeout.

Every request is stateless for the caller: domains defined for a request are undefined before it
returns, so one input's result never depends on another's (two inputs may share a name or UUID).
The exception is ``collect``, which reads back definitions a previous process left in the root's
config directory, i.e. what a restarted driver loaded.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import libvirt

from virtfuzz.backends import wire
from virtfuzz.backends.cpuinfo_snapshot import use_cpuinfo_snapshot
from virtfuzz.backends.embed_open import open_embedded
from virtfuzz.backends.reaper import fork_reaper
from virtfuzz.backends.saveimage import write_save_image
from virtfuzz.lifeline import PARENT_ENV, die_with_parent, kill_all_below

MIGRATABLE = libvirt.VIR_DOMAIN_XML_MIGRATABLE
MIGRATABLE_INACTIVE = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_INACTIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG


def _fault_table() -> list[tuple[str, str]]:
    """Test-only fault injection: VIRTFUZZ_WORKER_FAULTS="segv:MARKER,hang:MARKER".

    The crash/timeout isolation must be testable without a known libvirt crasher; an input
    containing MARKER makes this worker die by SIGSEGV (or hang) exactly as a libvirt bug would.
    """
    spec = os.environ.get("VIRTFUZZ_WORKER_FAULTS", "")
    return [tuple(item.split(":", 1)) for item in spec.split(",") if ":" in item]  # type: ignore[misc]


FAULTS = _fault_table()


def _inject_fault(xml: str) -> None:
    for kind, marker in FAULTS:
        if marker in xml:
            if kind == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "hang":
                time.sleep(3600)


def _msg(e: libvirt.libvirtError) -> str:
    """libvirt's message as users see it (``str(libvirtError)``), on one line."""
    return " ".join(str(e).splitlines())


def _silence(_ctx: Any, _err: Any) -> None:
    """Errors are returned as results; keep libvirt's default handler from printing them."""


class Worker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch = root / "virtfuzz"
        self.scratch.mkdir(exist_ok=True)
        libvirt.registerErrorHandler(_silence, None)
        libvirt.virEventRegisterDefaultImpl()
        self.conn = open_embedded(str(root))

    # -- requests -------------------------------------------------------------------------
    def hello(self) -> dict:
        return {"version": libvirt.getVersion(), "pid": os.getpid(), "cpuinfo_snapshot": CPUINFO_SNAPSHOT,
                "domains": [d.name() for d in self.conn.listAllDomains()]}

    def define_one(self, xml: str, migratable: bool = True) -> dict:
        if FAULTS:
            _inject_fault(xml)
        try:
            dom = self.conn.defineXML(xml)
        except libvirt.libvirtError as e:
            return {"kind": "error", "xml": None, "migratable": None, "migratable_error": None,
                    "error": _msg(e)}
        try:
            stored = dom.XMLDesc(0)
            mig, mig_err = None, None
            try:
                if migratable:
                    mig = dom.XMLDesc(MIGRATABLE)
            except libvirt.libvirtError as e:
                mig_err = _msg(e)
            return {"kind": "ok", "xml": stored, "migratable": mig, "migratable_error": mig_err,
                    "error": None}
        finally:
            dom.undefine()

    def define_many(self, xmls: list[str], migratable: bool = True) -> list[dict]:
        return [self.define_one(x, migratable) for x in xmls]

    def abi(self, src_xml: str, dst_xml: str) -> dict:
        try:
            dom = self.conn.defineXML(src_xml)
        except libvirt.libvirtError as e:
            return {"kind": "error", "error": _msg(e), "stage": "define-src"}
        try:
            src_mig = dom.XMLDesc(MIGRATABLE_INACTIVE)
        except libvirt.libvirtError as e:  # defined, but it has no migratable form to save
            return {"kind": "error", "error": _msg(e), "stage": "define-src"}
        finally:
            dom.undefine()
        image = self.scratch / "abi.save"
        write_save_image(image, src_mig)
        try:
            self.conn.saveImageDefineXML(str(image), dst_xml, 0)
        except libvirt.libvirtError as e:
            return {"kind": "error", "error": _msg(e), "stage": "abi"}
        return {"kind": "ok", "error": None, "stage": "abi"}

    def abi_image_many(self, pairs: list[tuple[str, str]]) -> list[dict]:
        """ABI checks where the source is already a migratable inactive XML (what a save image holds)."""
        image = self.scratch / "abi.save"
        out = []
        for src_mig, dst_xml in pairs:
            write_save_image(image, src_mig)
            try:
                self.conn.saveImageDefineXML(str(image), dst_xml, 0)
                out.append({"kind": "ok", "error": None, "stage": "abi"})
            except libvirt.libvirtError as e:
                out.append({"kind": "error", "error": _msg(e), "stage": "abi"})
        return out

    def hotplug_many(self, op: str, items: list[tuple[str, str]]) -> list[dict]:
        return [self.hotplug(op, d, x) for d, x in items]

    def hotplug(self, op: str, domain_xml: str, device_xml: str) -> dict:
        try:
            dom = self.conn.defineXML(domain_xml)
        except libvirt.libvirtError as e:
            return {"kind": "error", "xml": None, "error": _msg(e), "stage": "define"}
        try:
            fn = dom.attachDeviceFlags if op == "attach" else dom.detachDeviceFlags
            try:
                fn(device_xml, CONFIG)
            except libvirt.libvirtError as e:
                return {"kind": "error", "xml": None, "error": _msg(e), "stage": op}
            return {"kind": "ok", "xml": dom.XMLDesc(0), "error": None, "stage": op}
        finally:
            dom.undefine()

    def live(self, domain_xml: str, live_devices: list[str], restore_xml: str | None) -> dict:
        """A real guest: start paused, live-attach devices, save, restore from the migratable XML.

        ``restore_xml`` (default: the guest's own migratable XML, what a migration sends) is the
        destination definition; libvirt checks its ABI against the saved one, then QEMU loads the
        saved device state into it. Both verdicts come back, so a restore libvirt accepts but
        QEMU refuses is visible (invariant 5).
        """
        out: dict = {"kind": "ok", "stage": None, "error": None, "attach": [], "live_xml": None,
                     "restore_xml": None, "restored_xml": None}
        try:
            dom = self.conn.defineXML(domain_xml)
        except libvirt.libvirtError as e:
            return {**out, "kind": "error", "stage": "define", "error": _msg(e)}
        image = self.scratch / "live.save"
        try:
            try:
                dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "start", "error": _msg(e)}
            for dev in live_devices:
                try:
                    dom.attachDeviceFlags(dev, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                    out["attach"].append({"kind": "ok", "error": None})
                except libvirt.libvirtError as e:
                    out["attach"].append({"kind": "error", "error": _msg(e)})
            out["live_xml"] = dom.XMLDesc(0)
            dst = restore_xml or dom.XMLDesc(MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE)
            out["restore_xml"] = dst
            try:
                dom.save(str(image))
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "save", "error": _msg(e)}
            try:
                restored = self.conn.restoreFlags(str(image), dst, libvirt.VIR_DOMAIN_SAVE_PAUSED)
                del restored
                out["restored_xml"] = self.conn.lookupByUUIDString(dom.UUIDString()).XMLDesc(0)
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "restore", "error": _msg(e)}
            return out
        finally:
            self._discard(dom.UUIDString())
            image.unlink(missing_ok=True)

    def migrate_live(self, domain_xml: str, dst_uri: str, migrate_uri: str) -> dict:
        """A real live migration: start ``domain_xml`` paused here, migrate it (``VIR_MIGRATE_LIVE |
        VIR_MIGRATE_PAUSED``, data over ``migrate_uri``) to the libvirtd at ``dst_uri`` (another
        build: virtfuzz.backends.live_migration), return the destination's definition, destroy both.

        The QEMU command lines each side ran (from the guests' log files, else libvirt's
        ``domainXMLToNative``) come back too, for the guest layouts. Errors are results, with the
        stage they happened at (define, start, connect, migrate)."""
        out: dict = {"kind": "ok", "stage": None, "error": None, "source_xml": None, "source_argv": None,
                     "destination_xml": None, "destination_argv": None, "name": None, "seconds": None}
        try:
            dom = self.conn.defineXML(domain_xml)
        except libvirt.libvirtError as e:
            return {**out, "kind": "error", "stage": "define", "error": _msg(e)}
        from virtfuzz.backends.live_migration import logged_argv

        out["name"] = name = dom.name()
        log = self.root / "log" / "qemu" / f"{name}.log"
        dconn = None
        try:
            log.unlink(missing_ok=True)
            try:
                dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "start", "error": _msg(e)}
            out["source_xml"] = dom.XMLDesc(0)
            out["source_argv"] = logged_argv(log) or self._argv(self.conn, dom.XMLDesc(MIGRATABLE))
            try:
                dconn = libvirt.open(dst_uri)
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "connect", "error": _msg(e)}
            t = time.monotonic()
            try:
                ddom = dom.migrate(dconn, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PAUSED, None,
                                   migrate_uri, 0)
            except libvirt.libvirtError as e:
                return {**out, "kind": "error", "stage": "migrate", "error": _msg(e),
                        "seconds": round(time.monotonic() - t, 3)}
            out["seconds"] = round(time.monotonic() - t, 3)
            out["destination_xml"] = ddom.XMLDesc(0)
            out["destination_argv"] = self._argv(dconn, ddom.XMLDesc(MIGRATABLE))
            return out
        finally:
            if dconn is not None:
                try:
                    d = dconn.lookupByUUIDString(dom.UUIDString())
                    if d.isActive():
                        d.destroy()
                    if d.isPersistent():
                        d.undefine()
                except libvirt.libvirtError:
                    pass
                try:
                    dconn.close()
                except libvirt.libvirtError:
                    pass
            self._discard(dom.UUIDString())

    def _discard(self, uuid: str) -> None:
        """Destroy (if running) and undefine a domain of this driver; gone already is fine."""
        try:
            d = self.conn.lookupByUUIDString(uuid)
            if d.isActive():
                d.destroy()
            d.undefine()
        except libvirt.libvirtError:
            pass

    @staticmethod
    def _argv(conn: Any, xml: str) -> str | None:
        try:
            return conn.domainXMLToNative("qemu-argv", xml, 0)
        except libvirt.libvirtError:
            return None

    def collect(self, names: list[str], undefine: bool = True) -> list[dict]:
        """Stored XML of definitions this driver loaded at start-up, or the error that made it skip one.

        ``undefine=False`` leaves them defined: a loader child exits right after, and its parent
        removes the config files itself (undefining cost a quarter of a load).
        """
        errors = _load_errors(self.root / "virtfuzz" / "libvirt.log")
        out = []
        for name in names:
            try:
                dom = self.conn.lookupByName(name)
            except libvirt.libvirtError:
                out.append({"kind": "error", "xml": None, "stage": "load",
                            "error": errors.get(name, "domain was not loaded (no error logged)")})
                continue
            try:
                out.append({"kind": "ok", "xml": dom.XMLDesc(0), "error": None, "stage": "load"})
            finally:
                if undefine:
                    dom.undefine()
        return out

    def guest_many(self, xmls: list[str]) -> list[dict]:
        """The QEMU command line libvirt would run for each definition, without starting QEMU
        (``domainXMLToNative("qemu-argv")``, under a millisecond); the parent reduces it to the
        guest's USB/PCI layout (contract.guest_layout)."""
        out = []
        for xml in xmls:
            if FAULTS:
                _inject_fault(xml)
            try:
                out.append({"kind": "ok", "argv": self.conn.domainXMLToNative("qemu-argv", xml, 0), "error": None})
            except libvirt.libvirtError as e:
                out.append({"kind": "error", "argv": None, "error": _msg(e)})
        return out

    def undefine_all(self) -> int:
        doms = self.conn.listAllDomains()
        for d in doms:
            d.undefine()
        return len(doms)


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+\d{4}: \d+: (\w+) : (\S+) : (.*)$")
_FAILED = re.compile(r"^Failed to load config for domain '(.*)'$")


def _load_errors(log: Path) -> dict[str, str]:
    """Map domain name -> the last error logged before libvirt gave up loading its config.

    A driver start-up has no API call to fail, so the reason a definition was skipped exists only
    in libvirt's log (virDomainObjListLoadAllConfigs logs the parse error, then "Failed to load").
    """
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    found: dict[str, str] = {}
    last_error: str | None = None
    for line in lines:
        m = _LOG_LINE.match(line)
        if not m or m.group(1) != "error":
            continue
        failed = _FAILED.match(m.group(3))
        if failed:
            found[failed.group(1)] = last_error or "unknown load error"
            last_error = None
        else:
            last_error = m.group(3)
    return found


def _event_loop() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


class StartupCrashed(Exception):
    """A forked driver start-up died: reported to the parent as status "crash", not "exception"."""


LOG_LIMIT = 128 << 10


def _bound_log(log: Path) -> None:
    """Keep libvirt's log file (on tmpfs, in RAM) small: every rejected definition logs an error,
    ~2.6 MB a minute at campaign rates, and nothing reads it after the request that caused it
    (a load reads the errors of its own batch). Truncated in place: libvirt appends (O_APPEND).
    128 KiB, checked between requests: a root's log then never holds much more than one batch's
    errors, so the campaign's tmpfs does not swing by a megabyte per worker between job
    replacements (a 60-minute soak with 1 MiB grew 7.6 MB in 25 minutes, bound 5 MB)."""
    try:
        if log.stat().st_size > LOG_LIMIT:
            os.truncate(log, 0)
    except OSError:
        pass


def serve(handlers: dict, req_fd: int, resp_fd: int, log: Path | None = None) -> None:
    """Answer requests until the parent says quit or closes the pipe; ``log`` is kept bounded."""
    while True:
        if log is not None:
            _bound_log(log)
        try:
            op, args = wire.recv(req_fd)
        except EOFError:
            return
        if op == "quit":
            wire.send(resp_fd, ("ok", None))
            return
        try:
            wire.send(resp_fd, ("ok", handlers[op](*args)))
        except StartupCrashed as e:
            wire.send(resp_fd, ("crash", str(e)))
        except Exception as e:  # a bug in the worker, not a libvirt verdict: report it, keep serving
            wire.send(resp_fd, ("exception", f"{type(e).__name__}: {e}"))


def worker_handlers(worker: Worker) -> dict:
    return {
        "hello": worker.hello,
        "define_many": worker.define_many,
        "abi": worker.abi,
        "attach": lambda d, x: worker.hotplug("attach", d, x),
        "detach": lambda d, x: worker.hotplug("detach", d, x),
        "collect": worker.collect,
        "live": worker.live,
        "abi_image_many": worker.abi_image_many,
        "attach_many": lambda items: worker.hotplug_many("attach", items),
        "detach_many": lambda items: worker.hotplug_many("detach", items),
        "undefine_all": worker.undefine_all,
        "guest_many": worker.guest_many,
        "migrate_live": worker.migrate_live,
    }


_EMULATOR = re.compile(r"<emulator>\s*([^<]*?)\s*</emulator>")
_ARCH = re.compile(r"<type[^>]*\barch=['\"]([^'\"]+)['\"]")


def _daemon_reload() -> Any:
    """libvirt's daemon-reload entry point (``virStateReload``, exported for libvirtd), or None."""
    if os.environ.get("VIRTFUZZ_LOADER") == "restart":
        return None
    try:
        fn = ctypes.CDLL("libvirt.so.0").virStateReload
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    return fn


def loader_handlers(root: Path) -> dict:
    """Fork server for driver restarts: each ``load`` forks a child that loads the definitions.

    What a restart does to a persistent definition is one call: at start-up the QEMU driver reads
    its config directory with virDomainObjListLoadAllConfigs (liveStatus=false, no ABI_UPDATE),
    and ``virsh``/systemd's daemon reload (SIGHUP -> qemuStateReload, libvirt 9.0.0
    src/qemu/qemu_driver.c) makes exactly the same call. So this process initialises the driver
    once, on an empty config directory, and each child it forks runs that reload on the batch's
    files, reports each definition and exits: the driver's start-up (~80 ms) and loading every
    emulator's capabilities (~5-15 ms each, dozens per batch with capability variants) are paid
    once per process instead of once per batch. Capabilities are warmed in this process (read from
    libvirt's cache, as a restart reads them) before forking. The process stays single-threaded
    (no event loop, no guests), so forking it is safe. ``VIRTFUZZ_LOADER=restart`` (or a libvirt
    without the symbol) falls back to a fresh driver start-up in every child.
    """
    config_dir = root / "etc" / "qemu"
    log = root / "virtfuzz" / "libvirt.log"
    reload = _daemon_reload()
    parent = Worker(root) if reload is not None else None
    warmed: set[tuple[str | None, str | None]] = set()

    def warm(items: list[tuple[str, str]]) -> None:
        assert parent is not None
        for _, xml in items:
            emu, arch = _EMULATOR.search(xml), _ARCH.search(xml)
            key = (emu.group(1) if emu else None, arch.group(1) if arch else None)
            if key in warmed or key == (None, None):
                continue
            warmed.add(key)
            try:
                parent.conn.getDomainCapabilities(key[0], key[1], None, "qemu", 0)
            except libvirt.libvirtError:
                pass  # the definition's own load reports whatever is wrong with it

    def in_child(names: list[str]) -> list[dict]:
        if parent is None:
            return Worker(root).collect(names, undefine=False)  # a fresh driver start-up
        reload()
        return parent.collect(names, undefine=False)

    def load(items: list[tuple[str, str]]) -> list[dict]:
        if parent is not None:
            warm(items)
        for f in config_dir.glob("*.xml"):
            f.unlink()
        for name, xml in items:
            (config_dir / f"{name}.xml").write_text(xml)
        log.write_text("")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                wire.send(w, in_child([n for n, _ in items]))
            finally:
                os._exit(0)
        os.close(w)
        try:
            result = wire.recv(r)
        except EOFError:
            result = None
        finally:
            os.close(r)
            _, status = os.waitpid(pid, 0)
            for f in config_dir.glob("*.xml"):
                f.unlink()
        if result is None:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            how = f"killed by {signal.Signals(sig).name}" if sig else f"exited with status {os.WEXITSTATUS(status)}"
            raise StartupCrashed(f"libvirt driver start-up {how}")
        return result

    return {"hello": lambda: {"version": libvirt.getVersion(), "pid": os.getpid(),
                              "cpuinfo_snapshot": CPUINFO_SNAPSHOT, "domains": [],
                              "loader": "daemon reload" if parent is not None else "start-up"},
            "load": load}


CPUINFO_SNAPSHOT: str = "not set up"


def _orphaned(signum: int, frame) -> None:
    """The job process that owns this worker is gone: take the QEMU processes along (also one
    that daemonizes while they are killed: see ``kill_all_below``), and exit."""
    kill_all_below(os.getpid())
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    global CPUINFO_SNAPSHOT
    parent = os.environ.get(PARENT_ENV)
    # nobody else would stop a worker whose job process was killed: libvirt (and the QEMU it
    # daemonized, which this subreaper adopts) would run on
    signal.signal(signal.SIGTERM, _orphaned)
    die_with_parent(signal.SIGTERM, int(parent) if parent and parent.isdigit() else None)
    root = Path(argv[1] if argv[0] == "--loader" else argv[0])
    (root / "virtfuzz").mkdir(exist_ok=True)
    # first, while single-threaded (see cpuinfo_snapshot); None means in use
    CPUINFO_SNAPSHOT = use_cpuinfo_snapshot(root / "virtfuzz") or "in use"
    if argv[0] == "--loader":
        serve(loader_handlers(root), int(argv[2]), int(argv[3]), root / "virtfuzz" / "libvirt.log")
        return 0
    req_fd, resp_fd = int(argv[1]), int(argv[2])
    fork_reaper(close_in_reaper=(req_fd, resp_fd))
    worker = Worker(root)
    # running guests need libvirt's event loop (QEMU monitor I/O); definitions alone do not
    threading.Thread(target=_event_loop, daemon=True, name="libvirt-events").start()
    serve(worker_handlers(worker), req_fd, resp_fd, root / "virtfuzz" / "libvirt.log")
    worker.conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
