"""The behavioural asyncio suite: one set of tests, run against kernel sockets (the oracle) and aiostack."""
