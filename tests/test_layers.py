"""The house plan, enforced: every import inside `allocator` points down the layers (or
sideways within one), never up. Read by AST, so imports inside functions count too.

    web, cli (+ api.py)        edges
    store                      tables, repository, migrations
    service                    jobs, workers, ledger, keys, settings
    explain, whatif, insight   explanations; what-if planning; actuals, outcomes, reports
    solve (+ solver.py), io    compile, formulation, engines...; formats, reports
    core                       rules, checker, generator
    errors, model.py           the domain
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "allocator"

LAYERS: dict[str, int] = {
    "allocator": 0,  # The package docstring and version.
    "allocator.__main__": 6,
    "allocator.errors": 0,
    "allocator.model": 0,
    "allocator.core": 1,
    "allocator.solve": 2,
    "allocator.solver": 2,
    "allocator.io": 2,
    "allocator.explain": 3,
    "allocator.whatif": 3,
    "allocator.insight": 3,
    "allocator.service": 4,
    "allocator.store": 5,
    "allocator.web": 6,
    "allocator.api": 6,
    "allocator.cli": 6,
}
NAMES = ["domain", "core", "solve/io", "explain/whatif", "service", "store", "web/cli"]


def layer(module: str) -> int:
    """The layer of a module: its longest prefix in LAYERS."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:end]))
        if found is not None:
            return found
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `allocator` import in the file, relative ones resolved."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "allocator":  # `from allocator import solver`: the names are modules.
                found += [(node.lineno, f"allocator.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "allocator"]


def climbing(path: Path) -> list[str]:
    own = layer(module_of(path))
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} "
        f"({NAMES[layer(name)]} above {NAMES[own]})"
        for line, name in imports(path)
        if layer(name) > own
    ]


def test_no_import_climbs_a_layer() -> None:
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in climbing(path)]
    assert not found, "imports that climb a layer:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "expected"),
    [("allocator.model", 0), ("allocator.solve.lns", 2), ("allocator.web.routes.runs", 6)],
)
def test_modules_are_placed_in_their_layer(module: str, expected: int) -> None:
    assert layer(module) == expected


def test_the_check_finds_a_climbing_import() -> None:
    """The check itself: a core module importing the store, lazily or relatively, is seen."""
    source = "def f():\n    from allocator.store import repository\n    from ..web import api\n"
    names = [name for _, name in imports_in(source, "allocator.core")]
    assert names == ["allocator.store", "allocator.web"]
    assert all(layer(name) > layer("allocator.core.rules") for name in names)
