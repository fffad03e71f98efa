"""Real libvirt builds as data: a description per build (``builds/<version>.toml``) and, for every
build but the host's, a Debian root filesystem under ``$VIRTFUZZ_DATA_DIR/builds/<version>/``.

A build's root is made with ``mmdebstrap`` from the mirror named in this machine's own apt
configuration (read at run time: no mirror is named in the repository), holds that suite's libvirt,
QEMU and python3-libvirt, and is marked finished by ``build.json`` beside it (the exact package
versions). Work inside a root happens in a private mount namespace (``unshare -m``) with proc, dev
and sys mounted and the repository checkout bind-mounted at its own path, then ``chroot``: the host
is never changed. See docs/builds.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from virtfuzz import datadir

REPO = Path(__file__).resolve().parent.parent
DESCRIPTIONS = REPO / "builds"
LIMIT_ENV = "VIRTFUZZ_BUILDS"
STAMP = "build.json"
# libvirt-daemon: libvirt_iohelper, which saving a running guest needs (the live tier)
BASE_PACKAGES = ("libvirt-daemon-driver-qemu", "libvirt-daemon", "python3-libvirt", "qemu-system-x86",
                 "qemu-system-arm", "qemu-system-ppc", "qemu-system-misc")
# what `virtfuzz builds` reports, and the stamp records
REPORTED = ("libvirt0", "libvirt-daemon-driver-qemu", "qemu-system-x86", "qemu-system-arm", "qemu-system-ppc",
            "qemu-system-misc", "python3-libvirt", "python3")

# Runs as `sh -c ENTER_SCRIPT virtfuzz-enter ROOT BIND... -- COMMAND...` inside `unshare -m
# --propagation private`: nothing mounted here is seen outside, and it all goes with the namespace.
ENTER_SCRIPT = r"""
r=$1; shift
# the root becomes a mount point of its own, so "/" inside is one (a worker makes it rprivate)
mount --bind "$r" "$r" || exit 125
mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" || exit 125
while [ "$1" != "--" ]; do
  mkdir -p "$r$1" && mount --bind "$1" "$r$1" || exit 125
  shift
done
shift
exec chroot "$r" "$@"
"""


class BuildError(Exception):
    """A build cannot be installed or used; the message is one line."""


@dataclass(frozen=True)
class BuildSpec:
    """One ``builds/<version>.toml``."""

    recipe: str  # hash of the description and the base packages: a root made otherwise is re-made
    libvirt: str
    suite: str
    arches: tuple[str, ...]
    packages: dict[str, str] = field(default_factory=dict)
    host: bool = False
    backports: str | None = None
    backports_packages: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> BuildSpec:
        text = path.read_text()
        d = tomllib.loads(text)
        recipe = hashlib.sha256(f"{text}\0{BASE_PACKAGES}".encode()).hexdigest()[:16]
        return cls(recipe=recipe, libvirt=d["libvirt"], suite=d["suite"], arches=tuple(d.get("arches", ())),
                   packages=dict(d.get("packages", {})), host=bool(d.get("host", False)),
                   backports=d.get("backports"), backports_packages=tuple(d.get("backports_packages", ())),
                   users=tuple(d.get("users", ())))


def specs() -> dict[str, BuildSpec]:
    """Every described build, by version, oldest first."""
    found = [BuildSpec.load(p) for p in DESCRIPTIONS.glob("*.toml")]
    return {s.libvirt: s for s in sorted(found, key=lambda s: version_key(s.libvirt))}


def version_key(v: str) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in re.split(r"[.]", v))


def upstream(debian_version: str) -> str:
    """``1:7.0.0-3+deb11u3`` -> ``7.0.0``."""
    v = debian_version.split(":", 1)[-1]
    return re.split(r"[-+~]", v, maxsplit=1)[0]


def limit() -> list[str] | None:
    """The versions ``VIRTFUZZ_BUILDS`` names (None: all)."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    return [v.strip() for v in raw.split(",") if v.strip()] or None if raw else None


def builds_dir() -> Path:
    return datadir.data_dir() / "builds"


def build_dir(version: str) -> Path:
    return builds_dir() / version


# -- installed builds ------------------------------------------------------------------------------

def _dpkg_versions(packages: tuple[str, ...], root: Path | None = None) -> dict[str, str]:
    cmd = ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n", *packages]
    if root is not None:
        cmd[1:1] = [f"--admindir={root}/var/lib/dpkg"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return {}
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].startswith("ii"):
            found[parts[0]] = parts[1]
    return found


def host_build() -> dict | None:
    """The host's own libvirt (Debian bookworm's, scripts/setup-host.sh), as an installed build."""
    pkgs = _dpkg_versions(REPORTED)
    if "libvirt0" not in pkgs:
        return None
    try:
        from importlib.metadata import version as dist_version

        pkgs["python3-libvirt"] = f"libvirt-python {dist_version('libvirt-python')} (pip)"
    except Exception:  # noqa: BLE001 - not installed in this interpreter
        pkgs.pop("python3-libvirt", None)
    spec = specs().get(upstream(pkgs["libvirt0"]))
    return {"version": upstream(pkgs["libvirt0"]), "host": True, "root": None, "suite": "host",
            "python": sys.executable, "python_version": ".".join(map(str, sys.version_info[:3])),
            "packages": pkgs, "arches": list(spec.arches) if spec else []}


def installed() -> dict[str, dict]:
    """Installed builds by version (the host's and every finished root), oldest first."""
    found: dict[str, dict] = {}
    host = host_build()
    if host is not None:
        found[host["version"]] = host
    d = builds_dir()
    if d.is_dir():
        for stamp in d.glob(f"*/{STAMP}"):
            try:
                info = json.loads(stamp.read_text())
            except (OSError, ValueError):
                continue
            if Path(info.get("root", "")).is_dir():
                found.setdefault(info["version"], info)
    return {v: found[v] for v in sorted(found, key=version_key)}


# -- running inside a root -------------------------------------------------------------------------

def enter_prefix(root: Path | str, binds: list[str]) -> list[str]:
    """Command prefix that runs what follows it chrooted in ``root``, in a private mount namespace,
    with ``binds`` (absolute host directories) visible at the same paths inside."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", ENTER_SCRIPT, "virtfuzz-enter", str(root),
            *binds, "--"]


def worker_binds() -> list[str]:
    """Host directories a worker inside a root needs at their own paths: the checkout (its code
    runs with the root's python3) and, when not on /dev/shm (rbind-mounted with /dev), the parent
    of the embedded-driver roots."""
    from virtfuzz.backends.embed_root import _tmp_parent

    binds = [str(REPO)]
    roots = _tmp_parent().resolve()
    if not str(roots).startswith("/dev/"):
        binds.append(str(roots))
    # the fake QEMU's variant wrappers and its code (--qemu/--caps-del on this build)
    from virtfuzz.fakeqemu import variants

    (variants.data_dir() / "variants").mkdir(parents=True, exist_ok=True)
    binds += [str(variants.data_dir() / "variants"), str(variants.runtime_dir())]
    return binds


# -- installing ------------------------------------------------------------------------------------

def mirror() -> str:
    """The Debian mirror URI of this machine's own apt configuration."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1]
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for f in lists:
        try:
            text = f.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", line)
            if m and "security" not in m.group(1):
                return m.group(1)
    raise BuildError("no Debian mirror in this machine's apt configuration")


def _add_users(root: Path, users: tuple[str, ...]) -> None:
    """System users (and their groups) inside the root, without running anything there."""
    passwd, group = root / "etc" / "passwd", root / "etc" / "group"
    used = {int(line.split(":")[2]) for f in (passwd, group) for line in f.read_text().splitlines()
            if line.count(":") >= 3}
    for user in users:
        if any(line.startswith(f"{user}:") for line in passwd.read_text().splitlines()):
            continue
        uid = next(i for i in range(999, 100, -1) if i not in used)
        used.add(uid)
        with group.open("a") as f:
            f.write(f"{user}:x:{uid}:\n")
        with passwd.open("a") as f:
            f.write(f"{user}:x:{uid}:{uid}:{user}:/var/lib/libvirt:/usr/sbin/nologin\n")


def _du(path: Path) -> int:
    out = subprocess.run(["du", "-sxb", str(path)], capture_output=True, text=True, check=False).stdout
    return int(out.split()[0]) if out.strip() else 0


def install(spec: BuildSpec, log=sys.stderr) -> tuple[str, dict]:
    """Install one build's root (idempotent). Returns (status line, build info); raises BuildError."""
    if spec.host:
        host = host_build()
        if host is None:
            raise BuildError("the host's libvirt is not installed (scripts/setup-host.sh)")
        if host["version"] != spec.libvirt:
            raise BuildError(f"the host has libvirt {host['version']}, not {spec.libvirt}")
        return f"libvirt {spec.libvirt}: the host's packages", host
    done = _finished(spec)
    if done is not None:
        return f"libvirt {done['version']}: already installed ({done['root']})", done
    if shutil.which("mmdebstrap") is None:
        raise BuildError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    builds_dir().mkdir(parents=True, exist_ok=True)
    with open(builds_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two set-ups at once: the second finds it done
        done = _finished(spec)
        if done is not None:
            return f"libvirt {done['version']}: already installed ({done['root']})", done
        return _install_locked(spec, log)


def _finished(spec: BuildSpec) -> dict | None:
    """The installed root made from this very description (same recipe), if any."""
    for info in installed().values():
        if info.get("description") == spec.libvirt and info.get("recipe") == spec.recipe:
            return info
    return None


def _install_locked(spec: BuildSpec, log) -> tuple[str, dict]:
    m = mirror()
    t = time.monotonic()
    tmp = builds_dir() / f".{spec.libvirt}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    root = tmp / "root"
    cmd = ["mmdebstrap", "--variant=apt", "--components=main", "--quiet",
           f"--include={','.join(BASE_PACKAGES)}"]
    sources = [f"deb {m} {spec.suite} main"]
    if spec.backports:
        sources.append(f"deb {m} {spec.backports} main")
        pkgs = " ".join(spec.backports_packages)
        cmd.append("--customize-hook=chroot \"$1\" sh -c 'apt-get -qq update && DEBIAN_FRONTEND=noninteractive "
                   f"apt-get -y -qq --no-install-recommends -t {spec.backports} install {pkgs} >/dev/null'")
    cmd += [spec.suite, str(root), *sources]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if r.returncode != 0:
        (builds_dir() / f"{spec.libvirt}.install.log").write_text(r.stdout)
        shutil.rmtree(tmp, ignore_errors=True)
        tail = " | ".join(r.stdout.strip().splitlines()[-2:])
        raise BuildError(f"mmdebstrap {spec.suite} failed (exit {r.returncode}; log in "
                         f"{builds_dir() / (spec.libvirt + '.install.log')}): {tail}")
    _add_users(root, spec.users)
    pkgs = _dpkg_versions(REPORTED, root)
    if "libvirt0" not in pkgs:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"libvirt0 is not installed in the {spec.suite} root")
    missing = [a for a in spec.arches if not (root / stock_emulator(a).lstrip("/")).exists()]
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"no QEMU for {', '.join(missing)} in the {spec.suite} root")
    real = upstream(pkgs["libvirt0"])
    py = subprocess.run(["chroot", str(root), "python3", "-c",
                         "import sys, libvirt; print('.'.join(map(str, sys.version_info[:3])))"],
                        capture_output=True, text=True, check=False)
    if py.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"python3-libvirt does not import in the {spec.suite} root: {py.stderr.strip()[-200:]}")
    final = build_dir(real)
    info = {"version": real, "description": spec.libvirt, "recipe": spec.recipe, "host": False, "suite": spec.suite,
            "backports": spec.backports, "root": str(final / "root"), "python": "/usr/bin/python3",
            "python_version": py.stdout.strip(), "packages": pkgs, "arches": list(spec.arches),
            "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - t, 1), "bytes": _du(root)}
    (tmp / STAMP).write_text(json.dumps(info, indent=2) + "\n")
    if final.exists():  # a root made from an older description: moved aside first (a running
        old = builds_dir() / f".{real}.old.{os.getpid()}"  # worker may still write into it)
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, final)
    line = (f"libvirt {real}: installed in {info['seconds']:.0f} s, {info['bytes'] / 1e6:.0f} MB "
            f"({final / 'root'})")
    return line + moved_on(spec, pkgs), info


def moved_on(spec: BuildSpec, pkgs: dict[str, str]) -> str:
    """What the mirror gave that the description did not want ('' when nothing), for the install line."""
    differs = [f"{p} {pkgs.get(p, 'missing')} (wanted {v})" for p, v in spec.packages.items() if pkgs.get(p) != v]
    if not differs:
        return ""
    out = f"; the mirror no longer has the described versions: {', '.join(differs)}"
    real = upstream(pkgs["libvirt0"]) if "libvirt0" in pkgs else None
    if real and real != spec.libvirt:
        out += f"; build named {real}, not {spec.libvirt}"
    return out


def stock_emulator(arch: str) -> str:
    from virtfuzz.backends.caps_context import stock_emulator as se

    return se(arch)
