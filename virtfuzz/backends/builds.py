"""Real libvirt builds the libvirt backend can drive, and how to start a worker for each.

9.0.0 is Debian bookworm's system libvirt, run with this interpreter. Every other build is a Debian
root filesystem (``virtfuzz.buildroots``, ``virtfuzz builds --install``): its worker runs with the
root's own python3 and libvirt, chrooted in a private mount namespace where the checkout and the
embedded-driver roots are visible at their own paths. Asking for a build that is not installed is
an error listing the installed ones, never a silent fallback to another version.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from contract.backend import BackendUnavailable


@dataclass(frozen=True)
class Build:
    version: str
    env: dict[str, str] = field(default_factory=dict)
    command_prefix: tuple[str, ...] = ()
    python: str | None = None  # the worker's interpreter (None: this one)
    root: str | None = None  # the build's root filesystem (None: the host)
    host: bool = True


def system_libvirt_version() -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libvirt0"], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        return None
    return out.split("-", 1)[0] or None


def resolve_build(version: str | None) -> Build:
    from virtfuzz import buildroots

    system = system_libvirt_version()
    if version is None:
        if system is None:
            raise BackendUnavailable("libvirt is not installed (run scripts/setup-host.sh)")
        return Build(version=system)
    if version == system:
        return Build(version=system)
    info = buildroots.installed().get(version)
    if info is None or info.get("host"):
        have = ", ".join(buildroots.installed()) or "none"
        raise BackendUnavailable(f"libvirt {version} is not available as a real build here "
                                 f"(installed: {have}; see virtfuzz builds --install)")
    return root_build(info)


def root_build(info: dict) -> Build:
    """A build in a root filesystem: its worker runs ``chroot ROOT python3`` in its own mount namespace."""
    from virtfuzz import buildroots

    env = {"PYTHONPATH": str(buildroots.REPO), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    prefix = buildroots.enter_prefix(info["root"], buildroots.worker_binds())
    return Build(version=info["version"], env=env, command_prefix=tuple(prefix), python=info["python"],
                 root=info["root"], host=False)
