"""The socket table: one row per TCP listener/connection and UDP endpoint (like ``netstat -tun``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from aiostack.core.interface import format_ipv4

if TYPE_CHECKING:
    from aiostack.aio.stack import Stack


class NetstatRow(NamedTuple):
    proto: str
    local: str
    foreign: str
    state: str
    send_q: int
    recv_q: int


def _addr(ip: int, port: int) -> str:
    return f"{format_ipv4(ip)}:{port if port else '*'}"


def netstat_rows(stack: Stack) -> list[NetstatRow]:
    host = stack.host
    rows: list[NetstatRow] = []
    for ln in host.tcp_listeners():
        queued = getattr(ln, "accept_queue_len", None)
        rows.append(NetstatRow("tcp", _addr(ln.local_ip, ln.local_port), "0.0.0.0:*", "LISTEN", 0,
                               int(queued() if callable(queued) else queued or 0)))
    for conn in host.tcp_connections():
        t: Any = stack._objs.get(conn)
        own = getattr(t, "_wbuf_bytes", 0)
        rows.append(NetstatRow("tcp", _addr(conn.local_ip, conn.local_port), _addr(conn.remote_ip, conn.remote_port),
                               str(conn.state), conn.send_buffer_bytes + own, conn.recv_buffer_bytes))
    for ep in host.udp_endpoints():
        foreign = _addr(ep.remote_ip, ep.remote_port) if ep.remote_port else "0.0.0.0:*"
        rows.append(NetstatRow("udp", _addr(ep.local_ip, ep.local_port), foreign, "", 0, ep.queue_bytes))
    return rows


def format_netstat(rows: list[NetstatRow]) -> str:
    """The rows as a text table with a header line."""
    head = ("Proto", "Local Address", "Foreign Address", "State", "Send-Q", "Recv-Q")
    table = [head] + [(r.proto, r.local, r.foreign, r.state, str(r.send_q), str(r.recv_q)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = []
    for row in table:
        cells = [c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
