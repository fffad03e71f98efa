"""A fake QEMU that replays recorded QMP probe conversations, so a real libvirt can be run
against many capability sets (recorded QEMU versions, plus deliberate mutations).

libvirt decides defaults (USB controller model, PCI topology, ...) from what QEMU reports in its
capability probe. Replaying libvirt's own recorded probes (``tests/qemucapabilitiesdata``) and
recordings of the installed QEMU through a fake emulator lets the real libvirt compute exactly the
capabilities of each recorded set, and editing the replies lets it compute variants that no
installed QEMU offers. Entry point for callers: :func:`virtfuzz.fakeqemu.variants.emulator_for`.
"""
