"""The migration matrix: every (source, destination) pair of libvirt versions for one guest.

The versions are the seed thread's eras, answered by the oracle's era profiles (``oracle:0.9.4``,
``oracle:1.3.0`` [A], ``oracle:1.3.1`` [B], ``oracle:1.3.5`` [C], ``oracle:2.2.0`` the reviewed
series), and the real builds installed (``libvirt:7.0.0`` ... ``libvirt:12.9.0``). Each cell is
``virtfuzz migrate`` (``virtfuzz.commands.migrate.migrate``) of the scenario's guest:

- ``plain``: a guest with no devices but what libvirt adds (the default USB controller);
- ``unplug-before-usb`` (the case of commit 192a53e07c and the thread): a PCI controller (a
  pci-bridge; a pcie-root-port on PCIe machines) at the first free slot the default USB
  controller would take, so the controller is given the next one; the bridge is then unplugged
  (config detach) and the guest migrated.

Output, ``--format json``: ``{"scenario", "arch", "machine", "results": {"libvirt-SRC":
{"libvirt-DST": {"ok", "reason"}}}}``; each ``reason`` starts with who answered (``oracle
1.3.1`` or ``libvirt 9.0.0 (real build)`` on each side). ``--format md`` prints the table.
Exit 0 (the matrix is an answer, not a verdict); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from virtfuzz.commands.migrate import migrate, open_for_migration
from virtfuzz.inputs import InputError
from virtfuzz.targets import Target, parse_target

HELP = "migrate one guest between every pair of libvirt eras and builds (JSON or markdown table)"
BACKEND_OPTIONS = ()  # --targets names who answers

ERAS = ("0.9.4", "1.3.0", "1.3.1", "1.3.5", "2.2.0")
SCENARIOS = ("plain", "unplug-before-usb")
UUID = "5f1c2b7e-8a3d-4e6f-9b1a-2c3d4e5f6a7b"
# the first slot libvirt's address assignment hands out on bus 0 (i440fx: slot 1 is the PIIX3)
FIRST_FREE_SLOT = {"i440fx": 2}


def default_targets() -> list[Target]:
    """The eras on the oracle, then every installed real build (oldest first)."""
    from virtfuzz import buildroots

    return [Target("oracle", v) for v in ERAS] + [Target("libvirt", v) for v in buildroots.installed()]


def _machine_kind(arch: str, machine: str) -> str:
    if arch in ("x86_64", "i686") and (machine == "pc" or machine.startswith(("pc-i440fx-", "pc-0.", "pc-1."))):
        return "i440fx"
    if machine == "q35" or machine.startswith("pc-q35"):
        return "q35"
    if machine == "virt" or machine.startswith("virt-"):
        return "virt"
    return "other"


def scenario(name: str, arch: str, machine: str) -> tuple[str, list[dict[str, str]]]:
    """The guest XML and hotplug steps of a scenario."""
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    devices = ""
    steps: list[dict[str, str]] = []
    if name == "unplug-before-usb":
        kind = _machine_kind(arch, machine)
        slot = FIRST_FREE_SLOT.get(kind, 1)
        model = "pcie-root-port" if kind in ("q35", "virt") else "pci-bridge"
        devices = (f"<controller type='pci' index='1' model='{model}'><address type='pci' domain='0x0000' "
                   f"bus='0x00' slot='{slot:#04x}' function='0x0'/></controller>")
        steps = [{"op": "detach", "xml": f"<controller type='pci' index='1' model='{model}'/>"}]
    xml = (f"<domain type='qemu'><name>matrix</name><uuid>{UUID}</uuid><memory unit='KiB'>65536</memory>"
           f"<os><type arch='{arch}' machine='{machine}'>hvm</type></os><devices>{devices}</devices></domain>\n")
    return xml, steps


def key(t: Target) -> str:
    return f"libvirt-{t.version}"


def who(t: Target) -> str:
    return f"oracle {t.version}" if t.kind == "oracle" else f"libvirt {t.version} (real build)"


class _Kept:
    """A backend kept open across the matrix: ``migrate`` closes it after each use."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        pass


def matrix(arch: str, machine: str, scenario_name: str, targets: list[Target]) -> dict[str, Any]:
    xml, steps = scenario(scenario_name, arch, machine)
    opened: dict[Target, _Kept] = {}

    def opener(t: Target) -> _Kept:
        if t not in opened:
            opened[t] = _Kept(open_for_migration(t))
        return opened[t]

    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for s in targets:
            row = results.setdefault(key(s), {})
            for d in targets:
                r = migrate(xml, steps, s, d, opener=opener)
                row[key(d)] = {"ok": bool(r["ok"]), "reason": f"{who(s)} -> {who(d)}: {r['reason']}"}
    finally:
        for b in opened.values():
            b.inner.close()
    return {"scenario": scenario_name, "arch": arch, "machine": machine, "results": results}


def markdown(m: dict[str, Any], claims: dict[tuple[str, str], str] | None = None) -> str:
    """The matrix as a table (rows: source, columns: destination), then each broken cell's reason.
    ``claims`` marks cells the seed thread makes a claim about (text shown under the table)."""
    keys = list(m["results"])
    claims = claims or {}
    lines = [f"### {m['arch']} `{m['machine']}`, scenario `{m['scenario']}`", "",
             "| source ↓ / destination → | " + " | ".join(k.removeprefix("libvirt-") for k in keys) + " |",
             "|---|" + "---|" * len(keys)]
    for s in keys:
        cells = []
        for d in keys:
            c = m["results"][s][d]
            mark = "ok" if c["ok"] else "**BROKEN**"
            if (s, d) in claims:
                mark += " ‡"
            cells.append(mark)
        lines.append(f"| {s.removeprefix('libvirt-')} | " + " | ".join(cells) + " |")
    lines.append("")
    for s in keys:
        for d in keys:
            c = m["results"][s][d]
            if not c["ok"]:
                lines.append(f"- {s} → {d}: {c['reason']}")
    if claims:
        lines += ["", "‡ the seed thread's claims about these cells:", ""]
        lines += [f"- {s} → {d}: {text}" for (s, d), text in claims.items()]
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True)
    p.add_argument("--machine", required=True, help="a versioned machine every QEMU involved knows, e.g. "
                                                    "pc-i440fx-5.2, pseries-5.2")
    p.add_argument("--scenario", default="plain", choices=SCENARIOS)
    p.add_argument("--targets", default=None, metavar="T,T,...",
                   help="comma-separated targets (default: oracle:" + ",oracle:".join(ERAS)
                        + " and every installed real build)")
    p.add_argument("--format", choices=("json", "md"), default="json")


def run(args: argparse.Namespace) -> int:
    if args.targets:
        targets = [parse_target(t.strip()) for t in args.targets.split(",") if t.strip()]
        if any(t.version is None for t in targets):
            raise InputError("--targets: every target needs a version (e.g. oracle:1.3.1, libvirt:9.0.0)")
        keys = [key(t) for t in targets]
        if len(set(keys)) != len(keys):
            raise InputError("--targets: one target per version (the matrix keys are libvirt-VERSION)")
    else:
        targets = default_targets()
    m = matrix(args.arch, args.machine, args.scenario, targets)
    sys.stdout.write(json.dumps(m, indent=1) + "\n" if args.format == "json" else markdown(m))
    return 0
