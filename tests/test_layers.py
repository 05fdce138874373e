"""The package's layers: each module imports only from its own layer or the layers below, and nothing imports in
a circle. Imports inside functions count as much as top-level ones (a local import hides a cycle, it does not
remove it). README's Layout section lists the same layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "simsiam_zoo"

# Bottom to top; a name covers the module and, for a package, every module inside it unless a longer name is
# listed elsewhere (`hub` is the hub format, `hub.folder` one of its modules).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "arguments", "_io", "digests", "choices")),
    ("configuration", ("recipe", "options")),
    ("tensors, files and metrics", ("augment", "data", "model", "losses", "checkpoint", "distributed", "evaluate")),
    ("features and converters", ("features", "convert")),
    ("training", ("engine", "pretrain")),
    ("zoo", ("zoo",)),
    ("hub format", ("hub",)),
    ("backbones and classifiers", ("backbone", "finetune")),
    ("export and the zoo cache", ("export",)),
    ("loading and mirroring", ("loader", "mirror")),
    ("protocols, benchmark and demo", ("protocols", "benchmark", "demo")),
    ("command line and public API", ("cli", "")),
)


def module_names() -> dict[str, Path]:
    """Dotted names below simsiam_zoo ('' for the package itself) -> file."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules `name` imports, wherever in the file: `from simsiam_zoo.x import y` is the module x.y
    when that is a module, else x (whose __init__ runs)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [_relative(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                module = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = _relative(node.module or "")
            if module is not None:
                targets += [f"{module}.{alias.name}".lstrip(".") for alias in node.names]
    found = set()
    for target in targets:
        while target is not None and target not in modules:
            target = target.rpartition(".")[0] if target else None
        if target is not None:
            found.add(target)
    return found - {name}


def _relative(module: str) -> str | None:
    """'simsiam_zoo.a.b' -> 'a.b', 'simsiam_zoo' -> '', anything else -> None."""
    if module == "simsiam_zoo":
        return ""
    return module.removeprefix("simsiam_zoo.") if module.startswith("simsiam_zoo.") else None


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest listed name that is `module` or a package above it."""
    best = None
    for index, (_, names) in enumerate(LAYERS):
        for listed in names:
            covers = module == listed or (listed == "" and module == "") or module.startswith(f"{listed}.")
            if covers and (best is None or len(listed) > best[1]):
                best = (index, len(listed))
    if best is None:
        raise AssertionError(f"simsiam_zoo.{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return best[0]


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if layer_of(target) > layer_of(module):
                problems.append(
                    f"simsiam_zoo.{module} ({LAYERS[layer_of(module)][0]}) imports simsiam_zoo.{target} "
                    f"({LAYERS[layer_of(target)][0]})"
                )
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan's algorithm), each as a path back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_module_imports_only_its_own_layer_or_below() -> None:
    graph = import_graph()
    assert upward_imports(graph) == []


def test_no_module_imports_in_a_circle() -> None:
    assert cycles(import_graph()) == []


def test_the_check_sees_an_upward_import_and_a_cycle_hidden_in_a_function() -> None:
    graph = import_graph()
    graph["checkpoint"] = graph["checkpoint"] | {"convert"}  # the cycle this project had, by a local import
    assert upward_imports(graph) == [
        "simsiam_zoo.checkpoint (tensors, files and metrics) imports simsiam_zoo.convert (features and converters)"
    ]
    assert ["checkpoint", "convert", "convert._checkpoint"] in cycles(graph)


def test_imports_inside_functions_and_relative_imports_are_read(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "from ._common import x\n\ndef f():\n    from simsiam_zoo.zoo.entries import ZOO\n    import simsiam_zoo.data\n"
    )
    modules = {"convert._common", "convert", "zoo.entries", "zoo", "data", ""}
    assert imports_of("convert.module", source, modules) == {"convert._common", "zoo.entries", "data"}


@pytest.mark.parametrize("module", ["evaluate.knn", "protocols.transfer", "hub.folder", "zoo.download", ""])
def test_the_longest_listed_name_decides_the_layer(module: str) -> None:
    expected = {
        "evaluate.knn": "tensors, files and metrics",
        "protocols.transfer": "protocols, benchmark and demo",
        "hub.folder": "hub format",
        "zoo.download": "zoo",
        "": "command line and public API",
    }
    assert LAYERS[layer_of(module)][0] == expected[module]


def _file_of(name: str) -> str:
    """How README writes a listed name: `data/` for a package, `zoo/entries.py` for a module."""
    if name == "":
        return "__init__.py"
    path = PACKAGE / name.replace(".", "/")
    return f"{name.replace('.', '/')}/" if path.is_dir() else f"{name.replace('.', '/')}.py"


def test_readme_layout_lists_the_same_layers() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and " --- " not in line]
    documented = [(cells[0].removeprefix("| "), cells[1]) for cells in rows[1:]]
    expected = [(layer, ", ".join(f"`{_file_of(name)}`" for name in names)) for layer, names in LAYERS]
    assert documented == expected


MAX_LINES, MAX_PARAMETERS = 60, 10


def long_functions(root: Path = PACKAGE) -> list[str]:
    """Functions over MAX_LINES lines (signature, docstring and body) or MAX_PARAMETERS parameters (not counting
    self or cls; *args and **kwargs count one each): an options object or a helper is due."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            count = len(names) - (names[:1] in (["self"], ["cls"])) + bool(args.vararg) + bool(args.kwarg)
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES or count > MAX_PARAMETERS:
                found.append(
                    f"{path.relative_to(root.parent)}:{node.lineno} {node.name}: {lines} lines, {count} parameters"
                )
    return found


def test_no_function_is_over_60_lines_or_10_parameters() -> None:
    assert long_functions() == []


def test_the_size_check_sees_a_long_function_and_a_long_signature(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    params = ", ".join(f"p{i}" for i in range(11))
    (package / "m.py").write_text(
        f"def long():\n{body}\n\n\nclass C:\n    def wide(self, {params}):\n        pass\n\n"
        f"    def fine(self, {', '.join(f'p{i}' for i in range(10))}):\n        pass\n"
    )
    assert long_functions(package) == [
        "pkg/m.py:1 long: 61 lines, 0 parameters",
        "pkg/m.py:65 wide: 2 lines, 11 parameters",
    ]


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages explicitly (cards/ installs as simsiam_zoo.cards): a new package missing
    there would import from a checkout and fail from a wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "simsiam_zoo" + "".join(f".{part}" for part in path.parent.relative_to(PACKAGE).parts)
        for path in PACKAGE.rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)


def test_test_files_mirror_the_package() -> None:
    """tests/test_X.py tests the module or package X, tests/P/test_X.py the module P.X (hub/test_cards.py:
    hub/cards.py), and a folder below tests/ is a package's; test_layers.py tests the package as a whole. Shared
    builders live in builders.py (checkpoints as their sources save them in checkpoints.py), servers in *_server.py,
    fixtures in conftest.py, not in test files."""
    tests = Path(__file__).parent
    modules = set(module_names())
    folders = [path.name for path in tests.iterdir() if path.is_dir() and not path.name.startswith((".", "__"))]
    unmatched = [name for name in folders if name not in modules]
    for path in sorted(tests.rglob("test_*.py")):
        package = ".".join(path.parent.relative_to(tests).parts)
        name = path.stem.removeprefix("test_")
        candidates = {".".join(filter(None, [package, *parts])) for parts in _dotted_readings(name.split("_"))}
        if path != Path(__file__) and not candidates & modules:
            unmatched.append(str(path.relative_to(tests)))
    assert unmatched == []


def test_no_test_module_imports_another() -> None:
    """What several test modules share lives in the helper modules, so a test module imports none of its peers,
    wherever in the file (a function-local import hid five such links)."""
    tests = Path(__file__).parent
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.relative_to(tests)}: {name}" for name in names if "test_" in name.rpartition(".")[2]]
    assert found == []


def _dotted_readings(words: list[str]) -> list[list[str]]:
    """Every way to read `a_b_c` as dotted parts: [a_b_c], [a, b_c], [a_b, c], [a, b, c]."""
    if len(words) == 1:
        return [words]
    readings = []
    for rest in _dotted_readings(words[1:]):
        readings.append([words[0], *rest])
        readings.append([f"{words[0]}_{rest[0]}", *rest[1:]])
    return readings


def test_no_public_name_is_also_a_module_of_the_package() -> None:
    """Importing a submodule sets the package's attribute of its name: `from simsiam_zoo import train` gave the
    module `simsiam_zoo.train` once anything had imported it (the demo, the CLI), and the function before."""
    import importlib.util

    import simsiam_zoo

    assert [name for name in simsiam_zoo.__all__ if importlib.util.find_spec(f"simsiam_zoo.{name}")] == []
