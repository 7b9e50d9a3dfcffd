"""The public estimators' docstrings document what ``get_params`` reports, and no more.

A parameter added to an estimator (or to the shared engine) without its entry in the
docstring's Parameters section fails here, and so does an entry left behind for a
parameter that no longer exists.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import warnings
from pathlib import Path

import pytest

import skface

docscrape = pytest.importorskip("numpydoc.docscrape")

ESTIMATORS = ("GenderClassifier", "RaceClassifier", "AgeRegressor", "AgeBinner",
              "FaceAttributes")


def _public_estimators() -> list[str]:
    names = []
    for name in skface.__all__:
        obj = getattr(skface, name)
        if inspect.isclass(obj) and hasattr(obj, "get_params"):
            names.append(name)
    return sorted(names)


PUBLIC = _public_estimators()


def _sections(cls: type):
    return docscrape.NumpyDocString(inspect.getdoc(cls) or "")


def _documented(doc) -> dict[str, str]:
    """``{name: description}`` of a Parameters section; ``a, b : type`` gives both."""
    out = {}
    for param in doc["Parameters"]:
        for name in param.name.split(","):
            out[name.strip()] = " ".join(param.desc)
    return out


def _accelerated_base(cls: type) -> type | None:
    """The estimator an ``Accelerated*`` class trains (None for the others)."""
    if not cls.__name__.startswith("Accelerated"):
        return None
    return getattr(skface, cls.__name__[len("Accelerated"):])


def _params(cls: type) -> set[str]:
    required = [p.name for p in inspect.signature(cls).parameters.values()
                if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    if required:  # scikit-learn's stacking takes its members: the signature names all
        return {p for p in inspect.signature(cls).parameters if not p.startswith("_")}
    return {k for k in cls().get_params(deep=False) if not k.startswith("_")}


def test_the_public_estimators_are_all_checked():
    # the list is built from skface.__all__: a new estimator is checked by itself
    assert set(ESTIMATORS) <= set(PUBLIC)
    assert {f"Accelerated{name}" for name in ESTIMATORS} <= set(PUBLIC)
    assert {"ImageLoader", "FaceCropper", "UTKFaceLabelDecoder", "AgeBinEncoder"} <= set(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_documents_every_parameter(name):
    cls = getattr(skface, name)
    documented = _documented(_sections(cls))
    text = inspect.getdoc(cls)
    base = _accelerated_base(cls)
    if base is not None:
        # "**kwargs: Every parameter of :class:`~skface.Base`": the base documents them
        assert f"Every parameter of :class:`~skface.{base.__name__}`" in documented["**kwargs"]
        documented = {**_documented(_sections(base)), **documented}
        text += inspect.getdoc(base)
    missing = []
    for param in sorted(_params(cls)):
        if param in documented:
            continue
        prefix = param.split("__")[0] + "__"
        if "__" in param and "**kwargs" in documented and prefix in text:
            continue  # a part's parameter (callbacks__print_log__sink), by its prefix
        missing.append(param)
    assert not missing, f"{name}'s docstring does not document {missing}"


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_documents_no_unknown_parameter(name):
    cls = getattr(skface, name)
    documented = set(_documented(_sections(cls))) - {"**kwargs", "*args"}
    unknown = sorted(documented - _params(cls))
    assert not unknown, f"{name}'s docstring documents parameters it does not have: {unknown}"


@pytest.mark.parametrize("name", PUBLIC)
def test_every_documented_parameter_is_described(name):
    documented = _documented(_sections(getattr(skface, name)))
    bare = sorted(k for k, desc in documented.items() if not desc.strip())
    assert not bare, f"{name}: parameters without a description: {bare}"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_docstring_has_the_numpydoc_sections(name):
    doc = _sections(getattr(skface, name))
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert doc[section], f"{name}'s docstring has no {section} section"
    attributes = {n.strip() for a in doc["Attributes"] for n in a.name.split(",")}
    assert {"history_", "module_", "task_", "output_head_"} <= attributes


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_docstring_is_a_literal(name):
    # written out in the class body, not assembled: an edit that breaks an assembly
    # step (a replace whose anchor is gone) cannot silently drop a section
    cls = getattr(skface, name)
    path = Path(inspect.getsourcefile(cls))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    assert ast.get_docstring(node, clean=False) == cls.__doc__


@pytest.mark.parametrize("name", ESTIMATORS)
def test_accelerated_docstring_names_its_own_base(name):
    cls = getattr(skface, f"Accelerated{name}")
    text = cls.__doc__
    assert text.startswith(f"{name} trained through Hugging Face accelerate")
    assert f":class:`~skface.{name}`" in text
    assert f"Accelerated{name}(accelerator=" in text  # the example builds this class
    other = [n for n in ESTIMATORS if n != name and f"skface.{n}`" in text]
    assert not other, f"Accelerated{name}'s docstring names {other}"
    assert "{" not in text and "}" not in text  # nothing left unsubstituted
    doc = _sections(cls)
    for section in ("Parameters", "See Also", "Notes", "Examples"):
        assert doc[section], f"Accelerated{name}'s docstring has no {section} section"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_docstring_examples_run(name):
    cls = getattr(skface, name)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(cls, name, globs={})
    assert tests and tests[0].examples
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# The five estimators share the engine's parameters, and each docstring describes them
# in full (a literal numpydoc section, as scikit-learn's estimators do): the copies are
# kept equal here, so that a description changed in one place cannot drift from the others.
# Parameters whose meaning differs by estimator are left out, with the reason.
DIFFERS_BY_ESTIMATOR = {
    "criterion": "each estimator's default loss, and the strings it takes",
    "teacher": "the teacher's task is the estimator's own (gender or race)",
}


def test_the_parameters_the_estimators_share_are_described_alike():
    from sklearn.utils._testing import assert_docstring_consistency

    classes = [getattr(skface, name) for name in ESTIMATORS]
    shared = set.intersection(*(set(_documented(_sections(c))) for c in classes))
    assert len(shared - set(DIFFERS_BY_ESTIMATOR)) >= 25  # the engine's parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not found in all objects"
        assert_docstring_consistency(classes, include_params=True,
                                     exclude_params=sorted(DIFFERS_BY_ESTIMATOR))
        classifiers = [skface.GenderClassifier, skface.RaceClassifier]
        assert_docstring_consistency(classifiers, include_params=True,
                                     exclude_params=["teacher"])
    gender, race = (_documented(_sections(c))["teacher"] for c in classifiers)
    assert gender.replace('"gender"', '"race"') == race


def test_the_attributes_the_estimators_share_are_described_alike():
    from sklearn.utils._testing import assert_docstring_consistency

    classes = [getattr(skface, name) for name in ESTIMATORS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # history_ names each estimator's own validation score
        assert_docstring_consistency(classes, include_attrs=True, exclude_attrs=["history_"])
