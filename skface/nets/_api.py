"""A small registry of network families: ``register_model``, ``get_model``, ``list_models``.

Every registered network is a plain ``torch.nn.Module`` whose constructor takes
``n_outputs`` (size of the final linear layer) and ``in_channels`` (1 or 3) as keyword
arguments, plus its own architecture keywords; its ``forward`` takes a float tensor of
shape ``(batch, in_channels, height, width)``, already normalised, and returns
``(batch, n_outputs)``. Networks know nothing of skorch or scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["get_model", "get_model_builder", "list_models", "register_model"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str | None = None) -> Callable:
    """Class or function decorator that adds a network to the registry.

    Parameters
    ----------
    name : str, optional
        Registry name; defaults to the lower-cased ``__name__``.

    Returns
    -------
    callable
        The decorator: it registers the class or function and returns it unchanged.

    Raises
    ------
    ValueError
        If the name is already registered.
    """

    def wrapper(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = (name or builder.__name__).lower()
        if key in _MODELS:
            raise ValueError(f"a network is already registered as {key!r}")
        _MODELS[key] = builder
        return builder

    return wrapper


def list_models() -> list[str]:
    """Names of the registered networks, sorted.

    Returns
    -------
    list of str
        The names :func:`get_model_builder` and the estimators' ``module`` accept.
    """
    return sorted(_MODELS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The class (or function) registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models` (case does not matter).

    Returns
    -------
    callable
        The network class (or function) that builds the network.

    Raises
    ------
    ValueError
        Naming the registered networks, if ``name`` is unknown.
    """
    try:
        return _MODELS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown network {name!r}; registered networks: {list_models()}"
        ) from None


def get_model(name: str, *, n_outputs: int, in_channels: int = 3, **kwargs) -> nn.Module:
    """Build the network registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    **kwargs
        Architecture parameters of that network.

    Returns
    -------
    torch.nn.Module
    """
    return get_model_builder(name)(n_outputs=n_outputs, in_channels=in_channels, **kwargs)
