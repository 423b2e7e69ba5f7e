"""Imports run one way: from the ground floor up, never back down, no cycles.

The test reads every module of kerasdl/ with `ast` (nothing is imported) and
builds the graph of its imports of kerasdl modules, module-level and
function-level alike (an import inside a function is still a dependency;
deferring it only hides a cycle until run time). It fails on

- an import cycle between modules, and
- an import from a lower floor to a higher one, with the floors written once,
  in `FLOORS` below.

A module's floor is that of its top-level unit: `kerasdl.models.resnet` is in
"models", `kerasdl/registry.py` in "registry", the package root
`kerasdl/__init__.py` in "__init__". Units on the same floor may import each
other (without cycles). A new top-level module or package must be given a
floor here: the test fails until it is.
"""

from __future__ import annotations

import ast
import collections
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "kerasdl"

# Floor 0 is the ground floor; a unit may import units on its own floor or
# below. Written once: the whole direction of kerasdl's imports.
FLOORS = (
    # Helpers every other module uses; they import no other kerasdl unit.
    ("_checks", "_io", "_backend", "_keras_compat", "_memory"),
    # Building blocks: layers, plots, and the registry that models fill.
    ("layers", "viz", "registry"),
    # Architecture families (and their shared heads): register themselves.
    ("models",),
    # Specs: dicts/YAML <-> models, through the registry.
    ("spec",),
    # Data and the config-driven training layer.
    ("data", "training"),
    # Export formats as objects (write, run, verify).
    ("exporters",),
    # Compression steps and their report, which measure exported files; the
    # run config of `kerasdl train`/`compress`, which checks compression
    # steps and is read by the compression pipeline.
    ("compression", "runconfig"),
    # Everything built on a trained model: decoding, generative models,
    # search, serving, explanations.
    # Fundamentals (hand-written backprop, training experiments),
    # adversarial robustness and federated learning too; neural rendering
    # (scenes, cameras and NeRF training over the models' rendering layers).
    (
        "generation",
        "generative",
        "anomaly",
        "search",
        "serve",
        "explain",
        "evaluation",
        "fundamentals",
        "robustness",
        "federated",
        "detection",
        "rendering",
        "finetune",
        "alignment",
    ),
    # Entry points: the public API, workflows and the command line.
    ("workflow", "cli", "__init__", "__main__"),
)

FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}


def _modules() -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every .py file under kerasdl/."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _owner(name: str, modules) -> str | None:
    """The kerasdl module that `name` (a module or an attribute) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: pathlib.Path, modules):
    """(target module, line) for each import of a kerasdl module in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kerasdl":
                    yield _owner(alias.name, modules), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "kerasdl":
                continue
            for alias in node.names:
                # `from kerasdl.data import sources` imports a submodule;
                # `from kerasdl.data import load` an attribute of the package.
                full = f"{source}.{alias.name}"
                target = full if full in modules else _owner(source, modules)
                yield target, node.lineno


def _graph():
    """module -> {imported module: [lines]}, kerasdl modules only.

    The implicit import of a parent package (importing kerasdl.data.sources
    runs kerasdl/data/__init__.py) is not an edge: it is how Python packages
    work, not a dependency the code chose.
    """
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        edges = {}
        for target, line in _imports(module, path, modules):
            if target and target != module:
                edges.setdefault(target, []).append(line)
        graph[module] = edges
    return modules, graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        # Iterative, so a deep graph cannot hit the recursion limit.
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _where(modules, module, lines) -> str:
    """file:line[,line...] of the imports, for the failure message."""
    return f"{modules[module].relative_to(ROOT.parent)}:" + ",".join(map(str, lines))


def test_every_unit_has_a_floor():
    modules, _ = _graph()
    missing = sorted({_unit(m) for m in modules} - set(FLOOR))
    assert not missing, (
        f"Top-level units without a floor: {missing}. Add each to FLOORS in "
        "tests/test_architecture.py, on the lowest floor whose units it needs."
    )


def test_no_import_cycles():
    modules, graph = _graph()
    messages = []
    for component in _cycles(graph):
        members = set(component)
        edges = [
            f"  {source} -> {target} ({_where(modules, source, at)})"
            for source in component
            for target, at in sorted(graph[source].items())
            if target in members
        ]
        messages.append(f"cycle between {component}:\n" + "\n".join(edges))
    assert not messages, "Import cycles in kerasdl/:\n" + "\n".join(messages)


def test_imports_run_from_the_ground_floor_up():
    modules, graph = _graph()
    wrong = collections.defaultdict(list)
    for source, targets in sorted(graph.items()):
        low = _unit(source)
        for target, at in sorted(targets.items()):
            high = _unit(target)
            if FLOOR.get(high, -1) > FLOOR.get(low, len(FLOORS)):
                wrong[(low, high)].append(
                    f"  {_where(modules, source, at)} imports {target}"
                )
    messages = [
        f"{low} (floor {FLOOR[low]}) imports {high} (floor {FLOOR[high]}):\n"
        + "\n".join(lines)
        for (low, high), lines in sorted(wrong.items())
    ]
    assert not messages, (
        "Imports from a lower floor to a higher one (see FLOORS in "
        "tests/test_architecture.py):\n" + "\n".join(messages)
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from kerasdl.data import sources\n", {"kerasdl.data.sources"}),
        ("from kerasdl.data import load\n", {"kerasdl.data"}),
        ("import kerasdl.models.resnet\n", {"kerasdl.models.resnet"}),
        ("def f():\n    from ..registry import closest\n", {"kerasdl.registry"}),
        ("from . import sources\n", {"kerasdl.data.sources"}),
    ],
)
def test_the_scanner_sees_every_kind_of_import(tmp_path, source, expected):
    # The checks above are only as good as the scanner: it must resolve
    # submodules, package attributes, relative and function-level imports.
    modules = {
        "kerasdl": ROOT / "__init__.py",
        "kerasdl.registry": ROOT / "registry.py",
        "kerasdl.data": ROOT / "data" / "__init__.py",
        "kerasdl.data.sources": ROOT / "data" / "sources.py",
        "kerasdl.models.resnet": ROOT / "models" / "resnet.py",
    }
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    modules["kerasdl.data.probe"] = path
    found = {t for t, _ in _imports("kerasdl.data.probe", path, modules)}
    assert found == expected


def test_cycle_finder_reports_a_cycle():
    graph = {"a": {"b": [1]}, "b": {"c": [1]}, "c": {"a": [1]}, "d": {"a": [1]}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": [1]}, "b": {}}) == []
