"""``virtfuzz caps-warm`` must cover every capability variant a campaign can draw.

A variant missing from the warm-up is probed inside a campaign's time budget instead (0.1-0.4 s
per libvirt root), which is what the command exists to avoid.
"""

from __future__ import annotations

import re

import pytest

from fuzz.generate import all_capability_variants, draw_batch
from virtfuzz.backends.caps_context import CapsContext
from virtfuzz.cli import main

_EMULATOR = re.compile(r"<emulator>([^<]*)</emulator>")


def test_every_drawn_variant_is_enumerated() -> None:
    enumerated = {CapsContext(version, dels).emulator(arch) for arch, version, dels in all_capability_variants()}
    drawn = {m.group(1) for c in draw_batch(1500, 3, variant_rate=1.0) if (m := _EMULATOR.search(c.xml))}
    assert len(drawn) > 60, "the sample should reach most variants"
    assert drawn <= enumerated, sorted(drawn - enumerated)


@pytest.mark.libvirt
def test_caps_warm_runs(capsys) -> None:
    assert main(["caps-warm", "--jobs", "1"]) == 0
    assert re.search(r"caps-warm: \d+ QEMU binaries and variants", capsys.readouterr().out)
