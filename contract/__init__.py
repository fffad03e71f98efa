"""The contract every part of virtfuzz speaks: plain-data results (``contract.results``), the guest
layout form (``contract.guest_layout``) and the backend protocol (``contract.backend``).

Why a package of its own, at the bottom: the oracle is a pure model of libvirt and must not depend
on the harness that drives real builds (``virtfuzz``) or on the fuzzer (``fuzz``); all three, and
the recorder-independent tests, need the same result types and layout form. So this package imports
nothing but the standard library, and ``oracle``, ``fuzz`` and ``virtfuzz`` import it
(``tests/test_layering.py`` keeps it that way).
"""
