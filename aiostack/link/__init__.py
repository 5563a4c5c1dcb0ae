"""aiostack.link"""
