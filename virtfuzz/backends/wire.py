"""Length-prefixed pickle messages over a pair of pipes (parent <-> libvirt worker).

Why not stdin/stdout: libvirt and QEMU helpers may write to the standard streams; dedicated file
descriptors keep the protocol clean. Why pickle: messages are small dicts of strings exchanged
between our own two processes; it is the fastest stdlib codec for that.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

_LEN = struct.Struct("<I")


def send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    buf = memoryview(_LEN.pack(len(data)) + data)
    while buf:
        n = os.write(fd, buf)
        buf = buf[n:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> Any:
    (n,) = _LEN.unpack(_read_exact(fd, _LEN.size))
    return pickle.loads(_read_exact(fd, n))
