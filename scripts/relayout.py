"""Re-playable relayout: modules moved so that every import runs downhill (see ``MOVES``).

Chiefly: the ``gateway.connectors`` package is the top-level ``connectors`` app; also
``vmcp_platform.api`` (the tenant API base view) is ``tenants.api_view``.

Run from anywhere inside the repository (``python scripts/relayout.py``; ``--check`` only reports).
It is idempotent: a second run changes nothing. Meant to be re-run after merging a branch that
was written against the old layout:

1. Files still tracked under an old path, e.g. ``gateway/connectors/`` (a merged branch added one
   there), are moved to the new one with ``git mv``, keeping their sub-path; an existing target
   is an error.
2. In every ``.py`` file of the repository (not ``.venv``, ``var``, ``.git``, ``node_modules``)
   and in the project's config/docs files (``*.toml``, ``*.cfg``, ``*.ini``, ``*.md``,
   ``*.yml``, ``*.yaml``, ``.importlinter``):
   - the dotted name ``gateway.connectors`` (imports, ``mock.patch("gateway.connectors.x")``
     strings, settings, contracts) becomes ``connectors``;
   - the path ``gateway/connectors/`` (comments, docs) becomes ``connectors/``;
   - in ``.py`` files, ``from gateway import connectors`` (also with ``as``, in a list of names,
     parenthesised over several lines) and relative imports that resolve to
     ``gateway.connectors`` (``from .connectors import x`` inside ``gateway/``) become absolute
     imports of ``connectors``. These are found with ``ast``, so any formatting is handled.
3. The import blocks of the changed ``.py`` files are re-sorted with ``ruff check --select I
   --fix`` (the first-party order changes: ``connectors`` sorts after ``configs``).
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

# (old dotted module, new dotted module). A package moves as a directory, a module as its file.
MOVES = [
    ("gateway.connectors", "connectors"),
    ("vmcp_platform.api", "tenants.api_view"),
]

SKIP_DIRS = {".venv", "var", ".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
TEXT_SUFFIXES = {".toml", ".cfg", ".ini", ".md", ".yml", ".yaml"}
TEXT_NAMES = {".importlinter"}


def _dotted(old: str) -> re.Pattern[str]:
    # Not preceded by a name character or a dot (so ``x.gateway.connectors`` is left alone), not
    # followed by a name character (so ``vmcp_platform.api_urls`` is left alone).
    return re.compile(r"(?<![\w.])" + re.escape(old) + r"(?!\w)")


def _slashed(old: str) -> re.Pattern[str]:
    # ``gateway/connectors/`` or ``vmcp_platform/api.py``, not ``vmcp_platform/api_urls.py``.
    return re.compile(r"(?<![\w./-])" + re.escape(old.replace(".", "/")) + r"(?=/|\.py\b|(?!\w))")


# This script itself names the old package on purpose.
SELF = Path(__file__).resolve()


def repo_root() -> Path:
    out = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=Path(__file__).resolve().parent,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def move_leftovers(root: Path, old: str, new: str, *, check: bool) -> list[str]:
    """``git mv`` every file still tracked under the old path to the new one."""
    old_dir, new_dir = old.replace(".", "/"), new.replace(".", "/")
    if (root / (old_dir + ".py")).exists():
        old_dir, new_dir = old_dir + ".py", new_dir + ".py"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", old_dir],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    moved = []
    for rel in filter(None, listed.split("\0")):
        if not (root / rel).exists():
            continue  # deleted in the work tree; git will report it, nothing to move
        target = new_dir + rel[len(old_dir) :]
        if (root / target).exists():
            raise SystemExit(f"relayout: both {rel} and {target} exist; merge them by hand")
        moved.append(f"{rel} -> {target}")
        if not check:
            (root / target).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "mv", rel, target], cwd=root, check=True)
    return moved


def files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS for part in rel.parts[:-1]) or not path.is_file():
            continue
        if path.resolve() == SELF:
            continue
        if path.suffix == ".py" or path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
            found.append(path)
    return sorted(found)


def _module_of(root: Path, path: Path) -> list[str]:
    """The package a module belongs to, as parts (``gateway/execution/core.py`` -> 2 parts)."""
    # A module's relative imports start from its directory, ``__init__.py`` included.
    return list(path.relative_to(root).parts[:-1])


def _absolute(package: list[str], node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    if node.level > len(package) + 1:
        return None
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _names(aliases: list[ast.alias]) -> str:
    return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)


def _import_of(new: str, bound: str) -> str:
    """An import statement binding the module ``new`` to the name ``bound``."""
    parent, _, last = new.rpartition(".")
    alias = "" if last == bound else f" as {bound}"
    return f"from {parent} import {last}{alias}" if parent else f"import {new}{alias}"


def _rewrite_import(
    package: list[str], node: ast.ImportFrom, old: str, new: str
) -> list[str] | None:
    """The statements replacing ``node``, or None when it does not need to change."""
    module = _absolute(package, node)
    if module is None:
        return None
    if module == old or module.startswith(old + "."):
        return [f"from {new + module[len(old) :]} import {_names(node.names)}"]
    if node.level and (module == new or module.startswith(new + ".")):
        return None  # a relative import inside the moved package itself: still right
    parent, _, last = old.rpartition(".")
    if module == parent and any(a.name == last for a in node.names):
        out = [_import_of(new, a.asname or a.name) for a in node.names if a.name == last]
        rest = [a for a in node.names if a.name != last]
        if rest:
            source = "." * node.level + (node.module or "")
            out.append(f"from {source} import {_names(rest)}")
        return out
    return None


def rewrite_imports(root: Path, path: Path, text: str) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not ours to judge; the dotted rewrite already ran
    package = _module_of(root, path)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for old, new_module in MOVES:
                new = _rewrite_import(package, node, old, new_module)
                if new is not None:
                    edits.append((node, new))
                    break
    if not edits:
        return text
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    raw = text.encode()
    for node, new in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        line_start = raw[offsets[node.lineno - 1] : start]
        sep = "\n" + line_start.decode() if not line_start.strip() else "; "
        raw = raw[:start] + sep.join(new).encode() + raw[end:]
    return raw.decode()


def rewrite(root: Path, path: Path, text: str) -> str:
    for old, new in MOVES:
        text = _dotted(old).sub(new, text)
        text = _slashed(old).sub(new.replace(".", "/"), text)
    if path.suffix == ".py":
        text = rewrite_imports(root, path, text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing; exit 1")
    args = parser.parse_args()
    root = repo_root()
    changes = [
        change for old, new in MOVES for change in move_leftovers(root, old, new, check=args.check)
    ]
    changed_py = []
    for path in files(root):
        text = path.read_text(encoding="utf-8")
        new = rewrite(root, path, text)
        if new != text:
            changes.append(str(path.relative_to(root)))
            if not args.check:
                path.write_text(new, encoding="utf-8")
                if path.suffix == ".py":
                    changed_py.append(str(path.relative_to(root)))
    if changed_py:
        subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--quiet", "--select", "I", "--fix"]
            + changed_py,
            cwd=root,
            check=False,  # other findings are reported, not fatal: the rewrite itself is done
        )
    for change in changes:
        print(("would change " if args.check else "changed ") + change)
    return 1 if (args.check and changes) else 0


if __name__ == "__main__":
    sys.exit(main())
