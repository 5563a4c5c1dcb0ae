"""Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323 §5.4).

Read first: RFC 6528 §3 (ISN = M + F(localip, localport, remoteip, remoteport, secretkey)),
RFC 9293 §3.4.1 (the 4 µs ISN clock), RFC 7323 §5.4 / Linux tsoffset (per-connection TS offset).

The engine has no randomness of its own: the secret is injected (``isn_secret``) and time is ``now_us``.
"""

from __future__ import annotations

from hashlib import blake2s

from aiostack.fastpath import siphash24_words

_MASK32 = 0xFFFFFFFF
# The 128-bit SipHash key derived from each secret (of any length), cached: a connection hashes only its
# 4-tuple.
_KEYS: dict[bytes, tuple[int, int]] = {}
_KEYS_MAX = 64


def _key(secret: bytes) -> tuple[int, int]:
    k = blake2s(secret, digest_size=16, person=b"tcp-isn").digest()
    return int.from_bytes(k[:8], "little"), int.from_bytes(k[8:], "little")


def _f(secret: bytes, local_ip: int, local_port: int, remote_ip: int, remote_port: int) -> tuple[int, int]:
    """F(4-tuple, secret): SipHash-2-4 (the keyed hash Linux uses for ISNs) of the 4-tuple, its 64 bits
    split into two independent 32-bit halves (the ISN's and the timestamp offset's: one hash per
    connection, not one per value)."""
    key = _KEYS.get(secret)
    if key is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        key = _KEYS[secret] = _key(secret)
    d = siphash24_words(key[0], key[1], (local_ip << 32) | remote_ip, (local_port << 16) | remote_port)
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
