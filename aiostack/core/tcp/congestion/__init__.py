"""aiostack.core.tcp.congestion"""
