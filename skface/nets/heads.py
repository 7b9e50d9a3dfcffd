"""Output heads: what a network's raw outputs mean, as plain torch operations.

A network returns raw numbers, ``(batch, n_outputs)``: logits of classes, logits
of one class per year of age, CORAL's cumulative logits, a standardised age, or
several of these side by side. A head turns them into the quantities they stand
for (class probabilities, an age in years) in float32. The same head serves
prediction in Python (:meth:`OutputHead.predict` gives numpy arrays) and the
exported ONNX graph (the head's ``forward`` is traced into it), so both compute
the same thing with the same code.

Every head's ``forward`` returns a tuple of tensors, one per name in its
``names``: ``"probabilities"`` (rows sum to 1) or ``"age"`` (years).

==========================  ===========================================================
:class:`ClassProbabilities`  softmax over class logits
:class:`ExpectedAge`         expected age under a softmax over one class per year (DEX)
:class:`ScalarAge`           one standardised value back in years
:class:`OrdinalProbabilities`  CORAL: cumulative probabilities to group probabilities
:class:`GroupsFromYears`     a year distribution summed into age groups, and its mean
:class:`RepresentativeAge`   any group head plus the expected age of the groups
:class:`MultiTask`           column slices, each through its own head
==========================  ===========================================================

Only torch and numpy are imported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

__all__ = [
    "ClassProbabilities",
    "ExpectedAge",
    "GroupsFromYears",
    "MultiTask",
    "OrdinalProbabilities",
    "OutputHead",
    "RepresentativeAge",
    "ScalarAge",
]


def _float_buffer(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


class OutputHead(nn.Module):
    """Base class of the heads: raw network outputs in, named quantities out.

    Subclasses set ``names`` (a tuple of str) and implement ``forward(outputs)``,
    which takes the raw outputs ``(batch, n_outputs)`` and returns a tuple of
    float32 tensors in the order of ``names``. Constants (year values, group
    matrices) are non-persistent buffers: a head has no weights and an empty
    ``state_dict``.
    """

    names: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()

    def named(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``forward``'s tensors keyed by ``names``.

        Parameters
        ----------
        outputs : torch.Tensor of shape (n_samples, n_outputs)
            Raw network outputs.

        Returns
        -------
        dict of str to torch.Tensor
            The head's outputs, keyed by ``names``.
        """
        return dict(zip(self.names, self(outputs), strict=True))

    def predict(self, outputs) -> dict[str, np.ndarray]:
        """The head applied to raw outputs (a tensor or array), as float32 numpy arrays.

        Parameters
        ----------
        outputs : torch.Tensor or array-like of shape (n_samples, n_outputs)
            Raw network outputs.

        Returns
        -------
        quantities : dict of str to ndarray
            One float32 array per name in ``names``.
        """
        t = outputs if isinstance(outputs, torch.Tensor) else torch.as_tensor(np.asarray(outputs))
        with torch.no_grad():
            return {k: v.detach().cpu().numpy() for k, v in self.named(t.cpu()).items()}


class ClassProbabilities(OutputHead):
    """Class probabilities: a softmax over the logits, ``names = ("probabilities",)``."""

    names = ("probabilities",)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.softmax(outputs.float(), dim=1),)


class ExpectedAge(OutputHead):
    """Expected age under a distribution over one class per year (DEX).

    Output ``j`` is the logit of age ``j`` years; the age is
    ``sum_j softmax(outputs)_j * j``, clipped to ``0 .. n_years - 1``.

    Parameters
    ----------
    n_years : int
        Number of year classes (ages ``0 .. n_years - 1``).
    """

    names = ("age",)

    def __init__(self, n_years: int):
        super().__init__()
        if int(n_years) < 2:
            raise ValueError(f"ExpectedAge needs at least two year classes, got {n_years!r}.")
        self.n_years = int(n_years)
        self.register_buffer("years", torch.arange(self.n_years, dtype=torch.float32),
                             persistent=False)

    def from_distribution(self, p_years: torch.Tensor) -> torch.Tensor:
        """Expected age (years) of year probabilities.

        Parameters
        ----------
        p_years : torch.Tensor of shape (n_samples, n_years)
            Probability of each year of age, 0 first.

        Returns
        -------
        torch.Tensor of shape (n_samples,)
            The expected age, clipped to the years covered.
        """
        return (p_years @ self.years).clamp(0.0, float(self.n_years - 1))

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.from_distribution(torch.softmax(outputs.float(), dim=1)),)


class ScalarAge(OutputHead):
    """One standardised output back in years: ``outputs[:, 0] * scale + mean``, clipped.

    Parameters
    ----------
    mean, scale : float
        Mean and standard deviation of the training ages (years).
    max_age : float or None, default=None
        Upper clip (years); ages are always clipped at 0 below.
    """

    names = ("age",)

    def __init__(self, mean: float, scale: float, max_age: float | None = None):
        super().__init__()
        self.mean, self.scale = float(mean), float(scale)
        self.max_age = None if max_age is None else float(max_age)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor]:
        age = outputs[:, 0].float() * self.scale + self.mean
        return (age.clamp(0.0, self.max_age) if self.max_age is not None
                else age.clamp_min(0.0),)


class OrdinalProbabilities(OutputHead):
    """CORAL: cumulative logits to the probabilities of ``K`` ordered groups.

    Output ``k`` (``k = 0 .. K-2``) is the logit of ``P(group > k)``. These are made
    rank-consistent (non-increasing in ``k``, by a running minimum), framed by
    ``P(group > -1) = 1`` and ``P(group > K-1) = 0``, and differenced:
    ``P(group = k) = P(group > k-1) - P(group > k)``.
    """

    names = ("probabilities",)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor]:
        above = torch.sigmoid(outputs.float())
        # a running minimum, column by column: the same operations in the ONNX graph
        columns = [above[:, :1]]
        for k in range(1, above.shape[1]):
            columns.append(torch.minimum(columns[-1], above[:, k:k + 1]))
        ones = torch.ones_like(above[:, :1])
        cum = torch.cat([ones, *columns, torch.zeros_like(ones)], dim=1)
        return ((cum[:, :-1] - cum[:, 1:]).clamp_min(0.0),)


class GroupsFromYears(OutputHead):
    """Age groups from a distribution over years, and that distribution's expected age.

    ``names = ("probabilities", "age")``: the probability of a group is the sum of
    the probabilities of its years (``softmax(outputs) @ year_to_group``), and the
    age is :class:`ExpectedAge`'s under the same distribution.

    Parameters
    ----------
    year_to_group : array-like of shape (n_years, n_groups)
        ``1`` where year ``j`` falls in group ``g``, else ``0``.
    """

    names = ("probabilities", "age")

    def __init__(self, year_to_group):
        super().__init__()
        matrix = _float_buffer(year_to_group)
        if matrix.ndim != 2:
            raise ValueError(f"year_to_group must be 2-d (years, groups), got {matrix.shape}.")
        self.register_buffer("year_to_group", matrix, persistent=False)
        self.expected = ExpectedAge(matrix.shape[0])

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_years = torch.softmax(outputs.float(), dim=1)
        return p_years @ self.year_to_group, self.expected.from_distribution(p_years)


class RepresentativeAge(OutputHead):
    """A group head plus the expected age: group probabilities times each group's age.

    ``names = ("probabilities", "age")``.

    Parameters
    ----------
    groups : OutputHead
        A head whose first output is the group probabilities
        (:class:`ClassProbabilities`, :class:`OrdinalProbabilities`).
    ages : array-like of shape (n_groups,)
        A representative age (years) of each group.
    """

    names = ("probabilities", "age")

    def __init__(self, groups: OutputHead, ages):
        super().__init__()
        self.groups = groups
        self.register_buffer("ages", _float_buffer(ages), persistent=False)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        proba = self.groups(outputs)[0]
        return proba, proba @ self.ages


class MultiTask(OutputHead):
    """Several tasks side by side: each slice of the outputs through its own head.

    A task's outputs are named ``name`` when the head's name is the task's (the
    ``"age"`` of an ``"age"`` task) and ``f"{task}_{name}"`` otherwise
    (``"gender_probabilities"``), in the order of ``slices``.

    Parameters
    ----------
    slices : mapping of str to (int, int)
        Columns ``[start, stop)`` of each task.
    heads : mapping of str to OutputHead
        The head of each task in ``slices``.
    """

    def __init__(self, slices: Mapping[str, tuple[int, int]], heads: Mapping[str, OutputHead]):
        super().__init__()
        if set(slices) != set(heads):
            raise ValueError(f"MultiTask needs one head per slice; slices {sorted(slices)}, "
                             f"heads {sorted(heads)}.")
        self.slices = {t: (int(a), int(b)) for t, (a, b) in slices.items()}
        self.heads = nn.ModuleDict({t: heads[t] for t in self.slices})
        self.names = tuple(n if n == t else f"{t}_{n}"
                           for t in self.slices for n in self.heads[t].names)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        results: list[torch.Tensor] = []
        for task, (a, b) in self.slices.items():
            results.extend(self.heads[task](outputs[:, a:b]))
        return tuple(results)
