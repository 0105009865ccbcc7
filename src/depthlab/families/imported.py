"""A user's module as a family: the class params.yaml names by import path (`models.<name>.class_path`),
constructed with its `init_args`, the depth under its `depth_arg`, and `sample_shape` (a tuple of ints) and
`num_classes` (an int) where its constructor's signature names them. docs/own-model.md is the user's side.

The code lives in the project, in one of the folders `USER_CODE` (dependencies of every train stage in
dvc.yaml), and is imported from the project's root without being installed: `import_class` is the one place that
puts the root on `sys.path`. Whatever a bad class path, depth argument or init_args does wrong is a ParamsError
naming it, found by `check` before a train stage trains anything.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depthlab.errors import ParamsError
from depthlab.families import DATA_ARGS, ImportedConfig
from depthlab.families.base import DataShape

if TYPE_CHECKING:
    from torch import nn

# The project's folders of user code: a class path starts with one of them, and every train stage depends on both
# (dvc.yaml), so that editing a user's module reruns the stages; its family's cache key then retrains it alone.
USER_CODE = ("models", "examples")


def project_root() -> Path:
    """The project's root: stages, `reproduce`'s worktree and tests run from it (DVC runs every stage there)."""
    return Path.cwd().resolve()


def import_class(class_path: str, where: str = "class_path") -> type:
    """The class `class_path` names, imported from the project's root; a ParamsError naming `where` (the params
    key) and the cause when it does not import, or imports from outside the folders of user code."""
    root = project_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # whatever the user's module raises on import is the user's to fix
        raise ParamsError(
            f"{where}: module '{module_name}' does not import from {root}: {type(err).__name__}: {err}"
        ) from None
    source = Path(getattr(module, "__file__", None) or root).resolve()
    if not source.is_relative_to(root) or source.relative_to(root).parts[0] not in USER_CODE:
        raise ParamsError(
            f"{where}: module '{module_name}' is {source}, outside the project's folders of user code "
            f"({', '.join(f'{folder}/' for folder in USER_CODE)}): move it into models/, which every train stage "
            "depends on, so that editing it retrains its family"
        )
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise ParamsError(f"{where}: module '{module_name}' ({source.relative_to(root)}) has no class '{class_name}'")
    return cls


def constructor_arguments(cls: type, config: ImportedConfig, depth: int, shape: DataShape, where: str) -> dict:
    """The keyword arguments of one network: init_args, the depth, and the data's shape where the signature
    names it; a ParamsError where the signature has no such depth argument or cannot take them."""
    signature = inspect.signature(cls)
    named = {
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    if config.depth_arg not in named:
        raise ParamsError(
            f"{where}.depth_arg: {cls.__name__}{signature} has no argument '{config.depth_arg}' to take the depth "
            f"(its arguments: {', '.join(sorted(named)) or 'none'})"
        )
    data = {"sample_shape": tuple(shape.sample_shape), "num_classes": shape.num_classes}
    arguments = {**config.init_args, config.depth_arg: depth, **{k: data[k] for k in DATA_ARGS if k in named}}
    try:
        signature.bind(**arguments)
    except TypeError as err:
        raise ParamsError(f"{where}.init_args: {cls.__name__}{signature} refuses {arguments}: {err}") from None
    return arguments


def build(config: ImportedConfig, depth: int, shape: DataShape, where: str) -> nn.Module:
    """The user's network at `depth` for data of `shape`; `where`: its section of params.yaml, for errors."""
    cls = import_class(config.class_path, f"{where}.class_path")
    return cls(**constructor_arguments(cls, config, depth, shape, where))


def check(name: str, config: ImportedConfig, shapes: Mapping[str, DataShape], depths: Iterable[int]) -> None:
    """Before a train stage trains anything: the class imports, is a torch module, and its constructor takes
    init_args, the depth and the data's shape and builds at every depth of the sweep on every dataset
    (`shapes`). One ParamsError names what is wrong: a depth at which the constructor raises is named, with the
    depths at which it builds (the stage trains none of them until params.yaml is mended; their ensembles
    finished earlier stay in the cache, so mending it retrains nothing that was trained)."""
    from torch import nn

    where = f"models.{name}"
    cls = import_class(config.class_path, f"{where}.class_path")
    if not issubclass(cls, nn.Module):
        raise ParamsError(
            f"{where}.class_path: {config.class_path} is not a torch nn.Module (a LightningModule is one)"
        )
    depths = sorted(set(depths))
    for dataset, shape in shapes.items():
        failures: dict[int, str] = {}
        for depth in depths:
            arguments = constructor_arguments(cls, config, depth, shape, where)
            try:
                cls(**arguments)
            except Exception as err:  # the user's constructor: any refusal is a params problem of this family
                failures[depth] = f"{type(err).__name__}: {err}"
        if failures and len(failures) == len(depths):
            depth, cause = next(iter(failures.items()))
            raise ParamsError(
                f"{where}.init_args: {cls.__name__} refuses {config.init_args} on {dataset} (sample shape "
                f"{shape.sample_shape}, {shape.num_classes} classes) at every depth; at depth {depth}: {cause}"
            )
        if failures:
            depth, cause = next(iter(failures.items()))
            built = [d for d in depths if d not in failures]
            raise ParamsError(
                f"sweep.{name}.depths: {cls.__name__} cannot be built at depth {depth} ({config.depth_arg}={depth}) "
                f"on {dataset}: {cause}. It builds at depths {built}: take {sorted(failures)} out of "
                f"sweep.{name}.depths (nothing is trained until then)"
            )


def source_files(config: ImportedConfig) -> list[Path]:
    """The project's source files the user's class runs: its module, the packages above it, and every module of
    the folders of user code it imports, at the top or inside a function, found by reading the import statements
    (not by running them, so an import made late counts too)."""
    root = project_root()
    found: set[Path] = set()
    pending = [config.class_path.rpartition(".")[0]]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        if parts[0] not in USER_CODE:
            continue
        for depth in range(1, len(parts) + 1):  # the module and its packages' __init__.py, which run on import
            base = root.joinpath(*parts[:depth])
            for path in (base.with_suffix(".py"), base / "__init__.py"):
                if path.is_file() and path not in found:
                    found.add(path)
                    pending += imported_names(path, ".".join(parts[:depth]), path.name == "__init__.py")
    return sorted(found)


def imported_names(path: Path, module: str, is_package: bool) -> list[str]:
    """Every module name `path`'s import statements may import: `import a.b`, `from a import b` (a, and a.b in
    case b is a module), relative ones resolved against `module`."""
    names = []
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: level 1 is the module's own package, 2 the one above it, ...
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def code_folder(net: Any) -> Path | None:
    """The folder of user code that `net`'s class comes from (logged with its MLflow model); None for
    depthlab's own networks."""
    module = sys.modules.get(type(net).__module__)
    source = getattr(module, "__file__", None)
    if source is None:
        return None
    root, path = project_root(), Path(source).resolve()
    if path.is_relative_to(root) and path.relative_to(root).parts[0] in USER_CODE:
        return root / path.relative_to(root).parts[0]
    return None
