"""The hub's import graph (DESIGN §2): the hub imports neither provisioning nor simulator, and its modules
import each other without a circle. Read from the source with ast; imports under `if TYPE_CHECKING` do not run
and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub"
FORBIDDEN = ("provisioning", "simulator", "restock")

def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    # `from package import module` loads the module; `from module import name` loads the module itself.
    submodules = [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in submodules if _is_module(name)] or [base]


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(path: Path, module_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    is_package = path.name == "__init__.py"

    def visit(nodes: list[ast.stmt], top: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                if top or not module_level_only:
                    found.extend(_imported(node, _module(path), is_package))
            elif isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, top)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(node.body, top and isinstance(node, ast.ClassDef))
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler)], top)  # type: ignore[misc]

    visit(tree.body, True)
    return found


def _hub_files() -> list[Path]:
    return sorted(p for p in HUB.rglob("*.py") if "migrations" not in p.relative_to(HUB).parts)


def test_the_hub_imports_neither_provisioning_nor_simulator() -> None:
    offenders = []
    for path in _hub_files():
        where = str(path.relative_to(ROOT))
        for name in _imports(path, module_level_only=False):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{where}: {name}")
    assert offenders == []


def test_no_import_circle_among_hub_modules() -> None:
    modules = {_module(p): p for p in _hub_files()}
    graph = {
        name: sorted({dep for dep in _imports(path, module_level_only=True) if dep in modules and dep != name})
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                walk(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert cycles == []
