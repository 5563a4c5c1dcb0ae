"""Command-line tools behind ``python -m aiostack``; one module per subcommand."""
