"""Real libvirt builds the libvirt backend can drive, and how to start a worker for each.

9.0.0 is Debian bookworm's system libvirt. 11.3.0 (bookworm-backports, unpacked into a prefix
beside it) is designed for but not installed by this version of virtfuzz: asking for it gives a
clear error rather than silently running 9.0.0.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from virtfuzz.backend import BackendUnavailable


@dataclass(frozen=True)
class Build:
    version: str
    env: dict[str, str] = field(default_factory=dict)
    command_prefix: tuple[str, ...] = ()


def system_libvirt_version() -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libvirt0"], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        return None
    return out.split("-", 1)[0] or None


def resolve_build(version: str | None) -> Build:
    system = system_libvirt_version()
    if system is None:
        raise BackendUnavailable("libvirt is not installed (run scripts/setup-host.sh)")
    if version in (None, system):
        return Build(version=system)
    raise BackendUnavailable(f"libvirt {version} is not available as a real build here "
                             f"(installed: {system})")
