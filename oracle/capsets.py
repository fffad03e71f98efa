"""QEMU capability sets as libvirt caches them (``virQEMUCapsFormatCache`` XML).

Data, not code: a capset is libvirt's own capability-cache file for one emulator -- the recorded
sets in ``capsets/qemu-<ver>/<arch>.xml`` (each written by the libvirt its ``<selfvers>`` names:
QEMU 7.2.0 by 9.0.0, 5.2.0 by 7.0.0, 10.0.13 by 11.3.0, 11.1.3 by 12.9.0; a profile's ``qemu``
field names its build's QEMU) or libvirt 9.0.0's test sets
``tests/qemucapabilitiesdata/caps_<ver>.<arch>.xml``.  The oracle reads flags, machine types
(name/alias/default/defaultCPU, per accelerator) and CPU model typenames from it, exactly the
inputs the QEMU driver's post-parse code consults (qemu_capabilities.c: virQEMUCapsGet,
virQEMUCapsGetCanonicalMachine, virQEMUCapsGetMachineDefaultCPU).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from oracle.errors import OracleInputError

REPO = Path(__file__).resolve().parent.parent
RECORDED_DIR = REPO / "capsets"


def libvirt_src() -> Path:
    return Path(os.environ.get("VIRTFUZZ_DATA_DIR") or "/var/cache/virtfuzz") / "libvirt-src" / "installed"


@dataclass(frozen=True)
class Machine:
    name: str
    alias: str | None = None
    default: bool = False
    default_cpu: str | None = None  # QOM typename, e.g. 'qemu64-x86_64-cpu'
    max_cpus: int = 0
    acpi: str | None = None  # 'yes' / 'no' (libvirt >= 9.2 caches it), None: absent


@dataclass(frozen=True)
class CapSet:
    """One emulator's capabilities; ``machines`` are the TCG ones (domains are type='qemu')."""

    arch: str
    version: str  # '7.2.0'
    emulator: str
    flags: frozenset[str]
    machines: tuple[Machine, ...]
    cpu_typenames: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> CapSet:
        return _load(str(path))

    @classmethod
    def _parse_file(cls, path: str) -> CapSet:
        try:
            root = etree.parse(str(path)).getroot()
        except (OSError, etree.XMLSyntaxError) as e:
            raise OracleInputError(f"cannot read capset {path}: {e}") from None
        flags = frozenset(f.get("name") for f in root.findall("flag"))
        ver = int(root.findtext("version") or 0)
        version = f"{ver // 1000000}.{ver // 1000 % 1000}.{ver % 1000}"
        arch = root.findtext("arch") or ""
        # libvirt uses the accelerator-specific list; type='qemu' domains use TCG's
        mach_nodes = [m for m in root.findall("machine") if m.get("type") == "tcg"]
        if not mach_nodes:
            mach_nodes = [m for m in root.findall("machine") if m.get("type") in (None, "kvm")]
        machines = tuple(
            Machine(m.get("name"), m.get("alias"), m.get("default") == "yes", m.get("defaultCPU"),
                    int(m.get("maxCpus") or 0), m.get("acpi"))
            for m in mach_nodes
        )
        cpus = {c.get("typename"): c.get("name") for c in root.findall("cpu")
                if c.get("type") == "tcg" and c.get("typename")}
        return cls(arch=arch, version=version, emulator=root.findtext("emulator") or "",
                   flags=flags, machines=machines, cpu_typenames=cpus, source=str(path))

    def __hash__(self) -> int:
        # capsets key the oracle's memo tables: hash the (large) compared fields once
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        return hash((self.arch, self.version, self.emulator, self.flags, self.machines, self.source))

    def has(self, flag: str) -> bool:
        return flag in self.flags

    def without(self, flags) -> CapSet:
        """Delete flags; deleting device flag F also deletes its property flags ``F.<prop>``
        (libvirt derives those from F's device probe, e.g. usb-redir.filter from usb-redir,
        pcie-root-port.hotplug from pcie-root-port)."""
        flags = {flags} if isinstance(flags, str) else set(flags)
        prefixes = tuple(f + "." for f in flags)
        derived = {g for g in self.flags if g.startswith(prefixes)} if prefixes else set()
        return replace(self, flags=self.flags - flags - derived)

    def with_(self, flags) -> CapSet:
        flags = {flags} if isinstance(flags, str) else set(flags)
        return replace(self, flags=self.flags | flags)

    def canonical_machine(self, machine: str) -> str | None:
        """Alias -> versioned name (virQEMUCapsGetCanonicalMachine); None if QEMU lacks it."""
        return self._canonical.get(machine)

    @functools.cached_property
    def _canonical(self) -> dict[str, str]:
        """canonical_machine as a table: names first, then aliases (an alias wins, as it is
        looked up first), the first listed machine winning among equals."""
        table: dict[str, str] = {}
        for m in reversed(self.machines):
            table[m.name] = m.name
        for m in reversed(self.machines):
            if m.alias is not None:
                table[m.alias] = m.name
        return table

    def default_machine(self) -> str | None:
        """virQEMUCapsGetPreferredMachine: the default one, else the first listed."""
        for m in self.machines:
            if m.default:
                return m.name
        return self.machines[0].name if self.machines else None

    def machine_acpi(self, machine: str) -> str | None:
        """virQEMUCapsMachineSupportsACPI: the machine type's acpi ('yes', 'no'; None when absent)."""
        return next((m.acpi for m in self.machines if m.name == machine), None)

    def max_cpus(self, machine: str) -> int:
        """virQEMUCapsGetMachineMaxCpus (0 = unknown)."""
        return self._by_name[0].get(machine, 0)

    def default_cpu(self, machine: str) -> str | None:
        """virQEMUCapsGetMachineDefaultCPU: machine's defaultCPU typename -> CPU model name."""
        typename = self._by_name[1].get(machine)
        return self.cpu_typenames.get(typename) if typename is not None else None

    @functools.cached_property
    def _by_name(self) -> tuple[dict[str, int], dict[str, str]]:
        """max_cpus and default_cpu as tables (both scanned the ~40 machines per definition):
        the first machine of a name gives maxCpus; the first of that name *with* a defaultCPU
        gives the typename, as the scans did."""
        max_cpus: dict[str, int] = {}
        default_cpu: dict[str, str] = {}
        for m in self.machines:
            max_cpus.setdefault(m.name, m.max_cpus)
            if m.default_cpu:
                default_cpu.setdefault(m.name, m.default_cpu)
        return max_cpus, default_cpu


@functools.cache
def _load(path: str) -> CapSet:
    """Capset files are large (x86: ~6000 lines) and immutable: parse each once per process."""
    return CapSet._parse_file(path)


_SELFVERS = re.compile(rb"<selfvers>(\d+)</selfvers>")


@functools.cache
def recorded_libvirt(path: str) -> str | None:
    """The libvirt release that wrote a recorded cache file (its ``<selfvers>``, e.g. 9000000 ->
    '9.0.0'): a capability cache is libvirt's derivation of a QEMU's probe, so it belongs to the
    libvirt that made it (the same QEMU 5.2 gives other flags under 7.0.0 than under 9.0.0)."""
    with open(path, "rb") as f:
        m = _SELFVERS.search(f.read(4096))
    if not m:
        return None
    v = int(m.group(1))
    return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"


def _candidates(arch: str, libvirt: str = "9.0.0", test_sets: bool = True) -> dict[str, Path]:
    """QEMU version -> capset file for ``arch`` as libvirt ``libvirt`` derives it: the recorded
    caches that release wrote (``capsets/qemu-<ver>/``), and -- for the release whose source tree
    is installed (``test_sets``) -- its own ``tests/qemucapabilitiesdata`` sets."""
    found: dict[str, Path] = {}
    capdir = libvirt_src() / "tests" / "qemucapabilitiesdata"
    if test_sets and capdir.is_dir():
        for p in capdir.glob(f"caps_*.{arch}.xml"):
            m = re.match(rf"caps_(\d+\.\d+\.\d+)\.{re.escape(arch)}\.xml$", p.name)
            if m:
                found[m.group(1)] = p
    if RECORDED_DIR.is_dir():
        for d in RECORDED_DIR.glob("qemu-*"):
            p = d / f"{arch}.xml"
            if p.is_file() and recorded_libvirt(str(p)) == libvirt:
                found[d.name[len("qemu-"):]] = p  # recorded sets win over test sets
    return found


def known_arches() -> list[str]:
    arches = set()
    if RECORDED_DIR.is_dir():
        arches |= {p.stem for p in RECORDED_DIR.glob("qemu-*/*.xml")}
    capdir = libvirt_src() / "tests" / "qemucapabilitiesdata"
    if capdir.is_dir():
        arches |= {p.name.split(".")[-2] for p in capdir.glob("caps_*.xml")}
    return sorted(arches)


def capset_for(arch: str, qemu_version: str | None = None, caps_del=(), caps_add=(),
               profile: str | None = None) -> CapSet:
    """Find the capset for ``arch`` at ``qemu_version`` (default: the QEMU of the profile's build,
    its ``qemu`` field) as the profile's libvirt derives it, optionally with flags removed/added.

    Raises OracleInputError (one line, listing what exists) for an unknown arch, version or flag.
    Capsets are immutable, so each distinct request is built once per process.
    """
    from oracle.profile import DEFAULT_PROFILE, get_profile

    data = get_profile(profile or DEFAULT_PROFILE).data
    caps_del = (caps_del,) if isinstance(caps_del, str) else tuple(caps_del)
    caps_add = (caps_add,) if isinstance(caps_add, str) else tuple(caps_add)
    # era profiles (libvirt <= 2.2.0) run on another release's probe of a newer QEMU
    # (``capsets_of``), minus the devices their QEMU lacked (``caps_absent`` per arch)
    caps_del = caps_del + tuple(f for f in data.get("caps_absent", {}).get(arch, ()) if f not in caps_del)
    cs = _capset_for(arch, qemu_version or data["qemu"], caps_del, caps_add, str(libvirt_src()),
                     data.get("capsets_of", data["libvirt_version"]), bool(data.get("qemu_test_capsets")))
    retired = frozenset(data.get("caps_retired", ())) - cs.flags
    return _with_retired(cs, retired) if retired else cs


@functools.lru_cache(maxsize=512)
def _with_retired(cs: CapSet, retired: frozenset) -> CapSet:
    """Flags the profile's libvirt retired (``X_QEMU_CAPS_*``: every QEMU it supports has the
    feature, so its code no longer asks) are present in the oracle's view, as the rules still ask."""
    return replace(cs, flags=cs.flags | retired)


@functools.lru_cache(maxsize=512)
def _capset_for(arch: str, qemu_version: str, caps_del: tuple, caps_add: tuple, _src: str,
                libvirt: str, test_sets: bool) -> CapSet:
    cands = _candidates(arch, libvirt, test_sets)
    if not cands:
        if arch in known_arches():
            raise OracleInputError(f"no capset for {arch} under libvirt {libvirt}")
        raise OracleInputError(f"unknown arch {arch!r}; known: {', '.join(known_arches())}")
    if qemu_version not in cands:
        raise OracleInputError(
            f"no capset for {arch} QEMU {qemu_version} (libvirt {libvirt}); known: {', '.join(sorted(cands))}")
    cs = CapSet.from_file(cands[qemu_version])
    bad = [f for f in caps_del if f not in cs.flags]
    if bad:
        raise OracleInputError(f"caps_del: flag(s) {', '.join(bad)} not in {arch} {qemu_version} capset")
    known_flags: set[str] = set()
    if caps_add:
        for p in cands.values():
            known_flags |= _load(str(p)).flags
    bad = [f for f in caps_add if f not in known_flags]
    if bad:
        raise OracleInputError(f"caps_add: unknown flag(s) {', '.join(bad)} for {arch}")
    return replace(cs.without(caps_del).with_(caps_add), version=qemu_version)
