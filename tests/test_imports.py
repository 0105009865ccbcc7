"""The import graph of src/depthlab, read from the source: imports inside functions and those for type checkers
only (under `if TYPE_CHECKING:`) included, for a cycle of types is as tangled to a reader as one of code. No module
imports itself back, not even through the package `__init__` an import of one of its modules runs first;
`depthlab.training` is one straight stack that sees only the public names of `depthlab.tracking`, and only
`depthlab.tracking` imports MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.project import ROOT

SRC = ROOT / "src"
# depthlab.training's modules, each importing only those before it.
TRAINING_STACK = [
    "jobs",
    "plan",
    "classifier",
    "functional",
    "user_module",
    "resume",
    "residence",
    "loop",
    "cache",
    "ensemble_run",
    "executor",
    "pool",
    "cluster",
    "scheduling",
    "stage",
]


def module_files() -> dict[str, Path]:
    files = {}
    for path in sorted((SRC / "depthlab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


MODULES = module_files()


def imports(name: str) -> list[tuple[str, str | None]]:
    """Every import of a depthlab module by module `name`: (module, the name imported from it, if any). `from
    a import b` imports module a.b where there is one."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (module, alias.name))
    return [(module, imported) for module, imported in found if module.split(".")[0] == "depthlab"]


def enclosing_packages(module: str) -> list[str]:
    """The packages whose `__init__` Python runs before `module`: `depthlab.a.b` runs `depthlab.a` first."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(2, len(parts))]


def graph() -> dict[str, set[str]]:
    """Each module's imports, with the packages an import runs first that the importer is not inside of (a
    package's own modules are imported while it is being initialised: theirs is no cycle)."""
    edges = {}
    for name in MODULES:
        own = {name, *enclosing_packages(name)}
        direct = {module for module, _ in imports(name)}
        implied = {package for module in direct for package in enclosing_packages(module) if package not in own}
        edges[name] = direct | implied
    return edges


def test_the_import_graph_is_read_from_every_module():
    edges = graph()
    assert "depthlab.training.stage" in edges["depthlab.training"]
    assert "depthlab.training.cluster" in edges["depthlab.training.scheduling"]
    assert "depthlab.tracking" in edges["depthlab.reproduce"], "an import inside a function counts"
    assert "depthlab.tracking.run" in edges["depthlab.tracking.system_metrics"], "so does one for type checkers"


def test_no_module_imports_itself_back():
    edges = graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done or name not in edges:
            return
        for imported in sorted(edges[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def test_training_is_one_straight_stack():
    submodules = {name.rpartition(".")[2] for name in MODULES if name.startswith("depthlab.training.")}
    assert submodules == set(TRAINING_STACK)
    for position, module in enumerate(TRAINING_STACK):
        below = {f"depthlab.training.{other}" for other in TRAINING_STACK[:position]}
        training = {name for name in graph()[f"depthlab.training.{module}"] if name.startswith("depthlab.training")}
        assert training <= below, f"depthlab.training.{module} imports {sorted(training - below)} from above it"


def test_training_sees_only_the_public_names_of_tracking():
    tree = ast.parse(MODULES["depthlab.tracking"].read_text())
    [public] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]
    ]
    for name in MODULES:
        if name.startswith("depthlab.training"):
            for module, imported in imports(name):
                if module.startswith("depthlab.tracking"):
                    assert module == "depthlab.tracking", f"{name} imports tracking's internals: {module}"
                    assert imported is None or imported in public, f"{name} imports {imported}, not public"
    assert any(module == "depthlab.tracking" for module, _ in imports("depthlab.training.ensemble_run"))


def test_only_tracking_imports_mlflow():
    for name, path in MODULES.items():
        if not name.startswith("depthlab.tracking"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and not node.level:
                    modules = [node.module or ""]
                assert not any(module.split(".")[0] == "mlflow" for module in modules), f"{name} imports mlflow"
