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
_TAG = b"isn+tsoff"
# The keyed hash state with the tag already absorbed, by secret: a connection copies one and hashes its
# 4-tuple, instead of keying a new hash (one compression saved) and absorbing the tag again.
_BASES: dict[bytes, Any] = {}
_BASES_MAX = 64


def _key(secret: bytes) -> bytes:
    # blake2s keys are at most 32 bytes; longer secrets are hashed down, empty ones still give a keyed hash.
    if len(secret) > 32:
        return blake2s(secret).digest()
    return secret


def _f(secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int) -> tuple[int, int]:
    """F(4-tuple, secret): one keyed 64-bit hash, split into two independent 32-bit halves (the ISN's
    and the timestamp offset's: one hash per connection, not one per value)."""
    base = _BASES.get(secret)
    if base is None:
        if len(_BASES) >= _BASES_MAX:
            _BASES.clear()
        base = _BASES[secret] = blake2s(_TAG, digest_size=8, key=_key(secret))
    h = base.copy()
    h.update(_TUPLE.pack(local_ip, local_port, remote_ip, remote_port))
    d = int.from_bytes(h.digest(), "big")
    return d >> 32, d & _MASK32


def isn_and_ts_offset(secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int,
                      now_us: int) -> tuple[int, int]:
    """Both per-connection values from one hash: ``(generate_isn(...), timestamp_offset(...))``."""
    f, offset = _f(secret, local_ip, local_port, remote_ip, remote_port)
    return (now_us // 4 + f) & _MASK32, offset


def generate_isn(
    secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int, now_us: int
) -> int:
    """RFC 6528 §3: ISN = M + F(4-tuple, secret), M a timer ticking every 4 µs (RFC 9293 §3.4.1)."""
    return isn_and_ts_offset(secret, local_ip, local_port, remote_ip, remote_port, now_us)[0]


def timestamp_offset(secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int) -> int:
    """A per-connection offset added to the TSval clock, so TSvals leak no host uptime (RFC 7323 §7.1)."""
    return _f(secret, local_ip, local_port, remote_ip, remote_port)[1]
