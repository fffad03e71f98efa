"""virtfuzz oracle: a pure-Python (lxml only, no libvirt) model of what libvirt 9.0.0's QEMU
driver does to a domain definition -- stored XML, migratable XML, the exact error text, ABI
stability verdicts and config-only USB hotplug -- for a deliberately small, exact vocabulary
(see docs/fidelity.md).

Inputs must carry a <uuid> (libvirt invents a random one otherwise) and <domain type='qemu'>.
Anything outside the modelled vocabulary raises OracleUnsupported (an OracleInputError); libvirt's
own refusals are returned as results of kind 'error' with libvirt's exact message.
"""

from __future__ import annotations

from oracle import abicheck, hotplug, layout, memo  # noqa: F401  (imported before the snapshot below)
from oracle.api import abi, abi_image, arch_of, attach, define, detach, guest, load
from oracle.capsets import CapSet, capset_for
from oracle.errors import OracleInputError, OracleUnsupported
from oracle.memo import session
from oracle.profile import get_profile

__all__ = ["define", "load", "abi", "abi_image", "guest",
           "attach", "detach", "arch_of", "session", "CapSet", "capset_for",
           "OracleInputError", "OracleUnsupported", "get_profile"]

# every oracle module is imported now, before anyone could patch a rule: this is the state memo
# sessions compare against (see oracle.memo)
memo.snapshot_rules()
