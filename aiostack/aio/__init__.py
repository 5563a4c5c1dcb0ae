"""aiostack.aio"""
