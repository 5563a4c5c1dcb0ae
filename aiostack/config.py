"""Tunables, one frozen dataclass per layer. Times are int microseconds (``_us``), sizes bytes.

Defaults follow Linux and the RFCs cited beside each field. Engines take a config object and never read
the environment. Build variants with ``dataclasses.replace(cfg, field=value)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MS = 1_000
SECOND = 1_000_000


def _check_ints(cfg: object) -> None:
    """Every field declared ``int`` holds an int: the compiled engine keeps these values in C integers, so
    a float or a string would fail later (in the compiled build only), far from where it was set."""
    for f in fields(cfg):  # type: ignore[arg-type]
        if f.type in ("int", "int | None"):
            value = getattr(cfg, f.name)
            if not isinstance(value, int) and not (value is None and f.type == "int | None"):
                raise TypeError(f"{type(cfg).__name__}.{f.name} must be an int, got {value!r}")


@dataclass(frozen=True, slots=True)
class TcpConfig:
    # --- buffers -------------------------------------------------------------------------------------
    send_buffer_bytes: int = 4 * 1024 * 1024
    recv_buffer_bytes: int = 4 * 1024 * 1024
    # Out-of-order reassembly bounds (beyond them: drop and count).
    ooo_max_ranges: int = 1024  # holes a burst loss can leave (one per lost segment at worst)
    ooo_max_bytes: int = 4 * 1024 * 1024
    # --- options -------------------------------------------------------------------------------------
    window_scaling: bool = True  # RFC 7323 §2; shift chosen from recv_buffer_bytes, at most 14
    timestamps: bool = True  # RFC 7323 §3-5 (RTTM, PAWS)
    sack: bool = True  # RFC 2018 / RFC 2883 (D-SACK) / RFC 6675 recovery
    min_mss: int = 536  # RFC 9293 §3.7.1 default; received MSS values below a floor are clamped up
    mss_floor: int = 88  # smallest received MSS honoured (Linux TCP_MIN_MSS)
    # --- sending -------------------------------------------------------------------------------------
    nagle: bool = False  # RFC 9293 §3.7.4; off by default, as asyncio sets TCP_NODELAY
    initial_window_segments: int = 10  # RFC 6928
    congestion_control: str = "cubic"  # registry name: "cubic" (RFC 9438) or "newreno" (RFC 5681/6582)
    # --- timers (RFC 6298) ---------------------------------------------------------------------------
    rto_initial_us: int = 1 * SECOND
    rto_min_us: int = 200 * MS
    rto_max_us: int = 120 * SECOND
    max_retransmits: int = 15  # Linux tcp_retries2: data retransmissions before the connection fails
    max_syn_retransmits: int = 6  # Linux tcp_syn_retries
    user_timeout_us: int = 0  # RFC 9293 §3.8.3 / RFC 5482; 0 = off
    tail_loss_probe: bool = True  # RFC 8985 §7 (with SACK): probe a lost tail before the RTO fires
    delayed_ack_us: int = 40 * MS  # RFC 9293 §3.8.6.3 allows up to 500 ms; Linux uses 40 ms
    delayed_ack_segments: int = 2  # ACK at least every second full-sized segment (RFC 5681 §4.2)
    persist_min_us: int = 200 * MS
    persist_max_us: int = 60 * SECOND
    time_wait_us: int = 60 * SECOND  # 2 x MSL with MSL = 30 s, as on Linux
    fin_wait2_timeout_us: int = 60 * SECOND  # Linux tcp_fin_timeout for orphaned connections
    # --- keep-alive (RFC 1122 §4.2.3.6), off by default ----------------------------------------------
    keepalive: bool = False
    keepalive_idle_us: int = 7200 * SECOND
    keepalive_interval_us: int = 75 * SECOND
    keepalive_count: int = 9
    # --- RFC 5961 ------------------------------------------------------------------------------------
    challenge_ack_limit_per_s: int = 1000  # Linux tcp_challenge_ack_limit
    # --- listener ------------------------------------------------------------------------------------
    syn_backlog: int = 256  # SYN-RECEIVED connections per listener
    accept_backlog: int = 128  # established, not yet accepted
    syn_ack_retransmits: int = 5  # Linux tcp_synack_retries

    def __post_init__(self) -> None:
        _check_ints(self)


@dataclass(frozen=True, slots=True)
class IpConfig:
    default_ttl: int = 64  # RFC 1700 / Linux ip_default_ttl
    reassembly_timeout_us: int = 30 * SECOND  # RFC 791 suggests 15 s; Linux ipfrag_time = 30 s
    reassembly_max_datagrams: int = 64
    reassembly_max_bytes: int = 4 * 1024 * 1024
    arp_cache_ttl_us: int = 60 * SECOND
    arp_retry_interval_us: int = 1 * SECOND  # at most one request per second per address
    arp_max_retries: int = 3
    arp_pending_max_packets: int = 64  # per unresolved address
    icmp_rate_per_s: int = 1000  # Linux icmp_ratelimit-like token bucket for generated errors
    ephemeral_low: int = 32768  # Linux ip_local_port_range
    ephemeral_high: int = 60999
    udp_queue_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        _check_ints(self)


@dataclass(frozen=True, slots=True)
class DriverConfig:
    max_frames_per_callback: int = 256
    # Frames held for a device whose transmit queue is full (a qdisc in front of the ring, as Linux's
    # txqueuelen): sent as the receiver drains, dropped and counted beyond this many.
    tx_backlog_frames: int = 65536
    high_water_bytes: int = 64 * 1024  # asyncio default
    low_water_bytes: int | None = None  # None: high // 4, as asyncio

    def __post_init__(self) -> None:
        _check_ints(self)
