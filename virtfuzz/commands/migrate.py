"""Migrate a definition from one libvirt to another (real builds or oracle profiles): does the guest survive?

On the source build: define FILE (a new definition, ABI_UPDATE), apply the hotplug ``--steps``
(a JSON list of ``{"op": "attach"|"detach", "xml": DEVICE_XML}``, config only), and take the
migratable XML (``XMLDesc(MIGRATABLE)``). On the destination build: parse it as a migration
destination does (no ABI_UPDATE: the same parse as a driver restart), run the destination's ABI
check of that definition against the source's migratable XML (libvirt's
``virDomainDefCheckABIStability`` through a save image), and compare the guest layouts of both
sides as QEMU would get them (``virtfuzz guest``). ``ok`` means: the destination accepts, its
ABI check passes and the guest layout is the same (``-usb`` compared as the device QEMU
creates for it: ``contract.guest_layout.qemu_view``).

Output (``--format json``, default): ``{"ok", "reason", "source": {"target", "xml", "migratable"},
"destination": {"target", "xml" | "error"}, "abi": {"ok", "error"}, "guest": {"same", "source",
"destination", "first_difference"}}``, and with ``--live`` ``"live": {"ok", "error", "stage", "seconds", "guest",
"destination_xml"}``: the source's definition started (paused, TCG) on the host's build and
migrated for real to the destination build's ``libvirtd`` (``VIR_MIGRATE_LIVE | VIR_MIGRATE_PAUSED``;
``virtfuzz.backends.live_migration``), ok when it succeeds and QEMU got the same guest layout on
both sides (``ok`` overall then needs it too); ``--format md`` prints the same for people. Exit 0 when
ok, 1 when the migration would break the guest or is refused, 2 bad input. Machine aliases
(``pc``, ``q35``, ``virt``) resolve to each QEMU's newest machine type, so most migrations to an
older build are refused for the machine type alone: use a versioned machine every QEMU involved
knows (e.g. ``pc-i440fx-5.2``, ``pc-q35-5.2``, ``virt-5.2``, ``pseries-5.2``).

Either side may be an oracle profile (``oracle:9.0.0``, or an era profile such as ``oracle:1.3.1``):
the oracle then answers every step (define, hotplug, migratable XML, destination parse, ABI check,
guest layout: ``oracle.layout``). An input outside the oracle's vocabulary is a report with
``ok`` false and a reason starting ``the oracle declines``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract.backend import BackendUnavailable
from contract.guest_layout import first_difference, qemu_view
from virtfuzz.commands.common import read_domain_inputs
from virtfuzz.inputs import InputError
from virtfuzz.targets import Target, open_target, parse_target

HELP = "migrate a definition between two libvirt builds (or oracle profiles) and compare the guests"
BACKEND_OPTIONS = ()  # the targets name the builds: --from/--to


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", required=True, metavar="TARGET", help="e.g. libvirt:9.0.0")
    p.add_argument("--to", dest="destination", required=True, metavar="TARGET", help="e.g. libvirt:12.9.0")
    p.add_argument("--steps", type=Path, metavar="STEPS.json", help="hotplug steps applied on the source")
    p.add_argument("--format", choices=("json", "md"), default="json")
    p.add_argument("--live", action="store_true",
                   help="also migrate a running (paused, TCG) guest for real: the host's build to another "
                        "build's libvirtd (adds \"live\": {\"ok\", \"error\", ...})")
    p.add_argument("file", metavar="FILE")


def _steps(path: Path | None) -> list[dict[str, str]]:
    if path is None:
        return []
    try:
        steps = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from None
    if not isinstance(steps, list) or not all(
            isinstance(s, dict) and s.get("op") in ("attach", "detach") and isinstance(s.get("xml"), str)
            for s in steps):
        raise InputError(f'{path}: expected a JSON list of {{"op": "attach"|"detach", "xml": DEVICE_XML}}')
    return steps


def _target(spec: str) -> Target:
    target = parse_target(spec)
    if target.kind == "oracle":
        from oracle.profile import known_profiles

        if target.version is not None and target.version not in known_profiles():
            raise InputError(f"{spec}: unknown oracle profile; known: {', '.join(known_profiles())}")
    return target


def _refusal(who: str, what: str, result: Any) -> str:
    """The reason text of a refused step; an oracle gap is said to be one."""
    if result.kind == "unsupported":
        return f"the oracle declines ({who}, {what}): {result.error}"
    return f"the {who} refuses {what}: {result.error}"


class _ImageAbi:
    """An oracle backend whose ``abi_many`` takes each source XML as a save image holds it (no
    ABI_UPDATE), as the real backend's ``abi_many`` does (``abi_image_many``): a migration's
    source XML may come from another libvirt, and defining it anew would re-choose defaults
    (e.g. qemu-xhci on pSeries) that the destination never sees."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def abi_many(self, pairs: list[tuple[str, str]]) -> list[Any]:
        import oracle
        from contract.results import AbiResult

        out = []
        for src, dst in pairs:
            caps = self.inner.caps(src)
            def check(s: str, d: str, c: Any) -> Any:
                return oracle.abi_image(s, d, c, profile=self.inner.profile)

            out.append(self.inner._guard(AbiResult, check, src, dst, caps))
        return out

    def guest_incoming_many(self, xmls: list[str]) -> list[Any]:
        """The guest a migration destination starts: the definition as the destination parsed it
        (no ABI_UPDATE: qemuDomainDefAssignAddresses assigns addresses for a new domain only,
        v2.2.0 src/qemu/qemu_domain.c, and libvirt's qemuProcessPrepareDomain only for a new
        start), so a USB device that came without a port gets none from the destination either:
        QEMU picks it as on the source. ``guest_many`` defines the XML anew (what ``virtfuzz guest``
        shows of a definition)."""
        import oracle
        from contract.results import GuestResult
        from oracle.errors import LibvirtError
        from oracle.layout import guest_layout
        from oracle.pipeline import reparsed

        prof = oracle.get_profile(self.inner.profile)

        def incoming(xml: str, caps: Any) -> Any:
            try:
                return GuestResult(kind="ok", layout=guest_layout(reparsed(xml, caps, prof).dom, caps, prof))
            except LibvirtError as e:
                return GuestResult(kind="error", error=str(e))

        with oracle.session():
            return [self.inner._guard(GuestResult, incoming, x, self.inner.caps(x)) for x in xmls]

    def close(self) -> None:
        self.inner.close()


def open_for_migration(target: Target) -> Any:
    """``open_target``, oracle backends with the image semantics of ``abi_many`` (``_ImageAbi``)."""
    backend = open_target(target)
    return _ImageAbi(backend) if target.kind == "oracle" else backend


def migrate(xml: str, steps: list[dict[str, str]], source: Target, destination: Target,
            opener: Callable[[Target], Any] = open_for_migration) -> dict[str, Any]:
    """The migration report (see the module docstring); the backends are opened (``opener``,
    default ``open_for_migration``) and closed here (a caller that keeps backends across migrations,
    like ``virtfuzz matrix``, passes an opener whose backends ignore ``close``)."""
    report: dict[str, Any] = {
        "ok": False, "reason": "", "source": {"target": str(source), "xml": None, "migratable": None},
        "destination": {"target": str(destination)}, "abi": {"ok": None, "error": None},
        "guest": {"same": None, "source": None, "destination": None, "first_difference": None}}
    src = opener(source)
    try:
        (defined,) = src.define_many([xml], migratable=False)
        if defined.kind != "ok":
            report["reason"] = _refusal("source", "the definition", defined)
            return report
        stored = defined.xml or ""
        for i, step in enumerate(steps, 1):
            run = src.attach_many if step["op"] == "attach" else src.detach_many
            (after,) = run([(stored, step["xml"])])
            if after.kind != "ok":
                report["reason"] = _refusal("source", f"step {i} ({step['op']})", after)
                return report
            stored = after.xml or ""
        (again,) = src.define_many([stored])
        if again.kind == "unsupported":
            report["reason"] = _refusal("source", "its own stored XML", again)
            return report
        if again.kind != "ok" or again.migratable is None:
            report["reason"] = f"the source cannot format the migratable XML: {again.error or again.migratable_error}"
            return report
        report["source"].update(xml=again.xml, migratable=again.migratable)
        (src_guest,) = src.guest_many([again.xml or ""])
    finally:
        src.close()
    report["guest"]["source"] = src_guest.layout
    dst = opener(destination)
    try:
        (loaded,) = dst.load_many([report["source"]["migratable"]])
        if loaded.kind != "ok":
            report["destination"]["error"] = loaded.error
            report["reason"] = _refusal("destination", "the migratable XML", loaded)
            return report
        report["destination"]["xml"] = loaded.xml
        (abi,) = dst.abi_many([(report["source"]["migratable"], loaded.xml or "")])
        report["abi"] = {"ok": abi.kind == "ok", "error": abi.error}
        (dst_guest,) = getattr(dst, "guest_incoming_many", dst.guest_many)([loaded.xml or ""])
    finally:
        dst.close()
    report["guest"]["destination"] = dst_guest.layout
    for who, res in (("source", src_guest), ("destination", abi), ("destination", dst_guest)):
        if res.kind == "unsupported":
            report["reason"] = f"the oracle declines ({who}): {res.error}"
            return report
    if src_guest.kind != "ok":
        report["reason"] = f"the source cannot build a QEMU command line: {src_guest.error}"
        return report
    if dst_guest.kind != "ok":
        # a migration destination parses without validating (as a restart does); what it cannot
        # run, e.g. a machine type its QEMU lacks, fails when it starts QEMU, as here
        report["destination"]["error"] = dst_guest.error
        report["reason"] = f"the destination cannot start the guest: {dst_guest.error}"
        return report
    # -usb is compared as the device QEMU creates for it on that machine (guest_layout.qemu_view)
    diff = first_difference(qemu_view(src_guest.layout), qemu_view(dst_guest.layout))
    report["guest"].update(same=diff is None, first_difference=diff)
    if not report["abi"]["ok"]:
        report["reason"] = (f"the destination's ABI check refuses: {abi.error}"
                            + ("" if diff else " (although the guest layout is the same)"))
    elif diff:
        report["reason"] = f"the ABI check accepts but the guest changes: {diff}"
    else:
        report.update(ok=True, reason="same guest, ABI check passes")
    return report


def _markdown(r: dict[str, Any]) -> str:
    lines = [f"# {r['source']['target']} → {r['destination']['target']}: {'ok' if r['ok'] else 'BROKEN'}", "",
             f"- reason: {r['reason']}",
             f"- ABI check: {'passes' if r['abi']['ok'] else r['abi']['error']}",
             f"- guest: {'same' if r['guest']['same'] else r['guest']['first_difference']}"]
    if "live" in r:
        lv = r["live"]
        lines.append(f"- live migration: {'ok' if lv['ok'] else lv['error']}"
                     + (f" ({lv['seconds']} s)" if lv.get("seconds") is not None else ""))
    lines.append("")
    for side in ("source", "destination"):
        layout = r["guest"][side]
        if layout:
            lines += [f"## {side} guest ({layout['machine']})", ""]
            lines += [f"- `{json.dumps(d, sort_keys=True)}`" for d in layout["devices"]] + [""]
    return "\n".join(lines)


def _check_live(source: Target, destination: Target) -> None:
    from virtfuzz.backends.builds import resolve_build, system_libvirt_version

    if source.kind != "libvirt" or destination.kind != "libvirt":
        raise InputError("--live migrates between real builds: --from libvirt:VERSION --to libvirt:VERSION")
    host = system_libvirt_version()
    if (source.version or host) != host:
        raise InputError(f"--live: the source must be the host's build (libvirt:{host}); "
                         "other builds have no source side yet")
    try:
        if resolve_build(destination.version).root is None:
            raise InputError(f"--live: the destination must be a build in a root, not the host's "
                             f"{host} (its embedded driver cannot receive a migration)")
    except BackendUnavailable as e:
        raise InputError(f"--live: {e}") from None


def live(report: dict[str, Any], source: Target, destination: Target) -> dict[str, Any]:
    """The ``live`` part of the report: the source's stored definition started paused on the source
    build and migrated for real to the destination build's libvirtd (see
    ``virtfuzz.backends.live_migration``); ``ok`` also needs the same guest layout on both sides."""
    from virtfuzz.backends.libvirt_backend import LibvirtBackend
    from virtfuzz.backends.live_migration import close_all, summarize

    xml = report["source"]["xml"]
    if xml is None:
        return {"ok": False, "error": f"not started: {report['reason']}", "stage": "define"}
    src = LibvirtBackend(source.version)
    try:
        return summarize(src.migrate_live(xml, destination.version or ""))
    finally:
        src.close()
        close_all()


def run(args: argparse.Namespace) -> int:
    source, destination = _target(args.source), _target(args.destination)
    steps = _steps(args.steps)
    if args.live:
        _check_live(source, destination)
    (xml,) = read_domain_inputs(args, [args.file])
    report = migrate(xml, steps, source, destination)
    if args.live:
        report["live"] = live(report, source, destination)
        if report["ok"] and not report["live"]["ok"]:
            report.update(ok=False, reason=f"the live migration fails: {report['live']['error']}")
    sys.stdout.write(json.dumps(report, indent=1) + "\n" if args.format == "json" else _markdown(report))
    return 0 if report["ok"] else 1
