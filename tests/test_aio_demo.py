"""The main job: ``python -m aiostack demo`` measures aiostack beside the kernel and prints both."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from aiostack.cli import main


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_demo_small(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    out_json = tmp_path / "rows.json"
    argv = ["demo", "--bytes", str(2 << 20), "--rounds", "200", "--repeat", "1", "--mtu", "9000",
            "--json", str(out_json)]
    if loop == "uvloop":
        argv.append("--uvloop")
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "workload" in text and "aiostack" in text and "kernel" in text and "ratio" in text
    assert "ESTABLISHED" in text  # the socket table was taken while the transfer ran
    data = json.loads(out_json.read_text())
    assert data["mtu"] == 9000
    assert [r["unit"] for r in data["rows"]] == ["round trips/s", "MB/s"]
    for r in data["rows"]:
        assert r["aiostack"] > 0 and r["kernel"] > 0 and r["ratio"] == pytest.approx(r["aiostack"] / r["kernel"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_default_command_line() -> None:
    """The README's main-job line, as a subprocess."""
    r = subprocess.run([sys.executable, "-m", "aiostack", "demo", "--repeat", "1"], capture_output=True,
                       text=True, timeout=280)
    assert r.returncode == 0, r.stderr
    assert "bulk transfer" in r.stdout and "echo round trips" in r.stdout
