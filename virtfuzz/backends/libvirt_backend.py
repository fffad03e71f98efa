"""The real-libvirt backend: a worker process per backend, one embedded root per worker.

Requests are shipped in chunks (one pipe round trip per chunk) so the batch rate stays close to a
raw in-process libvirt-python loop. A chunk whose worker dies is re-run one input at a time in
fresh workers, so exactly the offending input comes back as a crash/timeout result and nothing
else in the batch is lost.
"""

from __future__ import annotations

import re
import uuid as uuid_mod
from collections.abc import Callable, Sequence
from typing import Any

from contract.backend import BackendUnavailable
from contract.guest_layout import parse_argv
from contract.results import AbiResult, DefineResult, GuestResult, XmlResult
from virtfuzz.backends.builds import resolve_build
from virtfuzz.backends.embed_root import EmbedRoot
from virtfuzz.backends.worker_process import WorkerLost, WorkerProcess, default_timeout

CHUNK = 64
_NAME = re.compile(r"<name>\s*([^<]*?)\s*</name>")
_UUID = re.compile(r"<uuid>\s*([^<]*?)\s*</uuid>")


def _restore_identity(r: XmlResult, ident: tuple[str, str, str | None, str | None]) -> XmlResult:
    """Give a result loaded under a stand-in name/UUID its original ones back."""
    name, new_name, uuid, new_uuid = ident
    xml, error = r.xml, r.error
    if xml is not None:
        xml = xml.replace(f"<name>{new_name}</name>", f"<name>{name}</name>", 1)
        if uuid and new_uuid:
            xml = xml.replace(f"<uuid>{new_uuid}</uuid>", f"<uuid>{uuid}</uuid>", 1)
    if error is not None:
        error = error.replace(new_name, name)
        if uuid and new_uuid:
            error = error.replace(new_uuid, uuid)
    return XmlResult(kind=r.kind, xml=xml, error=error, stage=r.stage, input=r.input)


def _guest_result(d: dict) -> GuestResult:
    if d["kind"] != "ok":
        return GuestResult(kind=d["kind"], error=d["error"])
    return GuestResult(kind="ok", layout=parse_argv(d["argv"]))


class LibvirtBackend:
    name = "libvirt"

    def __init__(self, libvirt_version: str | None = None, timeout: float | None = None) -> None:
        try:
            import libvirt  # noqa: F401  (only to fail early with a clear message)
        except ImportError as e:
            raise BackendUnavailable(f"libvirt-python is not importable: {e}") from None
        self.build = resolve_build(libvirt_version)
        self.timeout = timeout or default_timeout()
        self.root = EmbedRoot(self.build.version)
        self.worker = WorkerProcess(self.root, env=self.build.env,
                                    command_prefix=list(self.build.command_prefix), python=self.build.python)
        self.restarts = 0
        self.load_root: EmbedRoot | None = None
        self.loader: WorkerProcess | None = None

    # -- worker management ----------------------------------------------------------------
    def _ensure(self) -> WorkerProcess:
        if not self.worker.alive:
            if self.worker.proc is not None:
                self.restarts += 1
            self.worker.start(self.timeout)
        return self.worker

    def _call(self, op: str, args: tuple, timeout: float | None = None) -> Any:
        return self._ensure().call(op, args, timeout or self.timeout)

    @property
    def version(self) -> str:
        return self.build.version

    # -- define ---------------------------------------------------------------------------
    def define(self, xml: str) -> DefineResult:
        return self.define_many([xml])[0]

    def define_many(self, xmls: Sequence[str], migratable: bool = True) -> list[DefineResult]:
        out: list[DefineResult] = []
        for i in range(0, len(xmls), CHUNK):
            chunk = list(xmls[i:i + CHUNK])
            out.extend(self._isolating(chunk, lambda c: self._call("define_many", (c, migratable)),
                                       lambda lost, x: DefineResult(kind=lost.kind, error=lost.message,
                                                                    input=x),
                                       DefineResult.from_dict))
        self.root.save_caps_if_changed()
        return out

    # -- guest layout ---------------------------------------------------------------------
    def guest_many(self, xmls: Sequence[str]) -> list[GuestResult]:
        """Each definition's guest layout: the QEMU command line libvirt would build, reduced."""
        out: list[GuestResult] = []
        for i in range(0, len(xmls), CHUNK):
            chunk = list(xmls[i:i + CHUNK])
            out.extend(self._isolating(chunk, lambda c: self._call("guest_many", (c,)),
                                       lambda lost, x: GuestResult(kind=lost.kind, error=lost.message, input=x),
                                       _guest_result))
        return out

    def _isolating(self, chunk: list[str], run: Callable[[list[str]], list[dict]],
                   on_lost: Callable[[WorkerLost, str], Any], convert: Callable[[dict], Any]) -> list:
        try:
            return [convert(d) for d in run(chunk)]
        except WorkerLost as lost:
            if len(chunk) == 1 and lost.kind == "timeout":
                return [on_lost(lost, chunk[0])]
        results = []
        for x in chunk:  # find the input that kills libvirt; the others still get real results
            results.append(self._confirmed(x, run, on_lost, convert))
        return results

    def _confirmed(self, x: str, run: Callable[[list[str]], list[dict]],
                   on_lost: Callable[[WorkerLost, str], Any], convert: Callable[[dict], Any]) -> Any:
        """Run one input; a crash counts only if it happens again in a fresh worker.

        A worker can die for reasons unrelated to the input (killed from outside, OOM); blaming
        the input then would make a finding that does not reproduce.
        """
        lost: WorkerLost | None = None
        for _ in range(2):
            try:
                return convert(run([x])[0])
            except WorkerLost as e:
                lost = e
                if e.kind == "timeout":
                    break
        assert lost is not None
        return on_lost(lost, x)

    # -- driver restart / migration destination parse -----------------------------------
    def load(self, xml: str) -> XmlResult:
        return self.load_many([xml])[0]

    def load_many(self, xmls: Sequence[str]) -> list[XmlResult]:
        """Each definition as a freshly started driver reads it from its config directory.

        This is the parse without ABI_UPDATE that a daemon restart performs. All definitions go
        to one driver start-up (the expensive part is the driver loading each emulator's cached
        capabilities). Definitions sharing a name or UUID with an earlier one are loaded under a
        distinct name and UUID, restored in the result: nothing else in a definition depends on them.
        """
        results: dict[int, XmlResult] = {}
        batch: list[tuple[int, str, str]] = []
        renamed: dict[int, tuple[str, str, str | None, str | None]] = {}
        names: set[str] = set()
        uuids: set[str] = set()
        for i, x in enumerate(xmls):
            m = _NAME.search(x)
            if not m or not m.group(1) or "/" in m.group(1):
                results[i] = XmlResult(kind="error", error="virtfuzz: definition has no usable <name>", stage="load")
                continue
            name = m.group(1)
            u = _UUID.search(x)
            uuid = u.group(1).lower() if u else None
            if name in names or (uuid and uuid in uuids):
                new_name = f"{name}--vf{i}"
                new_uuid = str(uuid_mod.uuid5(uuid_mod.NAMESPACE_OID, f"{uuid}/{i}")) if uuid else None
                x = x.replace(m.group(0), f"<name>{new_name}</name>", 1)
                if u and new_uuid:
                    x = x.replace(u.group(0), f"<uuid>{new_uuid}</uuid>", 1)
                renamed[i] = (name, new_name, u.group(1) if u else None, new_uuid)
                name, uuid = new_name, new_uuid
            names.add(name)
            if uuid:
                uuids.add(uuid)
            batch.append((i, name, x))
        if batch:
            for (i, _, _), r in zip(batch, self._load_batch(batch), strict=True):
                results[i] = _restore_identity(r, renamed[i]) if i in renamed else r
        return [results[i] for i in range(len(xmls))]

    def _load_batch(self, batch: list[tuple[int, str, str]]) -> list[XmlResult]:
        """One driver start-up reading the whole batch (a fork of the loader process, see
        ``libvirt_worker.loader_handlers``), on a root of its own with the same capability cache."""
        if self.loader is None or not self.loader.alive:
            if self.load_root is None:
                self.load_root = EmbedRoot(self.build.version)
            self.loader = WorkerProcess(self.load_root, env=self.build.env,
                                        command_prefix=list(self.build.command_prefix), loader=True,
                                        python=self.build.python)
            self.loader.start(self.timeout)
        items = [(name, x) for _, name, x in batch]
        try:
            return [XmlResult.from_dict(d) for d in self.loader.call("load", (items,), self.timeout)]
        except WorkerLost as lost:
            if len(batch) > 1:  # find the definition that kills the start-up; the others get results
                return [r for b in batch for r in self._load_batch([b])]
            return [XmlResult(kind=lost.kind, error=lost.message, stage="load", input=x) for _, _, x in batch]

    # -- ABI check and hotplug ------------------------------------------------------------
    def abi(self, src_xml: str, dst_xml: str) -> AbiResult:
        try:
            return AbiResult.from_dict(self._call("abi", (src_xml, dst_xml)))
        except WorkerLost as lost:
            return AbiResult(kind=lost.kind, error=lost.message, input=f"{src_xml}\n<!-- dst -->\n{dst_xml}")

    def abi_many(self, pairs: Sequence[tuple[str, str]]) -> list[AbiResult]:
        """Batch of ABI checks whose sources are migratable XML of defined domains.

        XMLDesc(MIGRATABLE) of an inactive domain is what ``abi`` would put into the save image, so
        it goes there directly, saving a define per check.
        """
        out: list[AbiResult] = []
        for i in range(0, len(pairs), CHUNK):
            chunk = [f"{s}\0{d}" for s, d in pairs[i:i + CHUNK]]
            out.extend(self._isolating(
                chunk, lambda c: self._call("abi_image_many", ([tuple(x.split("\0", 1)) for x in c],)),
                lambda lost, x: AbiResult(kind=lost.kind, error=lost.message, input=x), AbiResult.from_dict))
        return out

    def attach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        return self._hotplug_many("attach", items)

    def detach_many(self, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        return self._hotplug_many("detach", items)

    def _hotplug_many(self, op: str, items: Sequence[tuple[str, str]]) -> list[XmlResult]:
        out: list[XmlResult] = []
        for i in range(0, len(items), CHUNK):
            chunk = [f"{d}\0{x}" for d, x in items[i:i + CHUNK]]
            out.extend(self._isolating(
                chunk, lambda c: self._call(f"{op}_many", ([tuple(x.split("\0", 1)) for x in c],)),
                lambda lost, x: XmlResult(kind=lost.kind, error=lost.message, stage=op, input=x),
                XmlResult.from_dict))
        return out

    def attach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._hotplug("attach", domain_xml, device_xml)

    def detach(self, domain_xml: str, device_xml: str) -> XmlResult:
        return self._hotplug("detach", domain_xml, device_xml)

    def _hotplug(self, op: str, domain_xml: str, device_xml: str) -> XmlResult:
        try:
            return XmlResult.from_dict(self._call(op, (domain_xml, device_xml)))
        except WorkerLost as lost:
            return XmlResult(kind=lost.kind, error=lost.message, stage=op, input=device_xml)

    # -- live guests (real QEMU) -------------------------------------------------------
    def live(self, domain_xml: str, live_devices: Sequence[str] = (), restore_xml: str | None = None) -> dict:
        """Start paused, live-attach, save, restore (see ``libvirt_worker.Worker.live``)."""
        try:
            return self._call("live", (domain_xml, list(live_devices), restore_xml))
        except WorkerLost as lost:
            return {"kind": lost.kind, "stage": "live", "error": lost.message, "input": domain_xml}

    def migrate_live(self, domain_xml: str, dst_version: str, timeout: float | None = None) -> dict:
        """Start ``domain_xml`` paused on this build and live-migrate it to ``dst_version``'s
        libvirtd (``virtfuzz.backends.live_migration``, started on first use in this process).
        A result, never an exception: ``{"kind": ok|error|crash|timeout, "stage", "error",
        "source_xml", "destination_xml", "source_argv", "destination_argv", "seconds"}`` (the
        destination's argv is the command line its QEMU really got, from the guest's log); a failed
        one adds ``destination_qemu_errors``, the error lines the destination QEMU logged meanwhile."""
        from virtfuzz.backends.live_migration import DaemonError, destination, free_port, logged_argv, logged_errors

        try:
            daemon = destination(dst_version)
        except (DaemonError, BackendUnavailable, OSError) as e:
            return {"kind": "error", "stage": "daemon", "error": f"destination libvirtd {dst_version}: {e}"}
        # the destination guest's log (stdio_handler = "file"): what its QEMU said in this migration
        m = re.search(r"<name>\s*([^<]+?)\s*</name>", domain_xml)
        log = daemon.state / "log" / "qemu" / f"{m.group(1)}.log" if m and daemon.state is not None else None
        offset = log.stat().st_size if log is not None and log.exists() else 0
        try:
            r = self._call("migrate_live", (domain_xml, daemon.uri, f"tcp://127.0.0.1:{free_port()}"), timeout)
        except WorkerLost as lost:
            daemon.stop()  # a guest the lost worker left there goes with the daemon
            return {"kind": lost.kind, "stage": "migrate", "error": lost.message, "input": domain_xml}
        if r.get("kind") == "error" and log is not None:
            r["destination_qemu_errors"] = logged_errors(log, offset)
        if r.get("kind") == "ok" and r.get("name") and daemon.state is not None:
            r["destination_argv"] = logged_argv(daemon.state / "log" / "qemu" / f"{r['name']}.log") \
                or r.get("destination_argv")
        return r

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self.worker.stop()
        self.root.save_caps()
        self.root.remove()
        if self.loader is not None:
            self.loader.stop()
        if self.load_root is not None:
            self.load_root.save_caps()
            self.load_root.remove()

    def abort(self) -> None:
        """Stop now (the campaign was interrupted): kill the workers, whatever they are doing,
        and remove their roots. Nothing is saved: a capability probe may have been cut off."""
        self.worker.kill()
        if self.loader is not None:
            self.loader.kill()
        self.root.remove()
        if self.load_root is not None:
            self.load_root.remove()

    def __enter__(self) -> LibvirtBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
