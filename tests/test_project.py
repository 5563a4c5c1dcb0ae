"""Project-level checks run as tests: lint, types, import layering, README/CI agreement."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "aiostack"

# DESIGN §2: errors/config/stats -> fastpath -> wire -> core -> aio -> cli; link may use wire/errors/config.
LAYER = {"errors": 0, "config": 0, "stats": 0, "_compiled": 0, "fastpath": 1, "_fastpath_py": 1, "_fastpath": 1,
         "wire": 2, "link": 3, "core": 3, "aio": 4, "tools": 5, "cli": 5, "__main__": 5, "__init__": 5}
FORBIDDEN_IN_SANS_IO = {"asyncio", "socket", "select", "os", "fcntl", "time", "random", "selectors"}


def _imports(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _top(rel: pathlib.PurePath) -> str:
    return rel.parts[0].removesuffix(".py")


def test_import_layering() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        me = _top(rel)
        if me not in LAYER:
            problems.append(f"{rel}: unknown layer {me!r}; add it to LAYER")
            continue
        for mod in _imports(path):
            root = mod.split(".")[0]
            if me in ("wire", "core") and root in FORBIDDEN_IN_SANS_IO:
                problems.append(f"{rel}: sans-I/O layer imports {mod}")
            if root != "aiostack" or mod == "aiostack":
                continue
            parts = mod.split(".")
            dep = parts[1] if len(parts) > 1 else ""
            if dep not in LAYER:
                continue
            if me == "link" and dep == "core" or me == "core" and dep == "link":
                problems.append(f"{rel}: core and link must not import each other ({mod})")
            elif LAYER[dep] > LAYER[me]:
                problems.append(f"{rel}: imports higher layer {mod}")
            elif me in ("wire", "core") and dep in ("aio", "link", "tools", "cli"):
                problems.append(f"{rel}: imports {mod}")
    assert not problems, "\n".join(problems)


def test_ruff() -> None:
    pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[test]')")
    targets = [d for d in ("aiostack", "tests", "benchmarks") if (ROOT / d).is_dir()]
    r = subprocess.run([sys.executable, "-m", "ruff", "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy() -> None:
    pytest.importorskip("mypy")
    targets = ["aiostack/wire", "aiostack/core", "aiostack/fastpath.py", "aiostack/_fastpath_py.py",
               "aiostack/errors.py", "aiostack/stats.py", "aiostack/config.py"]
    targets += [t for t in ["aiostack/aio"] if (ROOT / t).exists()]
    r = subprocess.run([sys.executable, "-m", "mypy", *targets], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_test_line_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [ln.strip() for ln in readme.splitlines() if "pip install" in ln and "pytest" in ln]
    assert len(lines) == 1, lines
    assert lines[0] in ci


def test_ci_builds_the_compiled_fast_path() -> None:
    """In CI (CI=true) the install line must produce the Cython module, not silently fall back."""
    import os

    if os.environ.get("CI") != "true" or os.environ.get("AIOSTACK_PURE") == "1":
        pytest.skip("only checked in CI's compiled pass")
    from aiostack import _compiled, fastpath

    assert fastpath.IMPLEMENTATION == "cython"
    assert _compiled.engine_status() == "cython"  # every engine module compiled from its source


def test_pure_switch_loads_every_engine_module_from_source() -> None:
    code = ("import aiostack._compiled as c, aiostack.fastpath as f; "
            "print(f.IMPLEMENTATION, c.engine_status(), c.compiled_modules())")
    env = {**__import__("os").environ, "AIOSTACK_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["pure", "pure", "[]"], out.stdout + out.stderr


def test_a_stale_extension_gives_way_to_its_source(tmp_path: pathlib.Path) -> None:
    import importlib.machinery
    import os

    from aiostack import _compiled

    name = "aiostack.core.tcp.rtt"
    src = tmp_path / "rtt.py"
    ext = tmp_path / ("rtt" + importlib.machinery.EXTENSION_SUFFIXES[0])
    src.write_text("X = 1\n")
    ext.write_bytes(b"")
    finder = _compiled._SourceFirst(pure=False)
    os.utime(ext, (1_000_000, 1_000_000))
    os.utime(src, (1_000_100, 1_000_100))
    assert finder.find_spec(name, [str(tmp_path)]) is None  # no C file: an installed build, trusted
    (tmp_path / "rtt.c").write_text("/* generated */\n")
    os.utime(ext, (1_000_000, 1_000_000))
    os.utime(src, (1_000_001, 1_000_001))  # written with the build: the extension is used
    assert finder.find_spec(name, [str(tmp_path)]) is None
    os.utime(src, (1_000_100, 1_000_100))  # edited afterwards: the source is loaded, with a warning
    with pytest.warns(RuntimeWarning, match="edited after it was compiled"):
        spec = finder.find_spec(name, [str(tmp_path)])
    assert spec is not None and spec.origin == str(src)
    assert _compiled._SourceFirst(pure=True).find_spec(name, [str(tmp_path)]).origin == str(src)
    assert finder.find_spec("aiostack.wire.tcp", [str(tmp_path)]) is None  # not an engine module
