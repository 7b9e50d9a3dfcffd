"""The full ``__init__`` signature of every engine class.

An estimator's ``__init__`` names its own parameters and passes the others on as
``**kwargs`` to :class:`~skface._engine.FaceNetBase` and from there to skorch's
``NeuralNet``. scikit-learn reads a parameter's default from the signature of
``__init__``: without one that names every parameter, ``repr`` and the notebook display
would list all of skorch's parameters as changed, and ``clone`` and ``get_params`` would
not know their defaults. Each engine class therefore gets a signature that lists them
all (``FaceNetBase.__init_subclass__`` attaches it).
"""

from __future__ import annotations

import inspect

from skorch import NeuralNet


def full_signature(cls: type) -> inspect.Signature:
    """The signature of ``cls.__init__`` with every parameter it takes by name.

    An estimator's ``__init__`` names its own parameters and passes the others on as
    ``**kwargs``, down to skorch's ``NeuralNet.__init__``. scikit-learn reads the
    defaults from the signature (``repr`` shows only the parameters that differ from
    them, as does the HTML display in notebooks), so the signature lists them all:
    the first ``__init__`` along the MRO that names a parameter gives its default.
    """
    P = inspect.Parameter
    leading: list[inspect.Parameter] = []  # those before *args (module)
    named: dict[str, inspect.Parameter] = {}
    var_args = var_kwargs = None
    open_ = True  # every __init__ so far passes its positional arguments on as *args
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if not inspect.isfunction(init) or getattr(init, "_skface_forwards", False):
            continue
        params = list(inspect.signature(init).parameters.values())[1:]  # less self
        kinds = {p.kind for p in params}
        before = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        if open_ and before:
            leading = [p.replace(annotation=P.empty) for p in before]
        open_ = open_ and not before and P.VAR_POSITIONAL in kinds
        taken = {p.name for p in leading}
        for p in params:
            if p.kind is P.VAR_POSITIONAL:
                var_args = var_args or p
            elif p.kind is P.VAR_KEYWORD:
                var_kwargs = var_kwargs or p
            elif p.name not in taken and p.name not in named:
                named[p.name] = p.replace(kind=P.KEYWORD_ONLY, annotation=P.empty)
        if P.VAR_KEYWORD not in kinds:  # the chain of **kwargs ends here
            var_kwargs = None
            break
        if klass is NeuralNet:
            break
    params = [P("self", P.POSITIONAL_OR_KEYWORD), *leading,
              *([var_args] if var_args else []), *named.values(),
              *([var_kwargs] if var_kwargs else [])]
    return inspect.Signature(params)


def give_full_signature(cls: type) -> None:
    """Attach :func:`full_signature` to an ``__init__`` of ``cls``'s own."""
    if "__init__" not in cls.__dict__:  # a function of its own, not the parent's

        def __init__(self, *args, **kwargs):
            super(cls, self).__init__(*args, **kwargs)

        __init__._skface_forwards = True
        __init__.__module__ = cls.__module__
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
    cls.__init__.__signature__ = None  # read the function's own parameters
    cls.__init__.__signature__ = full_signature(cls)
