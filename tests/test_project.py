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
LAYER = {"errors": 0, "config": 0, "stats": 0, "_compiled": 0, "_nocython": 0, "fastpath": 1, "_fastpath_py": 1, "_fastpath": 1,
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


def test_the_engine_sources_run_without_cython_installed() -> None:
    """The sources' ``cython`` class decorators fall back to ``aiostack._nocython`` (no-ops)."""
    code = ("import sys; sys.modules['cython'] = None\n"
            "import aiostack._compiled as c, aiostack.core.tcp.segment as s, aiostack.core.tcp.connection as k\n"
            "x = k.TcpConnection(1, 2, 3, 4); print(c.engine_status(), type(s.Segment(seq=7).seq).__name__, "
            "x.timers.rto, s.cython.__name__)")
    env = {**__import__("os").environ, "AIOSTACK_PURE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["pure", "int", "None", "aiostack._nocython"], out.stdout + out.stderr


def test_a_stale_extension_puts_the_whole_engine_on_its_sources(tmp_path: pathlib.Path) -> None:
    import importlib.machinery
    import os

    from aiostack import _compiled

    d = tmp_path / "core" / "tcp"
    d.mkdir(parents=True)
    src, pxd = d / "rtt.py", d / "rtt.pxd"
    ext = d / ("rtt" + importlib.machinery.EXTENSION_SUFFIXES[0])
    other = tmp_path / "stats.py"
    for f in (src, pxd, other):
        f.write_text("X = 1\n")
    ext.write_bytes(b"")

    def finder() -> _compiled._SourceFirst:
        return _compiled._SourceFirst(pure=False, root=str(tmp_path))

    def age(f: pathlib.Path, t: int) -> None:
        os.utime(f, (t, t))

    for f in (ext, src, pxd):
        age(f, 1_000_000)
    age(src, 1_000_100)
    assert finder().find_spec("aiostack.core.tcp.rtt", [str(d)]) is None  # no C file: an installed build
    (d / "rtt.c").write_text("/* generated */\n")
    age(src, 1_000_001)  # written with the build: the extensions are used
    assert finder().find_spec("aiostack.core.tcp.rtt", [str(d)]) is None
    for edited in (src, pxd):  # edited afterwards: every engine module loads from source, one warning
        age(src, 1_000_001)
        age(pxd, 1_000_001)
        age(edited, 1_000_100)
        f = finder()
        with pytest.warns(RuntimeWarning, match="aiostack.core.tcp.rtt edited after the engine was compiled"):
            spec = f.find_spec("aiostack.stats", [str(tmp_path)])
        assert spec is not None and spec.origin == str(other)
        assert f.find_spec("aiostack.core.tcp.rtt", [str(d)]).origin == str(src)
    assert _compiled._SourceFirst(pure=True).find_spec("aiostack.core.tcp.rtt", [str(d)]).origin == str(src)
    assert finder().find_spec("aiostack.wire.tcp", [str(tmp_path)]) is None  # not an engine module


def _signature(decl: str) -> str:
    """A cpdef declaration with its whitespace normalized and defaults written as ``=*`` (as in a .pxd)."""
    import re

    return re.sub(r"=[^,)]*", "=*", " ".join(decl.split())).replace("( ", "(")


def test_every_pxd_declares_exactly_the_slots_of_its_classes() -> None:
    """A ``cdef class`` in an augmenting .pxd must list its class's ``__slots__`` (else the build breaks)."""
    import re

    from aiostack._compiled import ENGINE_MODULES

    pxds = sorted(PKG.rglob("*.pxd"))
    assert pxds
    for pxd in pxds:
        module = ".".join(pxd.relative_to(ROOT).with_suffix("").parts)
        if module == "aiostack._fastpath":  # the .pyx's own declarations: each one defined there alike
            pyx = (ROOT / "src" / "_fastpath.pyx").read_text()
            defined = {_signature(m.group(1)) for m in re.finditer(r"^(cpdef [^:]*?):\n", pyx, re.M)}
            declared = [_signature(m.group(1)) for m in re.finditer(r"^(cpdef .*?\)[^\n]*)$", pxd.read_text(),
                                                                    re.M | re.S)]
            assert len(declared) >= 14
            for decl in declared:
                assert decl in defined, f"{decl} differs in src/_fastpath.pyx"
            continue
        assert module in ENGINE_MODULES, f"{pxd} augments {module}, which is not compiled"
        tree = ast.parse(pxd.with_suffix(".py").read_text())
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        text = pxd.read_text()
        for m in re.finditer(r"^cdef class (\w+)[^\n]*:\n((?:    [^\n]*\n?)*)", text, re.M):
            name, body = m.group(1), m.group(2)
            declared = set(re.findall(r"^    cdef (?:public )?\w+ (\w+)", body, re.M))
            slots: set[str] = set()
            for st in classes[name].body:
                if isinstance(st, ast.Assign) and getattr(st.targets[0], "id", "") == "__slots__":
                    slots = set(ast.literal_eval(st.value))
            if "__dict__" in declared:  # instances keep a dict: the declared fields are its hot attributes
                assert not slots, f"{pxd.name}: {name} has __slots__ and a __dict__"
            else:
                assert declared == slots, f"{pxd.name}: {name} declares {declared ^ slots} unlike its __slots__"
            methods = {n.name for n in classes[name].body if isinstance(n, ast.FunctionDef)}
            for fn in re.findall(r"^    cpdef (?:\w+ )?(\w+)\(", body, re.M):
                assert fn in methods, f"{pxd.name} declares {name}.{fn}(), not defined in its source"
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for fn in re.findall(r"^cpdef (?:\w+ )?(\w+)\(", text, re.M):
            assert fn in functions, f"{pxd.name} declares {fn}(), not defined in its source"
