"""The live tier: real TCG guests under libvirt, checking invariant 5.

Invariant 5: the real QEMU state agrees with libvirt's ABI verdict. A guest is started paused,
USB devices are live-attached, it is saved, and restored from a destination definition: its own
migratable XML (what a migration sends), or that XML with one guest-visible detail changed. When
libvirt's ABI check accepts the destination but QEMU then refuses the saved device state
("Unknown savevm section ..."), libvirt let an ABI break through: a libvirt bug. Sampled at a
low rate by the campaign (a cycle costs 1-3 s of real QEMU).

Invariant 6 on a real live migration (``check_live_migration``): when other builds are configured,
one case per live round is started on the primary build and migrated for real to another build's
libvirtd (virtfuzz.backends.live_migration); if that build's ABI check accepts the guest, the
migration must not fail inside QEMU and QEMU must get the same guest layout on both sides.
"""

from __future__ import annotations

import random
import re

from lxml import etree

from fuzz.checks import Failure
from fuzz.migration import INVARIANT as MIGRATION_INVARIANT

QEMU_STATE_ERROR = "qemu unexpectedly closed the monitor"


def destination_variants(mig_xml: str, rng: random.Random) -> list[tuple[str, str]]:
    """(description, destination XML): the migratable XML itself, and one guest-visible change."""
    out = [("as sent", mig_xml)]
    root = etree.fromstring(mig_xml.encode())
    usb = [a for a in root.iterfind("devices/*/address[@type='usb']") if a.get("port")]
    if usb:
        a = rng.choice(usb)
        used = {x.get("port") for x in usb}
        free = [str(p) for p in range(1, 5) if str(p) not in used]
        if free:
            old = a.get("port")
            a.set("port", rng.choice(free))
            out.append((f"USB port {old} -> {a.get('port')} of <{a.getparent().tag}>",
                        etree.tostring(root, encoding="unicode")))
    return out


def check_live(result: dict, what: str) -> list[Failure]:
    if result.get("kind") in ("crash", "timeout"):
        return [Failure(f"0-libvirt-{result['kind']}", "libvirt", f"live cycle ({what}): {result.get('error')}")]
    if result.get("stage") == "restore" and QEMU_STATE_ERROR in (result.get("error") or ""):
        return [Failure("5-live-abi-vs-qemu", "libvirt",
                        f"libvirt accepted the destination ({what}) but QEMU refused the saved state: "
                        f"{result['error'][:300]}", xpath="live/restore")]
    return []


# what a live migration error says when the destination QEMU could not load the guest's state,
# as opposed to libvirt refusing the migration before QEMU ran, or QEMU not starting because of
# the one host both sides share (a guest's fixed TCP port is taken by the source's QEMU:
# "Failed to find an available port: Address already in use")
_QEMU_FAILED = re.compile(r"savevm section|load of migration failed|error while loading state|"
                          r"Missing section footer|VQ \d+ size|load_state|vmstate|"
                          r"job 'migration in' failed", re.IGNORECASE)
_SHARED_HOST = re.compile(r"Address already in use|available port", re.IGNORECASE)


_QEMU_STDERR = re.compile(r"qemu unexpectedly closed the monitor: (.*)", re.DOTALL)
_STDERR_LINE = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z\s+")


def _qemu_exit_class(error: str) -> str | None:
    """The signature key of a migration whose QEMU exited and libvirt quoted its stderr
    ("qemu unexpectedly closed the monitor: <stderr>"), or None for any other error.

    Why: QEMU's stderr starts with warnings whose number and order vary from run to run (TCG
    feature caps, ...), and the message is cut at 400 characters, so the message class of one
    behaviour came out different on each replay (a known finding reported as new). The key is
    QEMU's error lines only (timestamps, program name and warnings dropped), as a class."""
    from fuzz.signature import error_class

    m = _QEMU_STDERR.search(error)
    if m is None:
        return None
    lines = [line.strip() for line in _STDERR_LINE.split(m.group(1)) if line.strip()]
    lines = [re.sub(r"^qemu-system-[\w]+: ", "", line) for line in lines if "warning:" not in line]
    return "live/qemu-exited: " + error_class("; ".join(lines))[:300] if lines else None


def check_live_migration(result: dict, verdict: dict, abi_ok: bool, party: str) -> list[Failure]:
    """Invariant 6 on a real live migration (virtfuzz.backends.live_migration): ``result`` is the
    worker's ``migrate_live`` answer, ``verdict`` its ``summarize``, ``abi_ok`` the destination's
    ABI check of the source's migratable XML. When the destination's ABI check accepts, the
    migration must succeed in QEMU and QEMU must get the same guest layout on both sides."""
    if result.get("kind") in ("crash", "timeout"):
        return [Failure(f"0-libvirt-{result['kind']}", party, f"live migration: {result.get('error')}")]
    if not abi_ok:
        return []
    if result.get("kind") != "ok":
        error = result.get("error") or ""
        logged = result.get("destination_qemu_errors") or []
        if not _QEMU_FAILED.search(error) and any(_QEMU_FAILED.search(line) for line in logged):
            # libvirt on the source said only that the migration stopped ("domain is no longer
            # running": which side noticed first varies, 6 of 8 runs of one ppc64 case); the
            # destination QEMU's log says why, in the words libvirt quotes otherwise: the same key
            error = f"{error}; destination QEMU: qemu unexpectedly closed the monitor: {' '.join(logged)}"
        if result.get("stage") == "migrate" and _QEMU_FAILED.search(error) and not _SHARED_HOST.search(error):
            # the signature is the error's class (numbers, names and paths blanked), no XPath; when
            # libvirt passes on QEMU's stderr, only QEMU's error lines (see _qemu_exit_class)
            return [Failure(MIGRATION_INVARIANT, party, f"the destination's ABI check accepts but the live "
                            f"migration fails in QEMU: {error[:400]}", _qemu_exit_class(error), right=error)]
        return []
    guest = verdict.get("guest") or {}
    if guest.get("same") is False:
        diff = guest.get("first_difference") or ""
        head, _, rest = diff.partition(": ")
        return [Failure(MIGRATION_INVARIANT, party, f"the destination's ABI check accepts but the live-migrated "
                        f"guest changes: {diff}", f"live/{re.sub(r'#[0-9]+', '#N', head)}/{rest.split(' ', 1)[0]}")]
    return []
