"""``python -m virtfuzz.fakeqemu --replies FILE [--mutations FILE] [--log FILE] <qemu args...>``."""

import sys

from virtfuzz.fakeqemu.server import main

sys.exit(main())
