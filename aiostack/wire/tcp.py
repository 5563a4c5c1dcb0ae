"""TCP segments: header, flags and options.

Read first: RFC 9293 §3.1 (header format, checksum over the IPv4 pseudo-header) and §3.2 (options:
EOL, NOP, MSS; unknown options are skipped by their length), RFC 7323 §2-§3 (window scale, timestamps),
RFC 2018 §2-§3 (SACK-permitted, SACK blocks), RFC 3168 §6.1 (ECE, CWR), RFC 1071 (checksum).

Layout (20 bytes plus 0..40 bytes of options; the data offset counts 32-bit words)::

     0        1        2        3
    | source port     | destination port|
    | sequence number                   |
    | acknowledgment number             |
    |off|rsv | flags  | window          |
    | checksum        | urgent pointer  |
    | options (data offset*4 - 20 bytes)|
    | payload ...

The checksum covers the pseudo-header (source, destination, zero, protocol 6, TCP length) and the whole
segment. For checksum offload (virtio NEEDS_CSUM), ``emit(..., partial_checksum=True)`` leaves the folded
pseudo-header sum (not complemented) in the checksum field; the device then sums from the TCP header to the
end and stores the complement, as Linux's CHECKSUM_PARTIAL does (csum_offset = ``CHECKSUM``).

``TcpRepr`` options are values: ``mss``, ``wscale``, ``ts_val``/``ts_ecr`` are None when absent,
``sack_permitted`` a bool and ``sack_blocks`` a tuple of ``(left, right)`` edges. ``emit`` lays them out as
Linux does (MSS; SACK-permitted+timestamps or NOP,NOP,timestamps; NOP,window scale; NOP,NOP,SACK blocks),
which keeps every option 4-byte aligned and the header at most 60 bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from aiostack.errors import MalformedPacket
from aiostack.fastpath import build_tcp_options as _build_tcp_options
from aiostack.fastpath import checksum_partial, internet_checksum, pseudo_header_sum
from aiostack.fastpath import parse_tcp_options as _parse_tcp_options
from aiostack.wire.ipv4 import PROTO_TCP, int_to_ip

__all__ = [
    "SRC_PORT", "DST_PORT", "SEQ", "ACK_NUM", "DATA_OFF", "FLAGS", "WINDOW", "CHECKSUM", "URGENT",
    "OPTIONS", "HEADER_LEN", "MAX_HEADER_LEN", "MAX_OPTIONS_LEN",
    "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR",
    "OPT_EOL", "OPT_NOP", "OPT_MSS", "OPT_WSCALE", "OPT_SACK_PERMITTED", "OPT_SACK", "OPT_TIMESTAMP",
    "MAX_SACK_BLOCKS",
    "TcpView", "TcpRepr", "TcpOptions", "parse_options", "options_len", "flags_str",
]

# Field offsets (RFC 9293 §3.1).
SRC_PORT = 0
DST_PORT = 2
SEQ = 4
ACK_NUM = 8
DATA_OFF = 12  # high nibble: data offset in words; low nibble reserved
FLAGS = 13
WINDOW = 14
CHECKSUM = 16
URGENT = 18
OPTIONS = 20
HEADER_LEN = 20
MAX_HEADER_LEN = 60
MAX_OPTIONS_LEN = 40

# Control bits (RFC 9293 §3.1; ECE/CWR from RFC 3168 §6.1).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

# Option kinds (RFC 9293 §3.2, RFC 7323 §2.2/§3.2, RFC 2018 §2/§3).
OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WSCALE = 3
OPT_SACK_PERMITTED = 4
OPT_SACK = 5
OPT_TIMESTAMP = 8
# RFC 2018 §3: at most 4 blocks fit in 40 bytes (3 alongside timestamps).
MAX_SACK_BLOCKS = 4

_HDR = struct.Struct("!HHIIBBHHH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# tcpdump's order and letters (print-tcp.c tcp_flag_values).
_FLAG_CHARS = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"), (ECE, "E"), (CWR, "W"))


def flags_str(flags: int) -> str:
    """tcpdump's flag letters: ``SYN|ACK`` -> ``"S."``; no flags -> ``"none"``."""
    s = "".join(c for bit, c in _FLAG_CHARS if flags & bit)
    return s or "none"


TcpOptions = tuple[int | None, int | None, bool, tuple[tuple[int, int], ...], int | None, int | None]
"""(mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr) as returned by ``parse_options``."""

_NO_OPTIONS: TcpOptions = (None, None, False, (), None, None)


def parse_options(opts: bytes | bytearray | memoryview) -> TcpOptions:
    """Parse the options area (RFC 9293 §3.2) with the fast path's ``parse_tcp_options``.

    EOL ends the list; NOP is skipped; every other option has a length byte >= 2 that must fit in the
    area, and unknown kinds are skipped by it; a repeated option overrides the earlier one. A known option
    with the wrong length, a missing length byte, or a length that runs past the area raises
    ``MalformedPacket("bad_option_length")`` (RFC 9293 §3.2 MUST-7).
    """
    try:
        return _parse_tcp_options(opts, 0, len(opts))
    except MalformedPacket as exc:
        raise MalformedPacket("bad_option_length", exc.detail) from None


class TcpView:
    """Zero-copy accessors over a TCP segment (the IPv4 payload). Call ``check_len()`` first."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        _check(self.buf)

    @property
    def src_port(self) -> int:
        return int(_U16.unpack_from(self.buf, SRC_PORT)[0])

    @property
    def dst_port(self) -> int:
        return int(_U16.unpack_from(self.buf, DST_PORT)[0])

    @property
    def seq(self) -> int:
        return int(_U32.unpack_from(self.buf, SEQ)[0])

    @property
    def ack(self) -> int:
        return int(_U32.unpack_from(self.buf, ACK_NUM)[0])

    @property
    def header_len(self) -> int:
        return (self.buf[DATA_OFF] >> 4) * 4

    @property
    def flags(self) -> int:
        return self.buf[FLAGS]

    @property
    def window(self) -> int:
        return int(_U16.unpack_from(self.buf, WINDOW)[0])

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self.buf, CHECKSUM)[0])

    @property
    def urgent(self) -> int:
        return int(_U16.unpack_from(self.buf, URGENT)[0])

    @property
    def options(self) -> memoryview:
        return self.buf[OPTIONS:self.header_len]

    @property
    def payload(self) -> memoryview:
        return self.buf[self.header_len:]

    def parse_options(self) -> TcpOptions:
        return parse_options(self.options) if self.header_len > HEADER_LEN else _NO_OPTIONS

    def verify_checksum(self, src_ip: int, dst_ip: int) -> bool:
        """RFC 9293 §3.1: segment plus pseudo-header sums to 0xFFFF."""
        return internet_checksum(self.buf, pseudo_header_sum(src_ip, dst_ip, PROTO_TCP, len(self.buf))) == 0


def _check(buf: memoryview) -> int:
    n = len(buf)
    if n < HEADER_LEN:
        raise MalformedPacket("truncated", f"tcp segment of {n} bytes")
    hl = (buf[DATA_OFF] >> 4) * 4
    if hl < HEADER_LEN or hl > n:  # RFC 9293 §3.1: data offset >= 5 words, within the segment
        raise MalformedPacket("bad_data_offset", f"data offset {hl // 4} in {n} bytes")
    return hl


def options_len(
    mss: int | None,
    sack_permitted: bool,
    wscale: int | None,
    sack_blocks: Sequence[tuple[int, int]] | None,
    ts_val: int | None,
) -> int:
    """Bytes of the options area in Linux's layout (a multiple of 4), as ``TcpRepr.emit`` and
    ``aiostack.fastpath.build_tcp_options`` write it: MSS, [sackOK|NOP NOP] TS (else NOP NOP sackOK),
    NOP wscale, NOP NOP SACK blocks."""
    n = 4 if mss is not None else 0
    if ts_val is not None:
        n += 12
    elif sack_permitted:
        n += 4
    if wscale is not None:
        n += 4
    if sack_blocks:
        n += 4 + 8 * len(sack_blocks)
    return n


@dataclass(frozen=True, slots=True)
class TcpRepr:
    """A TCP segment in values; ``payload`` is a zero-copy memoryview after ``parse``.

    ``window`` is the raw 16-bit field (unscaled); ``ack`` is carried even without the ACK flag.
    """

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int = 0
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()
    ts_val: int | None = None
    ts_ecr: int | None = None
    payload: bytes | bytearray | memoryview = b""

    @classmethod
    def parse(
        cls, buf: bytes | bytearray | memoryview, src_ip: int, dst_ip: int, verify_checksum: bool = True
    ) -> TcpRepr:
        """Parse a whole segment (exactly the IPv4 payload). ``src_ip``/``dst_ip`` feed the checksum.

        ``verify_checksum=False`` skips the checksum (frames the device marked DATA_VALID, or sent with
        NEEDS_CSUM over a local link).
        """
        mv = memoryview(buf)
        hl = _check(mv)
        if verify_checksum and internet_checksum(mv, pseudo_header_sum(src_ip, dst_ip, PROTO_TCP, len(mv))):
            raise MalformedPacket("bad_checksum", "tcp")
        sp, dp, seq, ack, _off, flags, win, _csum, urg = _HDR.unpack_from(mv, 0)
        if hl > HEADER_LEN:
            try:
                mss, ws, sp_ok, blocks, tsv, tse = _parse_tcp_options(mv, OPTIONS, hl)
            except MalformedPacket as exc:
                raise MalformedPacket("bad_option_length", exc.detail) from None
            return cls(sp, dp, seq, ack, flags, win, urg, mss, ws, sp_ok, blocks, tsv, tse, mv[hl:])
        return cls(sp, dp, seq, ack, flags, win, urg, payload=mv[hl:])

    def options_len(self) -> int:
        """Length of the options area ``emit`` writes (a multiple of 4)."""
        return options_len(self.mss, self.sack_permitted, self.wscale, self.sack_blocks, self.ts_val)

    @property
    def header_len(self) -> int:
        return HEADER_LEN + self.options_len()

    def buffer_len(self) -> int:
        """Bytes ``emit`` writes: header, options and payload."""
        return HEADER_LEN + self.options_len() + len(self.payload)

    def emit(
        self,
        buf: bytearray | memoryview,
        src_ip: int,
        dst_ip: int,
        offset: int = 0,
        *,
        partial_checksum: bool = False,
    ) -> None:
        """Write the whole segment at ``buf[offset:]`` with its checksum over the pseudo-header.

        ``partial_checksum=True`` stores only the folded pseudo-header sum for the device to complete
        (virtio NEEDS_CSUM / CHECKSUM_PARTIAL; see the module docstring). Raises ValueError when the
        options do not fit in 40 bytes or a SACK block list is longer than 4.
        """
        olen = self.options_len()
        if olen > MAX_OPTIONS_LEN or len(self.sack_blocks) > MAX_SACK_BLOCKS:
            raise ValueError(f"tcp options need {olen} bytes, at most {MAX_OPTIONS_LEN} fit")
        hl = HEADER_LEN + olen
        plen = len(self.payload)
        total = hl + plen
        _HDR.pack_into(
            buf, offset, self.src_port, self.dst_port, self.seq, self.ack, hl << 2, self.flags,
            self.window, 0, self.urgent,
        )
        if olen:  # Linux layout, written by the fast path (same bytes as ``option_tokens`` describes)
            _build_tcp_options(
                buf, offset + OPTIONS, self.mss, self.wscale, self.sack_permitted, self.sack_blocks,
                self.ts_val, self.ts_ecr,
            )
        if plen:
            buf[offset + hl:offset + total] = self.payload
        phs = pseudo_header_sum(src_ip, dst_ip, PROTO_TCP, total)
        if partial_checksum:
            csum = phs
        else:
            csum = (~checksum_partial(memoryview(buf)[offset:offset + total], phs)) & 0xFFFF
        _U16.pack_into(buf, offset + CHECKSUM, csum)

    def option_tokens(self) -> list[str]:
        """The options in tcpdump's words, in the order ``emit`` lays them out."""
        out: list[str] = []
        if self.mss is not None:
            out.append(f"mss {self.mss}")
        if self.ts_val is not None:
            out.extend(["sackOK"] if self.sack_permitted else ["nop", "nop"])
            out.append(f"TS val {self.ts_val} ecr {0 if self.ts_ecr is None else self.ts_ecr}")
        elif self.sack_permitted:
            out.extend(["nop", "nop", "sackOK"])
        if self.wscale is not None:
            out.extend(["nop", f"wscale {self.wscale}"])
        if self.sack_blocks:
            edges = "".join(f"{{{left}:{right}}}" for left, right in self.sack_blocks)
            out.extend(["nop", "nop", f"sack {len(self.sack_blocks)} {edges}"])
        return out

    def pretty(self, src_ip: int | None = None, dst_ip: int | None = None) -> str:
        """tcpdump style (absolute sequence numbers), e.g.
        ``IP 198.18.0.1.5000 > 198.18.0.2.80: Flags [S.], seq 1, ack 2, win 65535, options [...], length 0``.
        Without addresses the line starts at the ports: ``5000 > 80: Flags ...``.
        """
        if src_ip is None or dst_ip is None:
            head = f"{self.src_port} > {self.dst_port}"
        else:
            head = f"IP {int_to_ip(src_ip)}.{self.src_port} > {int_to_ip(dst_ip)}.{self.dst_port}"
        parts = [f"{head}: Flags [{flags_str(self.flags)}]"]
        n = len(self.payload)
        # print-tcp.c: the sequence number shows when there is data or SYN/FIN/RST.
        if n:
            parts.append(f"seq {self.seq}:{(self.seq + n) & 0xFFFFFFFF}")
        elif self.flags & (SYN | FIN | RST):
            parts.append(f"seq {self.seq}")
        if self.flags & ACK:
            parts.append(f"ack {self.ack}")
        parts.append(f"win {self.window}")
        if self.flags & URG:
            parts.append(f"urg {self.urgent}")
        tokens = self.option_tokens()
        if tokens:
            parts.append(f"options [{','.join(tokens)}]")
        parts.append(f"length {n}")
        return ", ".join(parts)
