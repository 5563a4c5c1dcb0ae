"""Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323 §5.4).

Read first: RFC 6528 §3 (ISN = M + F(localip, localport, remoteip, remoteport, secretkey)),
RFC 9293 §3.4.1 (the 4 µs ISN clock), RFC 7323 §5.4 / Linux tsoffset (per-connection TS offset).

The engine has no randomness of its own: the secret is injected (``isn_secret``) and time is ``now_us``.
"""

from __future__ import annotations

import struct
from hashlib import blake2s
from typing import Any

_MASK32 = 0xFFFFFFFF
_TUPLE = struct.Struct("!IHIH")  # local IP, local port, remote IP, remote port (network order)
# Keyed hash states with the tag already absorbed, by (secret, tag): a connection copies one and hashes
# its 4-tuple, instead of keying a new hash (one compression saved) and absorbing the tag again.
_BASES: dict[tuple[bytes, bytes], Any] = {}
_BASES_MAX = 64


def _key(secret: bytes) -> bytes:
    # blake2s keys are at most 32 bytes; longer secrets are hashed down, empty ones still give a keyed hash.
    if len(secret) > 32:
        return blake2s(secret).digest()
    return secret


def _f(secret: bytes, tag: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int) -> int:
    base = _BASES.get((secret, tag))
    if base is None:
        if len(_BASES) >= _BASES_MAX:
            _BASES.clear()
        base = _BASES[(secret, tag)] = blake2s(tag, digest_size=4, key=_key(secret))
    h = base.copy()
    h.update(_TUPLE.pack(local_ip, local_port, remote_ip, remote_port))
    return int.from_bytes(h.digest(), "big")


def generate_isn(
    secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int, now_us: int
) -> int:
    """RFC 6528 §3: ISN = M + F(4-tuple, secret), M a timer ticking every 4 µs (RFC 9293 §3.4.1)."""
    m = now_us // 4
    return (m + _f(secret, b"isn", local_ip, local_port, remote_ip, remote_port)) & _MASK32


def timestamp_offset(secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int) -> int:
    """A per-connection offset added to the TSval clock, so TSvals leak no host uptime (RFC 7323 §7.1)."""
    return _f(secret, b"tsoff", local_ip, local_port, remote_ip, remote_port)
