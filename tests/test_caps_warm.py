"""``virtfuzz caps-warm`` must cover every capability variant a campaign can draw.

A variant missing from the warm-up is probed inside a campaign's time budget instead (0.1-0.4 s
per libvirt root), which is what the command exists to avoid.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from fuzz.generate import all_capability_variants, draw_batch
from fuzz.vocabulary import ARCHES
from virtfuzz import buildroots, datadir
from virtfuzz.backends.caps_context import CapsContext, render_variants, stock_emulator
from virtfuzz.cli import main

_EMULATOR = re.compile(r"<emulator>([^<]*)</emulator>")
MACHINE_DATA_DIR = datadir.data_dir()  # at import, before a test points VIRTFUZZ_DATA_DIR elsewhere


def test_every_drawn_variant_is_enumerated(private_data_dir) -> None:
    enumerated = {CapsContext(version, dels).emulator(arch) for arch, version, dels in all_capability_variants()}
    drawn = {m.group(1) for c in render_variants(draw_batch(1500, 3, variant_rate=1.0))
             if (m := _EMULATOR.search(c.xml))}
    assert len(drawn) > 60, "the sample should reach most variants"
    assert drawn <= enumerated, sorted(drawn - enumerated)


def _cache_entry(build: str, emulator: str) -> str | None:
    """libvirt's capability cache entry for ``emulator`` (file named by the SHA-256 of its path,
    libvirt 9.0.0 src/qemu/qemu_capabilities.c virQEMUCapsCacheNew/virFileCache), as the backends
    keep it between roots in $VIRTFUZZ_DATA_DIR/capscache/<build>/."""
    f = datadir.data_dir() / "capscache" / build / f"{hashlib.sha256(emulator.encode()).hexdigest()}.xml"
    return f.read_text() if f.exists() else None


@pytest.mark.libvirt
def test_caps_warm_fills_libvirts_cache_for_every_binary_and_variant(capsys, private_data_dir_with_caches) -> None:
    """In a private data directory (the machine's caches are only read): seeded with the set-up's
    entries of the stock binaries, one per build taken away, and no variant probed yet."""
    data = private_data_dir_with_caches
    installed = buildroots.installed()
    assert "9.0.0" in installed, "the host's libvirt is always a build"
    taken = {}
    for build, info in installed.items():
        arch = next(a for a in ARCHES if not info.get("arches") or a in info["arches"])
        f = data / "capscache" / build / f"{hashlib.sha256(stock_emulator(arch).encode()).hexdigest()}.xml"
        assert f.exists(), f"the set-up's cache has no {build} {arch} entry to seed from"
        f.unlink()
        taken[build] = f
    assert main(["caps-warm", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f.exists() for f in taken.values()), "caps-warm did not probe a stock binary again"
    missing = []
    for build, info in installed.items():
        number = sum(int(x) * 1000 ** (2 - i) for i, x in enumerate(build.split(".")))
        selfvers = f"<selfvers>{number}</selfvers>"
        jobs = [(a, None, ()) for a in ARCHES if not info.get("arches") or a in info["arches"]]
        if build == "9.0.0":
            jobs += all_capability_variants()
        for arch, version, dels in jobs:
            emulator = CapsContext(version, dels).emulator(arch) if (version or dels) else stock_emulator(arch)
            entry = _cache_entry(build, emulator)
            # libvirt's own record of the probe: this emulator, this libvirt, the deleted flags gone
            if entry is None or f"<emulator>{emulator}</emulator>" not in entry or selfvers not in entry:
                missing.append(f"{build} {arch} {version} {dels}: {emulator}")
            elif any(f"<flag name='{f}'/>" in entry for f in dels):
                missing.append(f"{build} {arch} {version} {dels}: a deleted flag is still probed")
        assert re.search(rf"caps-warm: libvirt {re.escape(build)}: {len(jobs)} QEMU binaries", out), out
    assert not missing, f"{len(missing)} not in libvirt's capability cache:\n" + "\n".join(missing[:20])
    # the variants were made and probed in the private directory, nothing of it reached the machine's
    assert CapsContext("7.2.0", ("piix3-usb-uhci",)).emulator("x86_64").startswith(str(data))
    leaked = [f for f in MACHINE_DATA_DIR.glob("capscache/*/*.xml") if str(data) in f.read_text(errors="replace")]
    assert not leaked, leaked[:5]
