"""Which modules of the ``wbc`` package a rule script runs, and a version of that code, so
that editing one reruns the rules that use it (Snakemake tracks a rule's script file, not
what the script imports).

The version (``code_version``) is a hash of the normalised source of the script and its
import closure: the syntax tree without docstrings, so an edit of a comment, a docstring
or the formatting changes nothing, and an edit of code changes the version of every rule
whose script imports that module. Rules pass it as a ``params`` entry, which Snakemake
compares with the one it recorded for their outputs.

Read by the Snakefile at parse time: standard library only; each file is read and parsed
once per process.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from functools import cache
from pathlib import Path

PACKAGE = "wbc"


def module_file(scripts_dir: Path, dotted: str) -> Path | None:
    """``wbc.models.cnn`` -> ``<scripts_dir>/wbc/models/cnn.py`` (or a package's __init__)."""
    base = scripts_dir.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """The tree with the docstring of the module and of each class and function removed
    (in place)."""
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if not isinstance(node, scopes) or not node.body:
            continue
        first = node.body[0]
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            node.body = node.body[1:] or [ast.Pass()]
    return tree


@cache
def normalised_source(path: Path) -> str:
    """What a file's code is, blind to comments, docstrings and formatting: its syntax
    tree without docstrings, dumped without line and column numbers."""
    tree = _without_docstrings(ast.parse(path.read_text(), str(path)))
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


@cache
def _imported(path: Path, scripts_dir: Path) -> frozenset[Path]:
    """The package modules one file imports, anywhere in it (lazy imports included).

    ``from wbc.models import cnn`` counts ``wbc/models/cnn.py``, not the package's
    ``__init__``: a name imported from an ``__init__`` counts that file.
    """
    package = path.relative_to(scripts_dir).parts[:-1]  # where relative imports start
    found = set()
    for node in ast.walk(_parsed(path)):
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
    return frozenset(found)


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


_FACTS: dict[str, list] = {}  # path -> [size, mtime_ns, digest, imported paths]
_CACHE: dict = {"file": None, "changed": False}  # where _FACTS are kept between runs


def use_cache_file(path: str | Path) -> None:
    """Keep each file's normalised-source digest and imports in ``path`` between runs,
    keyed by the file's size and modification time: a dry run then parses only the files
    edited since the last one (parsing them all costs ~0.3 s)."""
    _CACHE["file"] = Path(path)
    try:
        _FACTS.update(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        pass  # none yet, or unreadable: rebuilt


def _facts(path: Path, scripts_dir: Path) -> tuple[str, list[str]]:
    stat = path.stat()
    known = _FACTS.get(str(path))
    if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
        return known[2], known[3]
    digest = hashlib.sha256(normalised_source(path).encode()).hexdigest()
    imported = sorted(str(p) for p in _imported(path, scripts_dir))
    _FACTS[str(path)] = [stat.st_size, stat.st_mtime_ns, digest, imported]
    _CACHE["changed"] = True
    return digest, imported


def _save_facts() -> None:
    target = _CACHE["file"]
    if target is None or not _CACHE["changed"]:
        return
    _CACHE["changed"] = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(_FACTS))
        os.replace(partial, target)
    except OSError:
        pass  # a read-only working directory: the versions are computed every time


def code_version(script: str | Path, extra: tuple[str, ...] = ()) -> str:
    """A hash of the normalised source of ``script`` and of every package module it needs
    (as ``package_modules``): it changes when the code they run does, and not for an edit
    of a comment, a docstring or the formatting. Paths enter relative to the scripts
    folder, so a copy of the workflow elsewhere has the same versions."""
    script = Path(script).resolve()
    scripts_dir = script.parent
    todo = [script, *(module_file(scripts_dir, name) for name in extra)]
    digests: dict[str, str] = {}
    while todo:
        path = todo.pop()
        if path is None or str(path) in digests:
            continue
        digests[str(path)], imported = _facts(path, scripts_dir)
        todo.extend(Path(p) for p in imported)
    _save_facts()
    version = hashlib.sha256()
    for path in sorted(digests, key=lambda p: Path(p).relative_to(scripts_dir).as_posix()):
        version.update(Path(path).relative_to(scripts_dir).as_posix().encode() + b"\0")
        version.update(digests[path].encode() + b"\0")
    return version.hexdigest()[:16]


FILE_LIST = "FILES"


def file_list(package_dir: Path) -> str:
    """The text of ``wbc/FILES``: every module of the package, which a workflow used as a
    module from a git host copies (``common.smk``). Generated: ``make files``."""
    modules = sorted(p.relative_to(package_dir).as_posix() for p in package_dir.rglob("*.py"))
    return (
        "# Every file of the package, for a workflow used as a module from a git host "
        "(common.smk).\n# Generated by `make files` (wbc.imports.file_list): do not edit.\n"
        + "".join(f"{name}\n" for name in modules)
    )


if __name__ == "__main__":  # `make files`: python -m wbc.imports <package folder>
    folder = Path(sys.argv[1])
    (folder / FILE_LIST).write_text(file_list(folder))
