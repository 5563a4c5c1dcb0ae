"""aiostack.core"""
