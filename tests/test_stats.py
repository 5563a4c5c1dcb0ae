"""Counters: per-packet counts kept in fields (``TcpCounters``, ``IpCounters``, ``LinkCounters``) read
exactly like the dictionary ones, together with any ``inc`` of the same name."""

from __future__ import annotations

import asyncio

from aiostack import Stack
from aiostack.stats import Counters, IpCounters, LinkCounters, TcpCounters, merge


def test_fields_and_dictionary_entries_of_one_name_read_as_one_count() -> None:
    c = TcpCounters()
    assert c.prefix == "tcp" and list(c) == [] and c["bytes_in"] == 0 and c.get("bytes_in", 7) == 7
    c.bytes_in += 100
    c.inc("bytes_in", 5)  # a name with a field counted through the dictionary too
    c.segments_out += 2
    c.inc("retransmits")
    assert c["bytes_in"] == 105 and c.get("bytes_in") == 105
    assert c["segments_out"] == 2 and c["retransmits"] == 1
    assert dict(c.items()) == {"bytes_in": 105, "segments_out": 2, "retransmits": 1}
    assert sorted(c) == ["bytes_in", "retransmits", "segments_out"]  # zero fields are not listed
    assert c.snapshot() == {"tcp.bytes_in": 105, "tcp.segments_out": 2, "tcp.retransmits": 1}
    assert "105" in repr(c)


def test_add_from_and_merge_sum_fields_across_kinds() -> None:
    a = TcpCounters()
    a.segments_received += 3
    b = TcpCounters()
    b.segments_received += 4
    b.inc("segments_received")
    retired = Counters("tcp")
    retired.add_from(a)
    retired.add_from({"segments_received": 10})
    assert retired["segments_received"] == 13
    ip = IpCounters("ip")
    ip.packets_sent += 9
    link = LinkCounters("link.x")
    link.tx_bytes += 1500
    assert merge(retired, b, ip, link) == {"tcp.segments_received": 18, "ip.packets_sent": 9,
                                           "link.x.tx_bytes": 1500}


def test_a_transfer_counts_segments_and_bytes_in_the_stack_stats() -> None:
    async def run() -> tuple[dict[str, int], dict[str, int], int]:
        a, b = Stack.pair(addresses=("198.18.0.1/24", "198.18.0.2/24"))
        async with a, b:
            got = asyncio.get_running_loop().create_future()

            async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                got.set_result(len(await reader.read()))
                writer.close()

            srv = await b.start_server(sink, "198.18.0.2", 9)
            reader, writer = await a.open_connection("198.18.0.2", 9)
            writer.write(bytes(100_000))
            writer.write_eof()
            n = await got
            writer.close()
            srv.close()
            return a.stats(), b.stats(), n

    sa, sb, n = asyncio.run(run())
    assert n == 100_000
    assert sa["tcp.bytes_out"] >= 100_000 and sb["tcp.bytes_in"] >= 100_000
    assert sa["tcp.segments_out"] > 0 and sb["tcp.segments_in"] > 0
    assert sb["tcp.segments_received"] >= sb["tcp.segments_in"] > 0
    assert sa["ip.packets_sent"] > 0 and sb["ip.packets_received"] > 0 and sb["eth.frames_received"] > 0
    assert any(k.endswith("tx_bytes") for k in sa) and any(k.endswith("rx_frames") for k in sb)
