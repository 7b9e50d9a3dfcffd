"""The layering of ARCHITECTURE.md: the data layer never imports torch."""

from __future__ import annotations

import subprocess
import sys

import skface


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
