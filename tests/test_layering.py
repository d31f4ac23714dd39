"""Imports point down the layers: cli → web (``aim up``'s server) → sdk; cli / frameworks → sdk →
core / storage / integrations / remote;
errors imports nothing of aim; integrations import only core; remote only storage (whose run
hash and segment name rules it applies to keys) and errors; the top-level framework modules
(``aim.keras`` ...) only re-export frameworks/.

core is sans-IO: no files, threads, clocks or processes. storage imports nothing above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "aim"

# layer -> the aim packages it may import
ALLOWED = {
    "errors": set(),
    "core": {"core", "errors"},
    "storage": {"storage", "errors"},
    "integrations": {"integrations", "core", "errors"},
    # Keys read back from a bucket are checked with storage's definitions of a run hash and a
    # segment name (one definition of each); storage imports nothing of remote.
    "remote": {"remote", "storage", "errors"},
    "sdk": {"sdk", "core", "storage", "integrations", "remote", "errors"},
    "web": {"web", "sdk", "core", "storage", "errors"},
    "cli": {"cli", "web", "sdk", "core", "storage", "errors", "__init__"},
    "frameworks": {"frameworks", "sdk", "core", "errors"},
    # Aim's import paths for the integrations: shims over frameworks/.
    **{shim: {"frameworks"} for shim in ("pytorch_lightning", "hugging_face", "keras", "xgboost", "lightgbm",
                                         "pytorch", "tensorflow")},
}
CORE_FORBIDDEN = {"os", "io", "threading", "time", "socket", "sqlite3", "fcntl", "subprocess",
                  "anyio", "boto3", "psutil", "pynvml", "pathlib", "signal", "shutil"}
NEVER_AT_TOP = {"boto3", "botocore", "psutil", "pynvml"}
# The ui extra's server: only aim.web (imported by `aim up` alone) may load it at import time.
UI_ONLY = {"starlette", "uvicorn", "plotly"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_imports_point_down():
    problems = []
    for path in sorted(PKG.rglob("*.py")):
        layer = _layer(path)
        if layer not in ALLOWED:
            continue
        for name in _imports(path):
            if name == "aim" or name.startswith("aim."):
                target = name.split(".")[1] if "." in name else "__init__"
                if target not in ALLOWED[layer]:
                    problems.append(f"{path.relative_to(PKG)} imports {name}")
            elif layer == "core" and name.split(".")[0] in CORE_FORBIDDEN:
                problems.append(f"{path.relative_to(PKG)} (core, sans-IO) imports {name}")
    assert not problems, "\n".join(problems)


def test_heavy_optional_modules_are_never_imported_at_module_level():
    problems = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                problems += [f"{path.relative_to(PKG)}: {n}" for n in names if n.split(".")[0] in NEVER_AT_TOP]
                if _layer(path) != "web":
                    problems += [f"{path.relative_to(PKG)}: {n}" for n in names if n.split(".")[0] in UI_ONLY]
    assert not problems, "\n".join(problems)


def test_nothing_below_the_front_door_imports_it_at_module_level():
    # sdk/repo.py (Repo) sits on top of runs, maintenance, backup, verify and export, which work
    # on the RepoStore below it (sdk/store.py): an import of it from them would be a circle.
    allowed = {"repo.py", "async_repo.py", "__init__.py"}
    problems = []
    for path in sorted((PKG / "sdk").glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.parse(path.read_text()).body:  # module level, not under TYPE_CHECKING
            if isinstance(node, ast.ImportFrom) and (
                    node.module == "aim.sdk.repo"
                    or (node.module == "aim.sdk" and any(a.name == "repo" for a in node.names))):
                problems.append(path.name)
    assert not problems, problems
