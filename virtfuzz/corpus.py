"""The regression corpus as data: the one module that reads and writes ``corpus/cases``, so the
export, the upstream run, the replay and the tests do not each glob it in their own way.

Layout (format 2)::

    corpus/cases/<topic>/NAME.json                       context (see CONTEXT_KEYS)
    corpus/cases/<topic>/NAME.xml                        the input (abi: the source domain)
    corpus/cases/<topic>/NAME.dst.xml | NAME.dev.xml     second input (abi destination, hotplug device)
    corpus/cases/<topic>/NAME.<arch>-<libvirt>.expected.<kind>
                                                         what that real build answered

with ``kind`` one of ``xml`` (stored XML), ``err`` (rejection), ``mig.xml`` / ``mig.err``
(migratable XML) and ``args`` (QEMU command line), named like libvirt's own test data
(``NAME.x86_64-9.0.0.expected.err``), so one case carries the answers of several builds. Topics
group cases by purpose (``define``, ``load``, ``abi``, ``random``, ``held-out`` ...: see TOPICS);
names are unique across topics. Expected outputs come from the real build only, via
``scripts/recorder.py`` (``virtfuzz corpus regen``/``add``), never from virtfuzz's own code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from virtfuzz.atomic import write_text

REPO_CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "cases"
#: the corpus a command works on unless told otherwise (``VIRTFUZZ_CORPUS`` names another one)
CORPUS = Path(os.environ.get("VIRTFUZZ_CORPUS") or REPO_CORPUS)
FORMAT = 2
#: the host's build, whose answers most cases record: a case's primary build when it has them
PRIMARY = "9.0.0"

#: expected-output kinds and the file suffix each is stored under (after ``.<arch>-<libvirt>``)
EXPECTED = {
    "xml": ".expected.xml",
    "err": ".expected.err",
    "mig.xml": ".expected.mig.xml",
    "mig.err": ".expected.mig.err",
    "args": ".expected.args",
}
#: second inputs: role -> suffix
SECOND = {"dst": ".dst.xml", "dev": ".dev.xml"}
OPS = ("define", "load", "abi", "attach", "detach")

#: name prefix -> topic (the prefix is what a case family was generated as; see
#: scripts/record-golden.py). "hold*" families were recorded after the oracle was developed against
#: the others: the held-out agreement measure of docs/fidelity.md.
TOPICS = {
    "define": "define", "load": "load", "abi": "abi", "attach": "attach", "detach": "detach",
    "capsdel": "capsdel", "edge": "edge", "mut": "mutated",
    "rand": "random", "rand2": "random", "rand3": "random", "rabi": "random", "rabi3": "random",
    "ratt": "random", "rdet": "random", "rload3": "random",
    "hold2rabi": "held-out", "hold2rand2": "held-out", "hold2ratt": "held-out", "hold2rdet": "held-out",
    "hold3": "held-out", "hold4": "held-out", "hold4abi": "held-out", "holdabi": "held-out",
    "holdload": "held-out", "holdmut": "held-out",
}
#: the define cases every real build answered (scripts/record-profile-golden.py)
BUILDS_TOPIC = "builds"
FINDINGS_TOPIC = "findings"

#: context keys: name -> (required, accepted types). ``qemu`` and ``recorded_with`` are either one
#: value for every build or a mapping libvirt version -> value.
CONTEXT_KEYS: dict[str, tuple[bool, tuple[type, ...]]] = {
    "op": (True, (str,)),
    "arch": (True, (str,)),
    "machine": (True, (str,)),
    "qemu": (True, (str, dict)),
    "caps_del": (True, (list,)),
    "recorded_with": (True, (str, dict)),
    "provenance": (True, (dict,)),
    "profile": (False, (str,)),
    "setup_error": (False, (bool,)),
    "load_failed": (False, (bool,)),
    "load_error_from": (False, (str,)),
    "finding": (False, (dict,)),
    # per build: machine types an input names that the build's QEMU does not know, and abi cases
    # whose destination pins another machine type than the build resolves the source's to
    "machines_unknown_to_build": (False, (dict,)),
    "abi_machine_differs": (False, (dict,)),
}

_VERSION = r"\d+\.\d+\.\d+"
_EXPECTED_FILE = re.compile(r"^(?P<name>.+)\.(?P<arch>[A-Za-z0-9_]+)-(?P<libvirt>" + _VERSION
                            + r")\.expected\.(?P<kind>xml|err|mig\.xml|mig\.err|args)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def topic_for(name: str) -> str:
    """The topic a generated case of this name belongs to (its family prefix)."""
    return TOPICS.get(name.split("-", 1)[0], FINDINGS_TOPIC)


def build_suffix(arch: str, libvirt: str) -> str:
    return f"{arch}-{libvirt}"


def expected_name(name: str, arch: str, libvirt: str, kind: str) -> str:
    """``NAME.<arch>-<libvirt>.expected.<kind>``"""
    return f"{name}.{build_suffix(arch, libvirt)}{EXPECTED[kind]}"


def dump_context(ctx: dict) -> str:
    return json.dumps(ctx, indent=1, sort_keys=True) + "\n"


@dataclass(frozen=True)
class CorpusCase:
    name: str                     # unique within the corpus (the file stem)
    topic: str                    # the directory it lives in, relative to the corpus root
    input: Path                   # NAME.xml
    context: dict = field(hash=False)
    builds: dict = field(hash=False)   # libvirt version -> {kind (see EXPECTED) -> Path}

    @property
    def dir(self) -> Path:
        return self.input.parent

    @property
    def op(self) -> str:
        return self.context.get("op", "")

    @property
    def arch(self) -> str:
        return self.context.get("arch", "")

    @property
    def machine(self) -> str:
        return self.context.get("machine", "")

    @property
    def caps_del(self) -> tuple[str, ...]:
        return tuple(self.context.get("caps_del") or ())

    @property
    def qemu(self) -> str:
        """The QEMU (capability set) the primary build's outputs were recorded with."""
        return self.qemu_for(self.libvirt) or "7.2.0"

    def qemu_for(self, libvirt: str) -> str | None:
        q = self.context.get("qemu")
        return q.get(libvirt) if isinstance(q, dict) else q

    def recorded_with(self, libvirt: str) -> str:
        r = self.context.get("recorded_with", "")
        return r.get(libvirt, "") if isinstance(r, dict) else r

    @property
    def versions(self) -> list[str]:
        """The libvirt builds whose answer the case records, oldest first: those ``recorded_with``
        names (an accepted ABI check leaves no file) and those with expected-output files."""
        rec = self.context.get("recorded_with")
        named = set(rec) if isinstance(rec, dict) else {rec.split()[1]} if isinstance(rec, str) and \
            rec.startswith("libvirt ") else set()
        return sorted(named | set(self.builds), key=version_key)

    def has(self, libvirt: str) -> bool:
        return libvirt in self.versions

    @property
    def libvirt(self) -> str:
        """The primary build: the host's (PRIMARY) when the case records it, else the newest."""
        versions = self.versions
        return PRIMARY if PRIMARY in versions else versions[-1] if versions else ""

    @property
    def expected(self) -> dict[str, Path]:
        """The primary build's expected outputs (kind -> Path)."""
        return self.expected_for(self.libvirt)

    def expected_for(self, build: str) -> dict[str, Path]:
        """Expected outputs of BUILD (``9.0.0`` or ``x86_64-9.0.0``): kind -> Path, only those
        that exist (empty: this build has no answer recorded for the case)."""
        if "-" in build:
            arch, _, build = build.partition("-")
            if arch != self.arch:
                return {}
        return dict(self.builds.get(build, {}))

    def expected_path(self, build: str, kind: str) -> Path:
        """Where BUILD's output of KIND is (or would be) stored."""
        return self.dir / expected_name(self.name, self.arch, build.rpartition("-")[2], kind)

    def read(self, kind: str, build: str | None = None) -> str:
        return self.expected_for(build or self.libvirt)[kind].read_text()

    def read_expected(self, build: str) -> dict[str, str]:
        """BUILD's expected outputs as text: kind -> content."""
        return {k: p.read_text() for k, p in self.expected_for(build).items()}

    def second(self, role: str) -> Path | None:
        """The second input (``dst`` or ``dev``), when the case has one."""
        p = self.dir / f"{self.name}{SECOND[role]}"
        return p if p.is_file() else None

    @property
    def provenance(self) -> dict:
        return dict(self.context.get("provenance") or {})


@dataclass
class Scan:
    """Everything under a corpus root: the cases, and what does not fit the format."""

    cases: list[CorpusCase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # "PATH: what is wrong"


def _classify(fname: str) -> tuple[str, str, tuple[str, str] | None]:
    """(case name, role, (libvirt, kind) for an expected output) of a file in a topic directory;
    role is json, input, dst, dev, expected or stray."""
    if fname.endswith(".json"):
        return fname[:-5], "json", None
    m = _EXPECTED_FILE.match(fname)
    if m:
        return m["name"], "expected:" + m["arch"], (m["libvirt"], m["kind"])
    for role, suffix in SECOND.items():
        if fname.endswith(suffix):
            return fname[: -len(suffix)], role, None
    if fname.endswith(".xml") and ".expected." not in fname:
        return fname[:-4], "input", None
    return fname, "stray", None


def validate_context(ctx: object) -> list[str]:
    """What is wrong with a case context (empty: nothing)."""
    if not isinstance(ctx, dict):
        return ["context is not a JSON object"]
    bad = []
    for key, (required, types) in CONTEXT_KEYS.items():
        if key not in ctx:
            if required:
                bad.append(f"missing key {key!r}")
        elif not isinstance(ctx[key], types):
            bad.append(f"{key!r} is {type(ctx[key]).__name__}, expected {' or '.join(t.__name__ for t in types)}")
    bad += [f"unknown key {k!r}" for k in ctx if k not in CONTEXT_KEYS]
    if isinstance(ctx.get("op"), str) and ctx["op"] not in OPS:
        bad.append(f"op {ctx['op']!r} is not one of {', '.join(OPS)}")
    if isinstance(ctx.get("caps_del"), list) and not all(isinstance(f, str) for f in ctx["caps_del"]):
        bad.append("caps_del holds a non-string")
    prov = ctx.get("provenance")
    if isinstance(prov, dict):
        for k in ("source", "why"):
            if not isinstance(prov.get(k), str) or not prov[k].strip():
                bad.append(f"provenance has no {k!r}")
    return bad


def scan(root: Path | str | None = None) -> Scan:
    """Read the whole corpus under ROOT (default: CORPUS) once: its cases, sorted by topic then
    name, and every file that does not belong to a well-formed case."""
    root = Path(root) if root is not None else CORPUS
    out = Scan()
    if not root.is_dir():
        out.problems.append(f"{root}: no such corpus directory")
        return out
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        d = Path(dirpath)
        if d == root:
            out.problems += [f"{d / f}: a file outside any topic directory" for f in sorted(filenames)]
            continue
        topic = str(d.relative_to(root))
        files: dict[str, dict[str, list]] = {}
        for f in sorted(filenames):
            name, role, exp = _classify(f)
            if role == "stray":
                out.problems.append(f"{d / f}: not part of any case (unknown kind of file)")
                continue
            files.setdefault(name, {}).setdefault(role, []).append((f, exp))
        for name, roles in sorted(files.items()):
            out.cases += _case(root, topic, d, name, roles, out.problems)
    return out


def _case(root: Path, topic: str, d: Path, name: str, roles: dict, problems: list[str]) -> list[CorpusCase]:
    where = d / name
    if "json" not in roles:
        problems += [f"{d / f}: no case {name}.json for it" for fs in roles.values() for f, _ in fs]
        return []
    if "input" not in roles:
        problems.append(f"{where}.json: no input {name}.xml")
        return []
    if not _NAME.match(name):
        problems.append(f"{where}.json: case name {name!r} has characters outside [A-Za-z0-9_.+-]")
    try:
        ctx = json.loads((d / f"{name}.json").read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{where}.json: not readable JSON ({e})")
        return []
    bad = validate_context(ctx)
    problems += [f"{where}.json: {b}" for b in bad]
    if not isinstance(ctx, dict) or not isinstance(ctx.get("arch"), str):
        return []
    builds: dict[str, dict[str, Path]] = {}
    for role, fs in roles.items():
        if not role.startswith("expected:"):
            continue
        arch = role.split(":", 1)[1]
        for f, (libvirt, kind) in fs:
            if arch != ctx["arch"]:
                problems.append(f"{d / f}: build suffix {arch}-{libvirt} is not the case's arch {ctx['arch']}")
                continue
            builds.setdefault(libvirt, {})[kind] = d / f
    op = ctx.get("op")
    wants = {"abi": "dst", "attach": "dev", "detach": "dev"}.get(op)
    for role in SECOND:
        if role in roles and role != wants and not (role == "dev" and ctx.get("setup_error")):
            problems.append(f"{d / roles[role][0][0]}: a {role} input, but the case's op is {op}")
    if op in ("attach", "detach") and "dev" not in roles:
        problems.append(f"{where}.json: {op} case without {name}.dev.xml")
    for libvirt, kinds in builds.items():
        kset = set(kinds)
        if "err" in kset and kset & {"xml", "mig.xml", "mig.err"}:
            problems.append(f"{where}.{ctx['arch']}-{libvirt}: both an error and outputs recorded")
        if op == "abi" and kset - {"err"}:
            problems.append(f"{where}.{ctx['arch']}-{libvirt}: an abi case records only an error (or nothing)")
    return [CorpusCase(name=name, topic=topic, input=d / f"{name}.xml", context=ctx, builds=builds)]


def cases(root: Path | str | None = None) -> Iterator[CorpusCase]:
    """Every well-formed case under ROOT (default: the corpus), sorted by topic then name."""
    yield from scan(root).cases


def by_name(root: Path | str | None = None) -> dict[str, CorpusCase]:
    return {c.name: c for c in cases(root)}


# -- writing ---------------------------------------------------------------------------------------

def write_expected(case: CorpusCase, build: str, kind: str, text: str | None) -> Path:
    """Store (or, with TEXT None, remove) BUILD's expected output of KIND for CASE, atomically."""
    if kind not in EXPECTED:
        raise ValueError(f"unknown expected-output kind {kind!r} (known: {', '.join(EXPECTED)})")
    path = case.expected_path(build, kind)
    if text is None:
        path.unlink(missing_ok=True)
    else:
        write_text(path, text)
    return path


def replace_expected(case: CorpusCase, build: str, outputs: dict[str, str]) -> None:
    """BUILD's expected outputs of CASE become exactly OUTPUTS (kind -> text)."""
    for kind in EXPECTED:
        write_expected(case, build, kind, outputs.get(kind))


def write_context(case: CorpusCase, context: dict) -> CorpusCase:
    """Replace CASE's context (validated), atomically."""
    bad = validate_context(context)
    if bad:
        raise ValueError(f"{case.name}: {'; '.join(bad)}")
    write_text(case.dir / f"{case.name}.json", dump_context(context))
    return CorpusCase(name=case.name, topic=case.topic, input=case.input, context=context, builds=case.builds)


def with_build(context: dict, libvirt: str, recorded_with: str, qemu: str) -> dict:
    """CONTEXT naming one more build whose answers the case records: ``recorded_with`` and ``qemu``
    become per-build mappings (a single value stays the value of the build it was recorded on)."""
    ctx = dict(context)
    rec, q = ctx.get("recorded_with"), ctx.get("qemu")
    if isinstance(rec, str):
        first = rec.split()[1] if rec.startswith("libvirt ") else libvirt
        rec = {first: rec}
        q = {first: q} if not isinstance(q, dict) else q
    rec, q = dict(rec or {}), dict(q or {}) if isinstance(q, dict) else {}
    rec[libvirt], q[libvirt] = recorded_with, qemu
    ctx["recorded_with"] = dict(sorted(rec.items(), key=lambda kv: version_key(kv[0])))
    ctx["qemu"] = dict(sorted(q.items(), key=lambda kv: version_key(kv[0])))
    return ctx


def write_case(root: Path | str | None, topic: str, name: str, context: dict, input_xml: str,
               second: dict[str, str] | None = None) -> CorpusCase:
    """Create a case (its context, input and second inputs; no expected outputs yet)."""
    root = Path(root) if root is not None else CORPUS
    bad = validate_context(context)
    if bad:
        raise ValueError(f"{name}: {'; '.join(bad)}")
    if not _NAME.match(name):
        raise ValueError(f"{name}: a case name is [A-Za-z0-9][A-Za-z0-9_.+-]*")
    d = root / topic
    write_text(d / f"{name}.xml", input_xml)
    for role, text in (second or {}).items():
        write_text(d / f"{name}{SECOND[role]}", text)
    write_text(d / f"{name}.json", dump_context(context))
    return CorpusCase(name=name, topic=topic, input=d / f"{name}.xml", context=context, builds={})


# -- hygiene ---------------------------------------------------------------------------------------

#: context keys that say what a case *is* (two cases equal in these and in their inputs are one)
IDENTITY_KEYS = ("op", "arch", "machine", "qemu", "caps_del")


def identity(case: CorpusCase) -> tuple:
    """What makes a case the case it is: its input bytes, second inputs and operation context."""
    seconds = tuple((role, p.read_bytes()) for role in SECOND if (p := case.second(role)) is not None)
    ctx = json.dumps({k: case.context.get(k) for k in IDENTITY_KEYS}, sort_keys=True)
    return case.input.read_bytes(), seconds, ctx


def check(root: Path | str | None = None) -> tuple[list[CorpusCase], list[str]]:
    """The corpus's cases and every hygiene problem, as libvirt's own test suite enforces for its
    data: a schema-valid context per input and an input per context, no orphan or stray file (an
    expected output whose case or build suffix is unknown), names unique across topics, no case
    twice (same input bytes and context), at least one build's answer per case."""
    s = scan(root)
    problems = list(s.problems)
    seen: dict[str, CorpusCase] = {}
    same: dict[tuple, CorpusCase] = {}
    for c in s.cases:
        if c.name in seen:
            problems.append(f"{c.dir / c.name}.json: name also used by {seen[c.name].topic}/{c.name}")
        seen.setdefault(c.name, c)
        key = identity(c)
        if key in same:
            problems.append(f"{c.dir / c.name}.json: the same case as {same[key].topic}/{same[key].name} "
                            "(same input bytes and context)")
        same.setdefault(key, c)
        if not c.versions:
            problems.append(f"{c.dir / c.name}.json: no build's answer recorded (recorded_with names none)")
        rec = c.context.get("recorded_with")
        named = set(rec) if isinstance(rec, dict) else {rec.split()[1]} if isinstance(rec, str) and \
            rec.startswith("libvirt ") else set()
        problems += [f"{p}: an answer of libvirt {v}, which the case's recorded_with does not name"
                     for v in sorted(set(c.builds) - named) for p in c.builds[v].values()]
    return s.cases, problems
