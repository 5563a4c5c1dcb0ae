"""aiostack.wire"""
