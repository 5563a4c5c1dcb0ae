"""The SACK scoreboard of the sender: what the receiver holds above the cumulative ACK.

Read first: RFC 6675 (conservative SACK-based loss recovery: IsLost, NextSeg, SetPipe, §2 definitions),
RFC 2018 (SACK blocks), RFC 2883 (D-SACK: a first block at or below the cumulative ACK reports a
duplicate and is not new information here).

Sequence numbers are mod 2**32. Internally every range is "unwrapped" into a plain integer coordinate
anchored at the latest snd_una (``_ref_seq`` <-> ``_ref_abs``, converted with ``seq_diff``), so the
ranges can live in two sorted int lists searched with ``bisect``; no raw sequence number is ever
compared with ``<``.

Conventions (half-open, as everywhere in the engine):
- a SACK block ``(left, right)`` covers ``[left, right)``;
- ``highest_sacked`` is one past the highest SACKed octet (the right edge of the highest block);
- ``high_rxt`` passed to ``next_seg``/``pipe`` is one past the highest octet retransmitted in the current
  recovery (RFC 6675 HighRxt + 1); pass snd_una when nothing was retransmitted yet;
- ``snd_nxt`` passed to ``next_seg``/``pipe`` is HighData + 1: one past the highest octet ever sent.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from operator import sub

from aiostack.fastpath import seq_diff

_MASK32 = 0xFFFFFFFF
# RFC 6675 §2: DupThresh = 3.
DUPTHRESH = 3
# A SACK block longer than this is nonsense (windows are at most 2**30 bytes, RFC 7323 §2.3).
_MAX_BLOCK = 1 << 30


class SackScoreboard:
    """SACKed ranges above snd_una with running totals; queries are O(log n + DupThresh)."""

    __slots__ = ("_starts", "_ends", "_ref_seq", "_ref_abs", "sacked_bytes", "_prefix", "blocks_ignored")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._ref_seq = 0  # a sequence number ...
        self._ref_abs = 0  # ... and its unwrapped coordinate
        self.sacked_bytes = 0  # bytes above snd_una the receiver reported holding
        self._prefix: list[int] | None = None  # prefix sums of range lengths (lazy)
        self.blocks_ignored = 0  # invalid blocks seen (outside the window, empty, too long)

    # --- coordinates ---------------------------------------------------------------------------------
    def _abs(self, seq: int) -> int:
        return self._ref_abs + seq_diff(seq, self._ref_seq)

    def _seq(self, a: int) -> int:
        return (self._ref_seq + (a - self._ref_abs)) & _MASK32

    def _advance(self, snd_una: int) -> int:
        """Move the anchor to snd_una and forget everything below it; return snd_una unwrapped."""
        una = self._ref_abs + seq_diff(snd_una, self._ref_seq)
        self._ref_abs = una
        self._ref_seq = snd_una
        starts = self._starts
        if starts and starts[0] < una:
            ends = self._ends
            i = bisect_right(ends, una)  # ranges [0, i) end at or below una
            dropped = 0
            for k in range(i):
                dropped += ends[k] - starts[k]
            if i:
                del starts[:i]
                del ends[:i]
            if starts and starts[0] < una:
                dropped += una - starts[0]
                starts[0] = una
            self.sacked_bytes -= dropped
            self._prefix = None
        return una

    # --- updates -------------------------------------------------------------------------------------
    def update(self, snd_una: int, blocks: Sequence[tuple[int, int]], snd_nxt: int | None = None) -> int:
        """Apply an ACK: ``snd_una`` is the (new) cumulative ACK, ``blocks`` its SACK blocks.

        Returns the number of bytes newly SACKed. Blocks entirely at or below snd_una (D-SACK, RFC 2883)
        and invalid blocks (empty, reversed, absurdly long, or beyond ``snd_nxt`` when given) add
        nothing; a block straddling snd_una counts only its part above it.
        """
        una = self._advance(snd_una)
        if not blocks:
            return 0
        nxt = self._abs(snd_nxt) if snd_nxt is not None else None
        starts = self._starts
        ends = self._ends
        added = 0
        for left, right in blocks:
            lo = self._abs(left)
            hi = self._abs(right)
            if hi <= lo or hi - lo > _MAX_BLOCK or (nxt is not None and hi > nxt):
                self.blocks_ignored += 1
                continue
            if hi <= una:
                continue  # RFC 2883 D-SACK below the cumulative ACK: reports a duplicate only
            if lo < una:
                lo = una
            # Ranges [i, j) overlap or touch [lo, hi).
            i = bisect_left(ends, lo)
            j = bisect_right(starts, hi)
            if i == j:
                starts.insert(i, lo)
                ends.insert(i, hi)
                added += hi - lo
                continue
            covered = 0
            for k in range(i, j):
                s = starts[k]
                e = ends[k]
                a = s if s > lo else lo
                b = e if e < hi else hi
                if b > a:
                    covered += b - a
            new_lo = starts[i] if starts[i] < lo else lo
            new_hi = ends[j - 1] if ends[j - 1] > hi else hi
            starts[i:j] = [new_lo]
            ends[i:j] = [new_hi]
            added += (hi - lo) - covered
        if added:
            self.sacked_bytes += added
        self._prefix = None
        return added

    def clear(self) -> None:
        """Forget all SACK information (e.g. after an RTO, RFC 6675 §5.1, or a reneging receiver)."""
        self._starts.clear()
        self._ends.clear()
        self.sacked_bytes = 0
        self._prefix = None

    # --- queries -------------------------------------------------------------------------------------
    @property
    def highest_sacked(self) -> int | None:
        """One past the highest SACKed octet, or None when nothing is SACKed."""
        ends = self._ends
        return self._seq(ends[-1]) if ends else None

    def __len__(self) -> int:
        return len(self._starts)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def ranges(self) -> Iterator[tuple[int, int]]:
        """The SACKed ranges as (left, right) sequence numbers, lowest first."""
        for s, e in zip(self._starts, self._ends, strict=True):
            yield self._seq(s), self._seq(e)

    def is_sacked(self, seq: int) -> bool:
        a = self._abs(seq)
        k = bisect_right(self._starts, a) - 1
        return k >= 0 and a < self._ends[k]

    def _lost_boundary(self, mss: int, dupthresh: int) -> tuple[int, int]:
        """(index, bytes): unSACKed octets below ``_starts[index]`` are lost per IsLost(); ``bytes`` is
        the SACKed total of ranges ``index..``. index == -1 when nothing is lost.

        RFC 6675 IsLost(S) for an unSACKed S depends only on the ranges above S: lost when there are
        DupThresh of them or more than (DupThresh - 1) * SMSS bytes. Scanning from the top, the first
        range at which this holds is the boundary; it takes at most DupThresh steps.
        """
        starts = self._starts
        ends = self._ends
        limit = (dupthresh - 1) * mss
        total = 0
        count = 0
        k = len(starts) - 1
        while k >= 0:
            total += ends[k] - starts[k]
            count += 1
            if count >= dupthresh or total > limit:
                return k, total
            k -= 1
        return -1, 0

    def is_lost(self, seq: int, mss: int, dupthresh: int = DUPTHRESH) -> bool:
        """RFC 6675 IsLost(SeqNum): DupThresh discontiguous SACKed ranges above ``seq``, or more than
        (DupThresh - 1) * SMSS SACKed bytes above it."""
        a = self._abs(seq)
        starts = self._starts
        ends = self._ends
        limit = (dupthresh - 1) * mss
        total = 0
        count = 0
        k = len(starts) - 1
        while k >= 0:
            s = starts[k]
            e = ends[k]
            if e <= a + 1:
                return False  # nothing of this range (nor of lower ones) is above seq
            if s > a:
                total += e - s
            else:
                total += e - a - 1  # seq lies inside this SACKed range: octets after it count
            count += 1
            if count >= dupthresh or total > limit:
                return True
            if s <= a:
                return False
            k -= 1
        return False

    def _first_hole(self, a: int) -> tuple[int, int, int] | None:
        """Smallest unSACKed coordinate >= a below the highest SACKed octet: (start, hole end, index of
        the range that ends the hole), or None."""
        starts = self._starts
        ends = self._ends
        if not starts or a >= ends[-1]:
            return None
        k = bisect_right(starts, a) - 1
        if k >= 0 and a < ends[k]:
            a = ends[k]  # inside a SACKed range: the hole starts where it ends
        k += 1  # the range above the hole
        if k >= len(starts):
            return None
        return a, starts[k], k

    def next_seg(
        self, snd_una: int, snd_nxt: int, high_rxt: int, mss: int, can_send_new: bool = True
    ) -> tuple[int, int] | None:
        """RFC 6675 NextSeg() rules 1 and 3: (seq, length) of the hole to retransmit next, or None.

        Rule 1: the smallest unSACKed S2 >= high_rxt below the highest SACKed octet with IsLost(S2).
        Rule 2 (send new data) is the caller's: when it returns None and new data may be sent, send it.
        Rule 3 applies only when ``can_send_new`` is false (no new data, or the receive window is closed):
        the first such unSACKed hole even if not yet considered lost. Rule 4 (rescue retransmission) is
        the caller's. The length is at most ``mss`` and never covers SACKed or unsent octets.
        """
        una = self._advance(snd_una)
        a = self._abs(high_rxt)
        if a < una:
            a = una
        hole = self._first_hole(a)
        if hole is None:
            return None
        s2, hole_end, k = hole
        nxt = self._abs(snd_nxt)
        if s2 >= nxt:
            return None
        if not can_send_new:
            pass  # RFC 6675 NextSeg rule 3: any unSACKed hole below the highest SACKed octet
        else:
            # RFC 6675 NextSeg rule 1 (c): IsLost(S2); IsLost is monotone, so if the lowest candidate is
            # not lost, no higher one is.
            kb, _ = self._lost_boundary(mss, DUPTHRESH)
            if kb < 0 or k > kb:
                return None
        end = s2 + mss
        if end > hole_end:
            end = hole_end
        if end > nxt:
            end = nxt
        return self._seq(s2), end - s2

    def _sacked_below(self, a: int) -> int:
        """SACKed bytes below coordinate ``a``."""
        starts = self._starts
        k = bisect_left(starts, a)  # ranges [0, k) start below a
        if k == 0:
            return 0
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = [0, *accumulate(map(sub, self._ends, starts))]
        total = prefix[k]
        e = self._ends[k - 1]
        if e > a:
            total -= e - a
        return total

    def pipe(self, snd_una: int, snd_nxt: int, high_rxt: int, mss: int) -> int:
        """RFC 6675 SetPipe(): octets in [snd_una, snd_nxt) not SACKed count once if not IsLost and once
        more if retransmitted (below ``high_rxt``)."""
        una = self._advance(snd_una)
        nxt = self._abs(snd_nxt)
        flight = nxt - una
        if flight <= 0:
            return 0
        unsacked = flight - self.sacked_bytes
        kb, sacked_above_boundary = self._lost_boundary(mss, DUPTHRESH)
        if kb >= 0:
            boundary = self._starts[kb]
            lost = (boundary - una) - (self.sacked_bytes - sacked_above_boundary)
        else:
            lost = 0
        pipe = unsacked - lost  # (a) not SACKed, not lost
        hr = self._abs(high_rxt)
        if hr > una:
            if hr > nxt:
                hr = nxt
            pipe += (hr - una) - self._sacked_below(hr)  # (b) retransmitted, not SACKed
        return pipe if pipe > 0 else 0

    def lost_bytes(self, snd_una: int, mss: int) -> int:
        """UnSACKed octets above snd_una that IsLost() declares lost."""
        una = self._advance(snd_una)
        kb, sacked_above = self._lost_boundary(mss, DUPTHRESH)
        if kb < 0:
            return 0
        return (self._starts[kb] - una) - (self.sacked_bytes - sacked_above)

    def __repr__(self) -> str:
        return f"SackScoreboard(ranges={list(self.ranges())}, sacked_bytes={self.sacked_bytes})"
