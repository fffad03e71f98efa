"""What a domain does next: sequences of config hotplug steps run across batches.

A generated domain may carry one step (attach a device). When libvirt accepts it, the definition
it stored becomes a case of the next batch -- checked like any definition, and it must re-define
to itself (invariant 4) -- and may carry the next step: attach another device, or detach one
attached earlier. Hotplug and unplug change which addresses are free, so the order of steps is
what these sequences explore; running them in lockstep across a batch keeps every step at batch
speed (one driver start-up per batch serves every restart and destination parse).

A sequence goes on only while the oracle and libvirt agree on the step (or the oracle does not
model it): after a disagreement, which is reported, the two would be checking different domains.
"""

from __future__ import annotations

import random
import re

from fuzz import strategies as S
from fuzz.checks import Observation
from fuzz.observe import Case

MAX_STEPS = 6          # hotplug steps per sequence
CONTINUE_RATE = 0.75   # chance that an accepted step is followed by another
DETACH_RATE = 0.4      # chance that the next step detaches an earlier device, when there is one

_ARCH = re.compile(r"<type arch='([^']*)'")


def attached_devices(history: tuple[tuple[str, str], ...]) -> list[str]:
    """Devices attached by earlier steps and not detached since (detach names the same XML)."""
    live: list[str] = []
    for op, xml in history:
        if op == "attach":
            live.append(xml)
        elif op == "detach" and xml in live:
            live.remove(xml)
    return live


def _agree(libvirt: Observation, oracle: Observation | None) -> bool:
    if oracle is None or oracle.hotplug is None or oracle.hotplug.kind == "unsupported":
        return True
    return oracle.hotplug.kind == "ok" and oracle.hotplug.xml == libvirt.hotplug.xml


def next_case(case: Case, libvirt: Observation, oracle: Observation | None, rng: random.Random) -> Case | None:
    """The next case of ``case``'s sequence, or None when the sequence ends here."""
    r = libvirt.hotplug
    if r is None or r.kind != "ok" or r.xml is None or case.device is None or not _agree(libvirt, oracle):
        return None
    history = (case.history or (("define", case.xml),)) + ((case.op, case.device),)
    device, op = None, "attach"
    if len(history) - 1 < MAX_STEPS and rng.random() < CONTINUE_RATE:
        live = attached_devices(history)
        if live and rng.random() < DETACH_RATE:
            device, op = rng.choice(live), "detach"
        else:
            m = _ARCH.search(r.xml)
            device = S.RandomDraw(rng)(S.device_xml(m.group(1))) if m else None
    return Case(xml=r.xml, device=device, op=op, after=case.op, history=history)
