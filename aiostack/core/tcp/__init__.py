"""aiostack.core.tcp"""
