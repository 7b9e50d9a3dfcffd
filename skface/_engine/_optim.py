"""The optimiser's settings: ``lr`` and ``optimizer__*`` set before or after a fit reach
every parameter group, and weight decay stays off one-dimensional parameters."""

from __future__ import annotations

import inspect
import re

from skorch.callbacks import LRScheduler


class OptimizerMixin:
    """Optimiser parameter handling of :class:`~skface._engine.FaceNetBase`."""

    def set_params(self, **kwargs):
        # setting module__*/criterion__*/optimizer__* re-initialises on ``self.device``
        if not getattr(self, "initialized_", False):
            return super().set_params(**kwargs)
        with self._on_device():
            out = super().set_params(**kwargs)
        if "device" in kwargs:
            self.device_ = self._resolve_device()
        optimizer_keys = [k for k in kwargs if k == "lr" or k.startswith("optimizer__")]
        for key in optimizer_keys:
            name = key[len("optimizer__"):]
            group = re.fullmatch(r"param_groups__([0-9]+)__(.+)", name)
            if group:  # one live group's setting, until the optimiser is built again
                vars(self).setdefault("_group_settings_", {})[
                    (int(group[1]), group[2])] = kwargs[key]
            elif key != "lr":
                # skorch's setter writes the optimiser's groups only: keep it a
                # parameter, so that get_params and the next optimiser say it too
                vars(self)[key] = kwargs[key]
        if "optimizer__param_groups" in kwargs:
            self.initialize_optimizer()  # other groups: the optimiser is built anew
        elif optimizer_keys:
            self._apply_optimizer_params()
        return out

    def initialize_optimizer(self, *args, **kwargs):
        self._group_settings_ = {}
        return super().initialize_optimizer(*args, **kwargs)

    def _apply_optimizer_params(self) -> None:
        """Write the optimiser settings the parameters give now into its groups.

        skorch's setter writes ``lr`` and ``optimizer__<name>`` into every parameter
        group, and the built-in schedule leaves the last epoch's rate in them: each
        group gets back what :meth:`get_params_for_optimizer` plans for it (weight decay
        stays off the one-dimensional parameters, groups keep their own rates). With
        the user's own LR scheduler, the rates are left to it.
        """
        optimizer = getattr(self, "optimizer_", None)
        if optimizer is None:
            return
        args, kwargs = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params())
        planned = list(args[0]) if args else []
        if len(planned) != len(optimizer.param_groups):
            return  # the network changed shape: initialize_optimizer plans afresh
        keep_lr = self._user_lr_scheduler()
        overrides = getattr(self, "_group_settings_", {})
        for i, (group, plan) in enumerate(zip(optimizer.param_groups, planned, strict=True)):
            settings = {**kwargs, **({k: v for k, v in plan.items() if k != "params"}
                                     if isinstance(plan, dict) else {})}
            settings.update({name: v for (j, name), v in overrides.items() if j == i})
            for key, value in settings.items():
                if key in group and not (keep_lr and key == "lr"):
                    group[key] = value

    def _user_lr_scheduler(self) -> bool:
        """Whether the user's callbacks include an LR scheduler (skorch's LRScheduler)."""
        for item in self.callbacks or []:
            cb = item[1] if isinstance(item, tuple) else item
            if isinstance(cb, LRScheduler) or (
                    isinstance(cb, type) and issubclass(cb, LRScheduler)):
                return True
        return False

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimiser arguments, with weight decay only where it belongs.

        Decoupled weight decay (AdamW) is meant for weight matrices and filters, not
        for biases, batch-norm scales and shifts, CORAL thresholds or the multi-task
        loss's log variances (all one-dimensional): each parameter group without a
        ``weight_decay`` of its own is split in two, the one-dimensional parameters
        getting ``weight_decay=0``.
        """
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        try:
            decays = "weight_decay" in inspect.signature(getattr(self, prefix)).parameters
        except (TypeError, ValueError):
            decays = False
        if not decays or not args:
            return args, kwargs
        groups = []
        for group in args[0]:
            if not isinstance(group, dict) or "weight_decay" in group:
                groups.append(group)
                continue
            params = list(group["params"])
            matrices = [p for p in params if p.dim() > 1]
            vectors = [p for p in params if p.dim() <= 1]
            if matrices:
                groups.append({**group, "params": matrices})
            if vectors:
                groups.append({**group, "params": vectors, "weight_decay": 0.0})
        return (groups, *args[1:]), kwargs
