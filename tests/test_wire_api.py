"""Shape of the wire package: frozen slotted reprs, exported names, MalformedPacket as the only parse error."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiostack.errors import MalformedPacket
from aiostack.wire import (
    ArpRepr,
    EthernetRepr,
    Icmpv4Repr,
    Ipv4Repr,
    OffloadFrame,
    TcpRepr,
    UdpRepr,
    arp,
    ethernet,
    icmpv4,
    ipv4,
    tcp,
    udp,
    vnet,
)

REPRS = [EthernetRepr, ArpRepr, Ipv4Repr, Icmpv4Repr, UdpRepr, TcpRepr]
VIEWS = [ethernet.EthernetView, arp.ArpView, ipv4.Ipv4View, icmpv4.Icmpv4View, udp.UdpView, tcp.TcpView]


@pytest.mark.parametrize("cls", REPRS)
def test_reprs_are_frozen_slotted_dataclasses(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in cls.__dict__
    for name in ("parse", "buffer_len", "emit", "pretty"):
        assert callable(getattr(cls, name))


@pytest.mark.parametrize("name", ["ethernet", "arp", "ipv4", "icmpv4", "udp", "tcp", "vnet", "checksum", "pretty"])
def test_all_names_exist_and_docstring_names_rfcs(name: str) -> None:
    mod = importlib.import_module(f"aiostack.wire.{name}")
    for exported in mod.__all__:
        assert hasattr(mod, exported), f"{name}.{exported}"
    assert mod.__doc__ and "Read first" in mod.__doc__


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=70))
def test_every_parser_raises_only_malformed(data: bytes) -> None:
    parsers = [
        lambda b: EthernetRepr.parse(b),
        lambda b: ArpRepr.parse(b),
        lambda b: Ipv4Repr.parse_packet(b, verify_checksum=False),
        lambda b: Icmpv4Repr.parse(b, verify_checksum=False).quoted(),
        lambda b: UdpRepr.parse(b, 1, 2, verify_checksum=False),
        lambda b: TcpRepr.parse(b, 1, 2, verify_checksum=False),
        lambda b: OffloadFrame.from_vnet(b),
        lambda b: vnet.VnetHeader.unpack(b),
    ]
    for parse in parsers:
        try:
            parse(data)
        except MalformedPacket as exc:
            assert exc.reason and " " not in exc.reason
    for view_cls in VIEWS:
        v = view_cls(data)
        try:
            v.check_len()
        except MalformedPacket:
            continue
        for attr in dir(view_cls):
            if isinstance(getattr(view_cls, attr, None), property):
                getattr(v, attr)
