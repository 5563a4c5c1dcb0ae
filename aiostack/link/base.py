"""The batch-first link ``Device`` protocol, its capabilities, and helpers every device shares.

A device moves Ethernet frames in batches (DESIGN §3.10): ``receive_batch(max_frames)`` is non-blocking
and returns ``[]`` when nothing is queued; ``send_batch(frames)`` hands a list of frames to the wire.
Readiness is signalled either by a file descriptor (``fileno()``; TAP) or, for in-memory devices, by a
callback registered with ``set_wakeup`` (``fileno()`` returns ``None``).

Frame items are ``bytes``, ``bytearray``, ``memoryview`` (the Ethernet frame from the destination MAC on,
no FCS) or :class:`aiostack.wire.vnet.OffloadFrame` (a frame plus virtio-net offload metadata: a partial
checksum to complete and/or a GSO super-frame to segment).

Ownership rules (binding for every device in this package):

* ``send_batch`` takes ownership of the frame objects it is given: the caller must not modify a frame's
  underlying buffer afterwards (in-memory devices deliver the very same object, no copy). A sender that
  reuses a buffer must hand over a copy (``bytes(view)``).
* Frames returned by ``receive_batch`` belong to the receiver and stay valid indefinitely; they are to
  be treated as read-only (an in-memory device may deliver one object twice, e.g. a duplicate).

Sizes: ``DeviceCaps.mtu`` is the IP MTU (Ethernet payload, 1500 by default); a plain frame may be up to
``mtu + ETH_HLEN`` bytes (``max_frame_len``). ``gso_max_bytes`` is the largest IP packet (IP header +
transport header + payload) the device accepts in one GSO ``OffloadFrame``; 0 means no GSO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aiostack.errors import LocalProtocolError

if TYPE_CHECKING:
    from aiostack.wire.vnet import OffloadFrame

    Frame = bytes | bytearray | memoryview | OffloadFrame
else:
    Frame = object

ETH_HLEN = 14  # IEEE 802.3: destination MAC, source MAC, EtherType (no 802.1Q tag, no FCS)
MAX_MTU = 65535  # largest IP MTU a device accepts (the IPv4 total-length field is 16 bits, RFC 791)
MIN_MTU = 68  # RFC 791: every internet module must be able to forward a 68-octet datagram


@dataclass(frozen=True, slots=True)
class DeviceCaps:
    """What a device can do; the interface above sizes its segments from it."""

    mtu: int = 1500
    checksum_offload: bool = False  # True: frames may carry partial checksums (OffloadFrame NEEDS_CSUM)
    gso_max_bytes: int = 0  # largest IP packet in one GSO OffloadFrame; 0 = no GSO
    vnet_hdr: bool = False  # the device speaks virtio_net_hdr (TAP offload mode)

    def __post_init__(self) -> None:
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            raise ValueError(f"mtu must be in [{MIN_MTU}, {MAX_MTU}], got {self.mtu}")
        if self.gso_max_bytes < 0 or self.gso_max_bytes > MAX_MTU:
            raise ValueError(f"gso_max_bytes must be in [0, {MAX_MTU}], got {self.gso_max_bytes}")

    @property
    def max_frame_len(self) -> int:
        """Largest plain (non-GSO) Ethernet frame: MTU plus the Ethernet header."""
        return self.mtu + ETH_HLEN


@runtime_checkable
class Device(Protocol):
    """The contract between the interface/driver above and a link below (docs/ARCHITECTURE.md)."""

    caps: DeviceCaps
    mac: bytes

    def receive_batch(self, max_frames: int) -> list[Frame]: ...

    def send_batch(self, frames: Sequence[Frame]) -> None: ...

    def fileno(self) -> int | None: ...

    def set_wakeup(self, callback: Callable[[], None] | None) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class VirtualTimeDevice(Device, Protocol):
    """A device driven by virtual time (Netsim): the driver advances it to ``now_us``."""

    def poll_at(self) -> int | None: ...

    def advance(self, now_us: int) -> None: ...


def frame_data(frame: Frame) -> bytes | bytearray | memoryview:
    """The Ethernet frame bytes of a frame item (the plain frame of an ``OffloadFrame``)."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return frame
    return frame.data  # OffloadFrame: its Ethernet frame, without the virtio-net header


def frame_len(frame: Frame) -> int:
    """Length in bytes of a frame item's Ethernet frame."""
    if isinstance(frame, memoryview):
        return frame.nbytes
    if isinstance(frame, (bytes, bytearray)):
        return len(frame)
    data = frame.data
    return data.nbytes if isinstance(data, memoryview) else len(data)


def is_offload(frame: Frame) -> bool:
    """True for ``OffloadFrame`` items (anything that is not a plain bytes-like frame)."""
    return not isinstance(frame, (bytes, bytearray, memoryview))


def local_mac(n: int) -> bytes:
    """A locally administered unicast MAC (IEEE 802: bit 1 of octet 0 set, bit 0 clear) ending in ``n``."""
    return bytes((0x02, 0x00, 0x5E, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))


def check_mac(mac: bytes) -> bytes:
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {mac!r}")
    return bytes(mac)


def check_probabilities(**probabilities: float) -> None:
    """Raise ValueError naming the first argument that is not a probability in [0, 1]."""
    for name, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


class DeviceClosed(LocalProtocolError):
    """An operation on a device after ``close()``."""
