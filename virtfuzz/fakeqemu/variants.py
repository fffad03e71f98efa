"""Named capability variants and the stable emulator paths libvirt is pointed at.

A variant is (recording, mutations). Each gets a wrapper executable at
``$VIRTFUZZ_DATA_DIR/variants/<name>/qemu-system-<arch>`` that runs the fake
QEMU on that recording. Why stable paths rewritten only when their content changes: libvirt
keys its capabilities cache by emulator path and invalidates an entry when the file's ctime
changes, so an unchanged wrapper keeps its cached probe across processes and runs.

Recordings: libvirt 9.0.0's own ``tests/qemucapabilitiesdata/caps_<ver>.<arch>.replies``
(found under ``$VIRTFUZZ_DATA_DIR/libvirt-src/installed``, the source fetched by
scripts/fetch-libvirt-source.sh) with version ids like ``7.2.0``, and this project's recordings
of the installed QEMU (``capsets/replies/qemu-<ver>/<arch>.replies``) with ids like
``7.2.0-host``. A plain version also selects a host recording when libvirt has none for that
arch. ``qemu_version=None`` means the installed QEMU's recording.
"""

from __future__ import annotations

import difflib
import fcntl
import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from virtfuzz import datadir
from virtfuzz.fakeqemu import compiled
from virtfuzz.fakeqemu import flags as flags_mod

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_REPLIES = REPO_ROOT / "capsets" / "replies"
INSTALLED_QEMU = "7.2.0"
HOST_SUFFIX = "-host"
COMPILED = "probe.marshal"
QEMU_BINARY = {
    "x86_64": "qemu-system-x86_64",
    "i686": "qemu-system-i386",
    "aarch64": "qemu-system-aarch64",
    "armv7l": "qemu-system-arm",
    "ppc64": "qemu-system-ppc64",
    "s390x": "qemu-system-s390x",
    "riscv64": "qemu-system-riscv64",
    "sparc": "qemu-system-sparc",
}
_FAKE_SOURCES = ("server.py", "daemon.py", "replies.py", "mutations.py", "schema.py", "compiled.py")


class VariantError(ValueError):
    """Unknown arch, version or flag; the message lists what exists."""


@dataclass(frozen=True)
class Recording:
    arch: str
    version: str  # version id: "7.2.0" (libvirt test data) or "7.2.0-host" (our recording)
    path: Path
    # the libvirt whose probe this is: its replies follow that version's probe order, so a
    # recording serves only that libvirt (another build's are under capsets/replies/libvirt-V/)
    libvirt: str = flags_mod.DEFAULT_LIBVIRT


@dataclass(frozen=True)
class Variant:
    recording: Recording
    caps_del: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        base = f"{self.recording.version}-{self.recording.arch}"
        if self.recording.libvirt != flags_mod.DEFAULT_LIBVIRT:
            base = f"libvirt-{self.recording.libvirt}-{base}"
        dels = "".join(f"-del-{f}" for f in self.caps_del)
        name = base + dels
        if len(name) > 200:  # keep paths short; the hash keeps it unique and stable
            name = base + "-del-" + hashlib.sha256(dels.encode()).hexdigest()[:16]
        return name

    def mutations(self) -> list[flags_mod.Mutation]:
        return [m for f in self.caps_del for m in flags_mod.mutations_for(f, self.recording.libvirt)]


def data_dir() -> Path:
    return datadir.data_dir()


def libvirt_src() -> Path:
    return datadir.libvirt_src()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("-")[0]))


def build_replies(libvirt: str) -> Path:
    """Where another build's probes of its own QEMU are recorded (``qemu-<ver>/<arch>.replies``)."""
    return HOST_REPLIES / f"libvirt-{libvirt}"


def recordings(libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> dict[str, dict[str, Recording]]:
    """All recordings libvirt ``libvirt`` can be served, by arch, then version id: for the host's
    9.0.0 its own test data and our recordings of the installed QEMU; for another build only its
    recordings of its own QEMU (ids ``<ver>-host``), made through that build's libvirt."""
    out: dict[str, dict[str, Recording]] = {}
    if libvirt != flags_mod.DEFAULT_LIBVIRT:
        for p in sorted(build_replies(libvirt).glob("qemu-*/*.replies")):
            ver = p.parent.name[len("qemu-"):] + HOST_SUFFIX
            out.setdefault(p.stem, {})[ver] = Recording(p.stem, ver, p, libvirt)
        return out
    capsdata = libvirt_src() / "tests" / "qemucapabilitiesdata"
    for p in sorted(capsdata.glob("caps_*.replies")):
        m = re.fullmatch(r"caps_(\d+\.\d+\.\d+)\.(\w+)\.replies", p.name)
        if m:
            out.setdefault(m.group(2), {})[m.group(1)] = Recording(m.group(2), m.group(1), p)
    for p in sorted(HOST_REPLIES.glob("qemu-*/*.replies")):
        ver = p.parent.name[len("qemu-"):] + HOST_SUFFIX
        out.setdefault(p.stem, {})[ver] = Recording(p.stem, ver, p)
    return out


def available_versions(arch: str, libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> list[str]:
    """Version ids recorded for ``arch`` (through libvirt ``libvirt``), oldest first."""
    return sorted(recordings(libvirt).get(arch, {}), key=lambda v: (_version_key(v), v))


def find_recording(arch: str, qemu_version: str | None = None,
                   libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> Recording:
    recs = recordings(libvirt)
    under = "" if libvirt == flags_mod.DEFAULT_LIBVIRT else f" under libvirt {libvirt}"
    if arch not in recs:
        if libvirt != flags_mod.DEFAULT_LIBVIRT:
            raise VariantError(f"no QEMU recordings for {arch}{under} (scripts/record-qemu-replies.py "
                               f"--libvirt {libvirt} makes them)")
        raise VariantError(f"no QEMU recordings for arch {arch!r}; known arches: {', '.join(sorted(recs))}")
    versions = recs[arch]
    if qemu_version is None:
        own = [v for v in versions if v.endswith(HOST_SUFFIX)]
        wanted = INSTALLED_QEMU + HOST_SUFFIX if libvirt == flags_mod.DEFAULT_LIBVIRT or not own else own[0]
    else:
        wanted = qemu_version
    for candidate in (wanted, wanted + HOST_SUFFIX):
        if candidate in versions:
            return versions[candidate]
    raise VariantError(
        f"no QEMU {wanted} recording for {arch}{under}; available: {', '.join(available_versions(arch, libvirt))}"
    )


def check_flags(caps_del: Sequence[str], libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> None:
    """Refuse a flag the fake QEMU cannot delete, in one line naming the closest known ones."""
    try:
        known = flags_mod.known_flags(libvirt)
    except flags_mod.FlagError as e:
        raise VariantError(str(e.args[0])) from None
    for flag in caps_del:
        if flag not in flags_mod.table(libvirt)["flags"]:
            close = difflib.get_close_matches(flag, known, n=3, cutoff=0.0)
            raise VariantError(f"unknown --caps-del flag {flag!r} (closest: {', '.join(close)}); "
                               f"see `virtfuzz caps-flags`")
        why = flags_mod.unhonoured(libvirt).get(flag)
        if why:
            raise VariantError(f"--caps-del {flag} cannot be honoured on libvirt {libvirt}: {why} "
                               "(scripts/sweep-build-flags.py)")


def variant_for(arch: str, qemu_version: str | None = None, caps_del: Sequence[str] = (),
                libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> Variant:
    rec = find_recording(arch, qemu_version, libvirt)
    if isinstance(caps_del, str):  # a lone flag name, not its characters
        caps_del = [caps_del]
    wanted = sorted(set(caps_del))
    check_flags(wanted, libvirt)
    return Variant(rec, tuple(wanted))


@cache
def _fake_digest() -> str:
    """Changes when the fake's code changes, so wrappers (and libvirt's cache) follow it."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _FAKE_SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _content_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _file_identity(path: Path) -> str:
    """The recording's content (not its path or mtime: every checkout has its own of those)."""
    st = path.stat()
    return _content_digest(str(path), st.st_size, st.st_mtime_ns)


def runtime_dir() -> Path:
    """A copy of the fake's code (standard-library-only modules) in the data dir, named by its digest.

    Wrappers import the fake from here rather than from a checkout, so a wrapper's text -- and a
    rewrite changes the ctime libvirt's capability cache checks -- is the same for every checkout of
    the same fake code: two checkouts on one machine (a CI clone beside a worktree) no longer make
    libvirt re-probe every variant for each other.
    """
    root = data_dir() / f"fake-{_fake_digest()}"
    pkg = root / "virtfuzz" / "fakeqemu"
    if (root / ".complete").exists():
        return root
    pkg.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    _write_if_changed(root / "virtfuzz" / "__init__.py", "", 0o644)
    _write_if_changed(pkg / "__init__.py", "", 0o644)
    for name in _FAKE_SOURCES:
        _write_if_changed(pkg / name, (here / name).read_text(encoding="utf-8"), 0o644)
    for d in (root, root / "virtfuzz", pkg):
        d.chmod(0o755)
    (root / ".complete").touch()
    return root


def _write_if_changed(path: Path, content: str, mode: int) -> bool:
    """Write atomically, but only when the content differs (a rewrite changes the ctime)."""
    try:
        if path.read_text(encoding="utf-8") == content:
            if path.stat().st_mode & 0o777 != mode:
                path.chmod(mode)
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.chmod(mode)
    os.replace(tmp, path)
    return True


def _python() -> str:
    # The qemu.conf user runs the wrapper; prefer the system interpreter, which every user can
    # execute (the venv's may live under root's home). The fake needs only the standard library.
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)


def _stamp(variant: Variant) -> str:
    """Identity of everything the fake will serve: recording file, mutations, fake code."""
    h = hashlib.sha256()
    h.update(_file_identity(variant.recording.path).encode())
    h.update(json.dumps(variant.mutations(), sort_keys=True).encode())
    h.update(_fake_digest().encode())
    return h.hexdigest()[:16]


def wrapper_text(variant: Variant, vdir: Path, stamp: str) -> str:
    rec = variant.recording
    boot = (
        f"import sys; sys.path.insert(0, {str(runtime_dir())!r}); "
        "from virtfuzz.fakeqemu.server import main; sys.exit(main())"
    )
    args = ["--compiled", str(vdir / COMPILED), "--log", str(vdir / "unmatched.log")]
    quoted = " ".join(_shquote(a) for a in args)
    return (
        "#!/bin/sh\n"
        f"# virtfuzz fake QEMU, variant {variant.name} (generated by virtfuzz.fakeqemu.variants)\n"
        f"# recording: {_relative(rec.path)}\n"
        f"# stamp: {stamp}\n"
        f"exec {_python()} -S -c {_shquote(boot)} {quoted} \"$@\"\n"
    )


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _shquote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _compile(variant: Variant, vdir: Path) -> None:
    tables = compiled.compile_recording(str(variant.recording.path), variant.mutations())
    compiled.dump(tables, str(vdir / COMPILED))
    if variant.caps_del:
        doc = {"variant": variant.name, "caps_del": list(variant.caps_del), "mutations": variant.mutations()}
        _write_if_changed(vdir / "variant.json", json.dumps(doc, indent=1) + "\n", 0o644)


def materialise(variant: Variant) -> Path:
    """Create or refresh the variant's directory; returns the wrapper path. The wrapper (whose
    ctime libvirt checks) is rewritten only when the stamp of what it serves changes."""
    vdir = data_dir() / "variants" / variant.name
    wrapper = vdir / QEMU_BINARY.get(variant.recording.arch, f"qemu-system-{variant.recording.arch}")
    stamp = _stamp(variant)
    text = wrapper_text(variant, vdir, stamp)
    try:
        if wrapper.read_text(encoding="utf-8") == text and (vdir / COMPILED).exists():
            return wrapper
    except FileNotFoundError:
        pass
    vdir.mkdir(parents=True, exist_ok=True)
    for d in (data_dir(), data_dir() / "variants", vdir):
        if d.stat().st_mode & 0o755 != 0o755:
            d.chmod(d.stat().st_mode | 0o755)
    with open(vdir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = wrapper.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text or not (vdir / COMPILED).exists():
            _compile(variant, vdir)
            _write_if_changed(wrapper, text, 0o755)
    return wrapper


def emulator_for(arch: str, qemu_version: str | None = None, caps_del: Sequence[str] = (),
                 libvirt: str = flags_mod.DEFAULT_LIBVIRT) -> str:
    """Path to use as ``<emulator>`` for a domain of ``arch``.

    ``qemu_version`` None is the installed QEMU's recording (for another build ``libvirt``: that
    build's QEMU as its libvirt probed it); ``caps_del`` lists libvirt flag names (as in the caps
    XML) whose QMP sources are removed. Raises :class:`VariantError`.
    """
    return str(materialise(variant_for(arch, qemu_version, caps_del, libvirt)))


_VARIANT_DIR = re.compile(r"^(?:libvirt-(?P<libvirt>\d+\.\d+\.\d+)-)?(?P<version>\d+\.\d+\.\d+(?:-host)?)"
                          r"-(?P<arch>[a-z0-9_]+?)(?P<dels>(?:-del-.+)?)$")


def variant_of_emulator(emulator: str) -> tuple[str | None, tuple[str, ...]] | None:
    """(QEMU version, deleted flags) of a fake-QEMU variant's wrapper path, or None for any other
    emulator. The version is None for the installed QEMU's own recording (``-host``), as
    ``--qemu`` would be. Decoded from the directory name (``materialise``'s naming), so a path
    recorded under another data directory still says which variant it was; a hashed name is read
    from its ``variant.json``, and one that no longer exists raises :class:`VariantError`."""
    path = Path(emulator)
    if path.parent.parent.name != "variants" or path.name not in QEMU_BINARY.values():
        return None
    m = _VARIANT_DIR.match(path.parent.name)
    if not m:
        return None
    version = None if m.group("version").endswith(HOST_SUFFIX) else m.group("version")
    dels = tuple(d for d in m.group("dels").split("-del-") if d)
    if len(dels) == 1 and re.fullmatch(r"[0-9a-f]{16}", dels[0]):  # a hashed (long) flag list
        meta = path.parent / "variant.json"
        if not meta.is_file():
            raise VariantError(f"{emulator}: no such fake-QEMU variant (its flags are only in its variant.json)")
        dels = tuple(json.loads(meta.read_text())["caps_del"])
    return version, dels


def caps_root() -> Path:
    """The embed root ``caps_xml`` probes in: under the data dir, or in /tmp when that would
    make libvirt's QMP socket path too long."""
    from virtfuzz.fakeqemu import probe

    root = data_dir() / "caps-root"
    if len(str(root.absolute())) > probe.MAX_ROOT_LEN:
        digest = hashlib.sha256(str(data_dir().absolute()).encode()).hexdigest()[:12]
        root = Path("/tmp") / f"virtfuzz-caps-{os.getuid()}-{digest}"
    return root


def caps_xml(arch: str, qemu_version: str | None = None, caps_del: Sequence[str] = ()) -> str:
    """The capabilities the real libvirt derives for a variant (its caps cache entry), for
    consumers such as the oracle that must agree with libvirt on a variant's flags.

    Probes once in a libvirt subprocess on a shared root under the data dir, then reads the
    cached entry; needs libvirt-python. Raises :class:`VariantError` if the probe fails.
    """
    from virtfuzz.fakeqemu import probe

    emulator = emulator_for(arch, qemu_version, caps_del)
    root = caps_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(data_dir() / ".caps-root.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one libvirt process per embedded root
        (res,) = probe.probe(root, [(arch, emulator)])
    ctime = re.search(r"<qemuctime>(\d+)</qemuctime>", res["caps"] or "")
    if ctime is None or int(ctime.group(1)) != int(os.stat(emulator).st_ctime):  # none, or stale
        reason = res["error"] or "no caps cached"
        raise VariantError(f"libvirt could not probe {emulator}: {reason}")
    return res["caps"]
