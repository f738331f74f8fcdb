"""Which modules of the ``wbc`` package a rule script runs, so that editing one reruns the
rules that use it (Snakemake tracks a rule's script file, not what the script imports).

Read by the Snakefile at parse time: standard library only.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "wbc"


def module_file(scripts_dir: Path, dotted: str) -> Path | None:
    """``wbc.models.cnn`` -> ``<scripts_dir>/wbc/models/cnn.py`` (or a package's __init__)."""
    base = scripts_dir.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, scripts_dir: Path) -> set[Path]:
    """The package modules one file imports, anywhere in it (lazy imports included).

    ``from wbc.models import cnn`` counts ``wbc/models/cnn.py``, not the package's
    ``__init__``: a name imported from an ``__init__`` counts that file.
    """
    package = path.relative_to(scripts_dir).parts[:-1]  # where relative imports start
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            found.update(module_file(scripts_dir, n) for n in names if n.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package[: len(package) - node.level + 1]
                dotted = ".".join([*parent, *([node.module] if node.module else [])])
            else:
                dotted = node.module or ""
            if dotted.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = module_file(scripts_dir, f"{dotted}.{alias.name}")
                found.add(submodule or module_file(scripts_dir, dotted))
    found.discard(None)
    return found


def package_modules(script: str | Path, extra: tuple[str, ...] = ()) -> list[str]:
    """Every package module ``script`` needs, directly or through other modules, plus the
    ``extra`` dotted modules it loads by name (``importlib``); sorted absolute paths."""
    script = Path(script).resolve()
    scripts_dir = script.parent
    todo = [script, *(module_file(scripts_dir, name) for name in extra)]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(_imported(path, scripts_dir) - seen)
    seen.discard(script)
    return sorted(str(p) for p in seen)
