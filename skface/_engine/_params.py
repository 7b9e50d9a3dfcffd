"""Checking the parameters: scikit-learn's constraints, the ``augment`` dict, iterator
settings, and which attributes ``get_params`` lists."""

from __future__ import annotations

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import validate_parameter_constraints

from ._module import DEFAULT_AUGMENT


class ParametersMixin:
    """Parameter checks of :class:`~skface._engine.FaceNetBase` (``_parameter_constraints``
    of every class along the MRO, merged)."""

    def get_params(self, deep=True, **kwargs):
        # skorch lists every attribute not ending in "_" as a parameter; its private
        # bookkeeping (_params_to_validate, AccelerateMixin's _wrapped_with_accelerator)
        # is not one: get_params, clone and repr leave it out, and each new instance
        # sets its own
        params = super().get_params(deep=deep, **kwargs)
        return {key: value for key, value in params.items() if not key.startswith("_")}

    def _augment_spec(self) -> dict | None:
        if isinstance(self.augment, dict):
            return {**dict.fromkeys(DEFAULT_AUGMENT, 0), **self.augment}
        return dict(DEFAULT_AUGMENT) if self.augment else None

    def _check_parameters(self) -> None:
        """Validate the parameters against ``_parameter_constraints`` (and the contents
        of an ``augment`` dict), raising ``ValueError``/``TypeError`` that name them."""
        constraints = {}
        for cls in reversed(type(self).__mro__):
            constraints.update(getattr(cls, "_parameter_constraints", None) or {})
        params = {k: v for k, v in self.get_params(deep=False).items() if k in constraints}
        validate_parameter_constraints(constraints, params, caller_name=type(self).__name__)
        if isinstance(self.augment, dict):
            unknown = set(self.augment) - set(DEFAULT_AUGMENT)
            if unknown:
                raise ValueError(
                    f"The 'augment' parameter of {type(self).__name__} has unknown key(s) "
                    f"{sorted(unknown)}; known: {sorted(DEFAULT_AUGMENT)}.")
            for key, value in self.augment.items():
                ok = isinstance(value, bool) if key == "flip" else (
                    isinstance(value, Real) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= 0)
                if not ok:
                    kind = "True or False" if key == "flip" else "a finite number >= 0"
                    raise ValueError(
                        f"The 'augment' parameter of {type(self).__name__}: {key!r} must be "
                        f"{kind}, got {value!r}.")
        self._check_iterator_params()

    def _check_iterator_params(self) -> None:
        """Refuse iterator settings that neither the fast batch path nor skorch's
        DataLoader path could honour."""
        for prefix in ("iterator_train", "iterator_valid"):
            kwargs = self.get_params_for(prefix)
            if "batch_size" in kwargs:
                value = kwargs["batch_size"]
                if (isinstance(value, bool) or not isinstance(value, Integral)
                        or not (value >= 1 or value == -1)):
                    raise ValueError(
                        f"The '{prefix}__batch_size' parameter of {type(self).__name__} must "
                        f"be an int >= 1 (or -1 for one batch), got {value!r}.")

    def _validate_params(self):
        """scikit-learn's parameter constraints, then skorch's check of the argument
        names (which needs the prefixes that ``initialize`` registers)."""
        self._check_parameters()
        if "module" in self.prefixes_:
            super()._validate_params()
