"""The README's asyncio example runs as written (in a subprocess, as a user would run it)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_example_runs() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    r = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "b'hello'" in r.stdout
    assert "b'over aiostack'" in r.stdout
    assert "198.18.0.2:7" in r.stdout  # the netstat row of the connection
