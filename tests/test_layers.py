"""skface's layering: the data layer never imports torch, the networks are plain torch, and
no module reaches into another module's private names.

The import rules are read from the source (``ast``), so they hold for imports inside
functions too, whichever code path a test happens to run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    gets a public name inside its (private) module, or moves to skface/_utils.py."""
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
