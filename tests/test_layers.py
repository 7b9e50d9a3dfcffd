"""skface's layering: the data layer never imports torch, the networks are plain torch, and
no module reaches into another module's private names.

The import rules are read from the source (``ast``), so they hold for imports inside
functions too, whichever code path a test happens to run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import skface

PACKAGE = Path(skface.__file__).resolve().parent


def test_importing_skface_and_its_data_layer_does_not_import_torch():
    code = (
        "import sys, skface, skface.datasets, skface._summary, skface._cli; "
        "print('torch' in sys.modules, 'skorch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_api_is_exactly_all():
    public = {n for n in dir(skface) if not n.startswith("_")}
    assert set(skface.__all__) - {"__version__"} <= public
    for name in skface.__all__:
        assert getattr(skface, name) is not None
    for name in skface.datasets.__all__:
        assert callable(getattr(skface.datasets, name))


# --------------------------------------------------------------------------- source scan


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imported_module(importer: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` reads from."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if path.name != "__init__.py":
        base = base[:-1]  # a module's relative imports start from its package
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path) -> list[tuple[str, ast.alias, bool, int]]:
    """Every import of a file, at any depth, one row per imported name:
    (absolute module, alias, whether it is ``from module import alias``, line)."""
    importer = _module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, alias, False, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _imported_module(importer, path, node)
            found += [(module, alias, True, node.lineno) for alias in node.names]
    return found


def _private_crossings(path: Path) -> set[tuple[str, str, str]]:
    """(importer, module, name) for each private name of another skface module that this
    file imports (``from .x import _name``) or reads (``x._name``, ``skface.x._name``)."""
    importer = _module_name(path)
    bound: dict[str, str] = {}  # local name -> the skface module it is bound to
    found = set()
    for module, alias, is_from, _ in _imports(path):
        if module != "skface" and not module.startswith("skface."):
            continue
        if not is_from:  # import skface.x (binds skface) or import skface.x as y
            bound[alias.asname or "skface"] = module if alias.asname else "skface"
            continue
        full = f"{module}.{alias.name}"
        if full in MODULES:  # a module, private or not: importing one is fine
            bound[alias.asname or alias.name] = full
        elif _is_private(alias.name) and module != importer:
            found.add((importer, module, alias.name))

    def bound_module(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return bound.get(node.id)
        if isinstance(node, ast.Attribute):
            parent = bound_module(node.value)
            if parent and f"{parent}.{node.attr}" in MODULES:
                return f"{parent}.{node.attr}"
        return None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            module = bound_module(node.value)
            if module and module != importer and f"{module}.{node.attr}" not in MODULES:
                found.add((importer, module, node.attr))
    return found


NETS_MUST_NOT_IMPORT = ("sklearn", "skorch", "pandas")


def test_the_networks_import_neither_scikit_learn_nor_skorch_nor_pandas():
    """skface.nets is plain torch: usable, and testable, without the estimator layer.
    skface modules outside skface.nets that a network imports must follow the same rule."""
    nets = [m for m in MODULES if m == "skface.nets" or m.startswith("skface.nets.")]
    assert len(nets) > 5  # the scan sees the network modules
    via = dict.fromkeys(nets, "")  # module -> the module that imports it, "" for the nets
    to_read, bad = list(nets), []
    while to_read:
        name = to_read.pop()
        for module, alias, is_from, line in _imports(MODULES[name]):
            if module.split(".")[0] in NETS_MUST_NOT_IMPORT:
                where = f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}"
                chain = f" (imported by {via[name]})" if via[name] else ""
                bad.append(f"{where} imports {module}{chain}")
            candidates = [module, f"{module}.{alias.name}"] if is_from else [module]
            for found in candidates:
                if found in MODULES and found != "skface" and found not in via:
                    via[found] = name
                    to_read.append(found)
    assert not bad, "\n".join(bad)


def test_the_scan_sees_each_kind_of_private_crossing(tmp_path, monkeypatch):
    """The scanner itself: relative and absolute imports, attribute reads through an
    imported module, inside functions too; private modules, dunders and a module's own
    names are not crossings."""
    package = tmp_path / "skface"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__", "_a", "sub/__init__", "sub/_c"):
        (package / f"{name}.py").write_text("")
    (package / "_b.py").write_text(
        "from ._a import _one, two, __version__\n"
        "from skface._a import _three\n"
        "from . import _a\n"
        "import skface._a as alias\n"
        "import skface\n"
        "_own = 1\n"
        "def f():\n"
        "    from .sub._c import _four\n"
        "    from .sub import _c\n"
        "    return _a._five, alias._six, skface._a._seven, _c._eight, _a.__name__, _own\n")
    (package / "sub" / "_d.py").write_text("from .._a import _nine\nfrom ._c import _ten\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "MODULES",
                        {_module_name(p): p for p in package.rglob("*.py")})
    assert _private_crossings(package / "_b.py") == {
        ("skface._b", "skface._a", "_one"), ("skface._b", "skface._a", "_three"),
        ("skface._b", "skface.sub._c", "_four"), ("skface._b", "skface._a", "_five"),
        ("skface._b", "skface._a", "_six"), ("skface._b", "skface._a", "_seven"),
        ("skface._b", "skface.sub._c", "_eight"),
    }
    assert _private_crossings(package / "sub" / "_d.py") == {
        ("skface.sub._d", "skface._a", "_nine"), ("skface.sub._d", "skface.sub._c", "_ten"),
    }


# (importing module, module whose private name it uses, name) -> why it is allowed for now.
# The list may only shrink: an entry that no longer occurs fails the test below.
ALLOWED_PRIVATE_CROSSINGS: dict[tuple[str, str, str], str] = {}


def test_no_module_uses_another_modules_private_names():
    """A private name (``_name``) is its module's own: a helper that several modules use
    gets a public name inside its (private) module, or moves to a module of the bottom
    layer (see LAYERS)."""
    found = set().union(*(_private_crossings(path) for path in MODULES.values()))
    new = sorted(found - set(ALLOWED_PRIVATE_CROSSINGS))
    assert not new, "modules using another module's private names:\n" + "\n".join(
        f"{importer} uses {module}.{name}" for importer, module, name in new)
    stale = sorted(set(ALLOWED_PRIVATE_CROSSINGS) - found)
    assert not stale, "allowed crossings that no longer occur (remove them):\n" + "\n".join(
        f"{importer} uses {module}.{name}" for importer, module, name in stale)


def test_each_allowed_crossing_names_real_modules_and_a_reason():
    for entry, reason in ALLOWED_PRIVATE_CROSSINGS.items():  # empty now: nothing is allowed
        importer, module, name = entry
        assert importer in MODULES and module in MODULES and _is_private(name)
        assert reason and "\n" not in reason


# --------------------------------------------------------------------------- layers

# Every module of skface by layer, 0 at the bottom: a module imports (at any depth, inside
# functions too) only from its own layer or below, and no import circle joins modules of
# any layer. A new module must be placed here. Names are relative to skface ("" is the
# package itself: its public names are imported on first use, and importing one counts as
# importing the module that defines it). PLANNED names modules about to be written (take
# each out once it exists).
LAYERS: dict[int, tuple[str, ...]] = {
    # registries, helpers and conventions: the class table, files, label names, choices
    0: ("", "_version", "exceptions", "_registry", "_utils", "_files", "_labels",
        "_choices", "_leftovers", "_outputs"),
    # reading image files, and the datasets (which check images by decoding them)
    1: ("_image_files", "_imaging", "_image_batches", "_lazy_images", "datasets",
        "datasets._base", "datasets._check", "datasets._fairface", "datasets._imdb_wiki",
        "datasets._mat_guard", "datasets._synthetic", "datasets._table", "datasets._utkface"),
    # transformers
    2: ("_image_loader", "_label_decoder", "_age_bins", "_face_cropper", "_face_detectors",
        "_face_models", "_face_embedder"),
    # networks, their heads and losses (plain torch)
    3: ("nets", "nets._api", "nets._common", "nets.basic", "nets.bn_cnn", "nets.efficientnet",
        "nets.heads", "nets.levi_hassner", "nets.resnet", "nets.skfacenet", "nets.vgg",
        "nets.losses", "nets._download"),
    # the engine, the targets and the estimators
    4: ("_engine", "_engine._arrays", "_engine._base", "_engine._batches", "_engine._callbacks",
        "_engine._data", "_engine._ema", "_engine._fit", "_engine._log", "_engine._module",
        "_engine._optim", "_engine._params", "_engine._schedule", "_engine._seeding",
        "_engine._signature", "_engine._split", "_engine._step", "_engine._stopping",
        "_engine._task", "_targets", "_classifiers", "_age_estimators",
        "_multitask", "_accelerate", "_pretrained", "_recipes"),
    # surfaces: model files, command line, demo, reports, metrics, plots, ONNX
    5: ("__main__", "_cli", "_cli_parser", "_cli_predict", "_demo", "_draw", "_reports",
        "_summary", "_analyze", "plots", "_safe_io", "_model_checks", "_model_description",
        "_onnx", "_scoring", "_metrics", "_spreadsheet", "_pages"),
}
PLANNED: set[str] = set()

# (importing module, imported module) -> why it is allowed for now. The list may only
# shrink: an entry that no longer occurs fails the test.
ALLOWED_UPWARD_IMPORTS: dict[tuple[str, str], str] = {}


def _full(name: str) -> str:
    return "skface" + (f".{name}" if name and name != "__init__" else "")


def _lazy_names(package: Path) -> dict[str, str]:
    """Public name -> the module that defines it, read from the package's ``__init__``:
    its dicts of names to relative module paths (the names it imports on first use)."""
    tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    lazy = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and node.keys and all(
                isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                and isinstance(v.value, str) and v.value.startswith(".")
                for k, v in zip(node.keys, node.values, strict=True)):
            lazy.update({k.value: "skface" + v.value for k, v in
                         zip(node.keys, node.values, strict=True)})
    return lazy


def _import_edges(path: Path, lazy: dict[str, str]) -> dict[str, int]:
    """The skface modules a file imports, at any depth, each with its first line. Importing
    ``a.b.c`` imports the packages ``a.b`` above it too (unless the file is inside them);
    a public name of the package (``from skface import X``, ``skface.X``) counts as the
    module that defines it."""
    importer = _module_name(path)
    edges: dict[str, int] = {}

    def add(module: str, line: int) -> None:
        parts = module.split(".")
        for i in range(2, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in MODULES and name != importer and not importer.startswith(name + "."):
                edges.setdefault(name, line)

    package_names = set()  # local names bound to the package itself
    for module, alias, is_from, line in _imports(path):
        if module != "skface" and not module.startswith("skface."):
            continue
        if not is_from:
            add(module, line)
            if alias.asname is None:
                package_names.add("skface")
            continue
        full = f"{module}.{alias.name}"
        if full in MODULES:
            add(full, line)
        elif module == "skface" and alias.name in lazy:
            add(lazy[alias.name], line)
        else:
            add(module, line)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in package_names and node.attr in lazy):
            add(lazy[node.attr], node.lineno)
    return edges


def _import_graph() -> dict[str, dict[str, int]]:
    lazy = _lazy_names(PACKAGE)
    return {name: _import_edges(path, lazy) for name, path in MODULES.items()}


def _circles(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """The import circles of a graph: its strongly connected components of more than one
    module, or of one module importing itself (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return sorted(found)


def _layer_of() -> dict[str, int]:
    return {_full(name): layer for layer, names in LAYERS.items() for name in names}


def test_every_module_has_a_layer_and_every_entry_is_a_module():
    layer_of = _layer_of()
    missing = sorted(set(MODULES) - set(layer_of))
    assert not missing, ("modules without a layer (place them in LAYERS):\n"
                         + "\n".join(missing))
    names = [name for names in LAYERS.values() for name in names]
    assert len(names) == len(set(names)), "a module is in two layers"
    unknown = sorted(n for n in names if _full(n) not in MODULES and n not in PLANNED)
    assert not unknown, f"LAYERS names modules that do not exist: {unknown}"


def test_no_module_imports_from_a_higher_layer():
    layer_of = _layer_of()
    found = {}
    for importer, edges in _import_graph().items():
        for module, line in edges.items():
            if layer_of.get(module, -1) > layer_of.get(importer, 99):
                found[(importer, module)] = (
                    f"{MODULES[importer].relative_to(PACKAGE.parent)}:{line} ({importer}, "
                    f"layer {layer_of[importer]}) imports {module} (layer {layer_of[module]})")
    new = sorted(set(found) - set(ALLOWED_UPWARD_IMPORTS))
    assert not new, "imports from a higher layer:\n" + "\n".join(found[k] for k in new)
    stale = sorted(set(ALLOWED_UPWARD_IMPORTS) - set(found))
    assert not stale, f"allowed upward imports that no longer occur (remove them): {stale}"


def test_no_import_circle_joins_skface_modules():
    circles = _circles(_import_graph())
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_layer_scan_finds_circles_and_reads_public_names(tmp_path, monkeypatch):
    """The scanner itself: a circle through an import inside a function, one through a
    public name of the package, a package importing its own modules (no circle), and a
    chain that is no circle."""
    package = tmp_path / "skface"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__": "from . import _a\n_LAZY = {'Thing': '._c', 'Other': '._e'}\n",
        "_a": "from ._b import x\n",
        "_b": "def f():\n    from . import _a\n",
        "_c": "import skface\n\ndef g():\n    return skface.Other\n",
        "_e": "from skface import Thing\n",
        "_f": "from .sub._d import y\nfrom . import _a\n",
        "sub/__init__": "from . import _d\nfrom ._d import y\n",
        "sub/_d": "from .._a import x\ny = 1\n",
    }
    for name, text in files.items():
        (package / f"{name}.py").write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "MODULES",
                        {_module_name(p): p for p in package.rglob("*.py")})
    graph = _import_graph()
    assert graph["skface._f"].keys() == {"skface.sub._d", "skface.sub", "skface._a"}
    assert graph["skface.sub"].keys() == {"skface.sub._d"}
    assert graph["skface._e"].keys() == {"skface._c"}
    assert _circles(graph) == [["skface._a", "skface._b"], ["skface._c", "skface._e"]]
    assert _circles({"a": ["b"], "b": ["c"], "c": []}) == []
    assert _circles({"a": ["a"]}) == [["a"]]


# --------------------------------------------------------------------------- module size

MAX_MODULE_LINES = 600


def test_a_long_module_says_at_its_top_why_it_stays_one():
    """A module over about 600 lines mixes concerns more often than not: split it, or say
    near its top, in a comment that starts ``# One module``, why it is one concern."""
    long = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_MODULE_LINES and not any(
                line.startswith("# One module") for line in lines[:60]):
            long.append(f"{name}: {len(lines)} lines")
    assert not long, "long modules without a reason at their top:\n" + "\n".join(long)
