"""The random streams of a fit: the validation split, shuffling, augmentation, mixup,
dropout and weight initialisation draw from generators of the fit's own, so that fits
in parallel threads do not disturb each other and consecutive calls continue them."""

from __future__ import annotations

import contextlib
import threading

import torch
from sklearn.utils import check_random_state

from ._module import FaceModule

_INIT_LOCK = threading.Lock()  # weight initialisation uses torch's global generator


class SeedingMixin:
    """Random streams of :class:`~skface._engine.FaceNetBase`."""

    def _seed(self) -> int:
        """A seed drawn from ``random_state`` (numpy's global RandomState when None,
        so that ``np.random.seed`` makes unseeded fits repeatable)."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _start_streams(self) -> None:
        """Random streams of a new fit: one seed for the validation split (kept by
        partial_fit), one generator that every training call continues."""
        seed = self._seed()
        self._split_seed_ = seed
        self._rng_state_ = torch.Generator().manual_seed(seed).get_state()

    @contextlib.contextmanager
    def _seeded(self):
        """One training call's randomness, drawn from the fit's own stream.

        Shuffling, augmentation, mixup and dropout draw from generators of this fit,
        so that fits in parallel threads do not disturb each other; weight
        initialisation draws from torch's global generator, seeded from the same
        stream while a lock keeps other fits from touching it (see ``fit``).
        Consecutive calls (partial_fit, warm starts) continue the stream instead of
        replaying it. Random draws a custom network makes from torch's global
        generator while training are not seeded.
        """
        if getattr(self, "_rng_state_", None) is None:
            self._start_streams()
        stream = torch.Generator()
        stream.set_state(self._rng_state_)
        call_seed = int(torch.randint(0, 2**62, (1,), generator=stream))
        self._rng_state_ = stream.get_state()
        self._cpu_generator_ = torch.Generator().manual_seed(call_seed + 1)
        device = torch.device(getattr(self, "device_", None) or self._resolve_device())
        module_gen = None
        if device.type == "cuda":
            module_gen = torch.Generator(device=device).manual_seed(call_seed + 2)
        elif device.type == "cpu":
            module_gen = torch.Generator().manual_seed(call_seed + 2)
        try:
            self._module_generator_ = module_gen
            yield
        finally:
            self._cpu_generator_ = None
            self._module_generator_ = None
            module = getattr(self, "module_", None)
            if isinstance(module, FaceModule):
                module.generator = None

    def _initialize_seeded(self) -> None:
        """``initialize``, with torch's global generator (which weight initialisation
        draws from) seeded from the fit's stream, one fit at a time."""
        init_seed = int(torch.randint(0, 2**62, (1,), generator=self._cpu_generator_))
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with _INIT_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(init_seed)
            self.initialize()
