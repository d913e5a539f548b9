"""The thinc shim around the tagger's torch module.

thinc's `PyTorchShim` walks the whole module tree several times per call: `predict` calls
`eval()` and then `train()` for every batch, `begin_update` calls `train()`, its backprop lists
every parameter to unscale gradients, and `finish_update` lists them again for the optimizer.
With a peft-wrapped decoder that is hundreds of modules per walk (on the benchmark model, 1.8 ms
per batch with merged adapters, 8.8 ms with peft's wrappers), paid at every step. Ours switches
modes only when the module is in the other one, and visits only the trainable parameters
(`TaggerModule.trainable_named_parameters`, found once): the only ones that get gradients.

Before an optimizer step, `before_step` runs (the model unfolds LoRA adapters that a prediction
between the update and the step folded into the base weights, so the step sees and updates them).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from thinc.api import ArgsKwargs, PyTorchShim
from thinc.util import convert_recursive, iterate_recursive, torch2xp, xp2torch

from .fast_paths import FAST_PATHS


class TaggerShim(PyTorchShim):
    def __init__(self, model: Any, *args: Any, before_step: Optional[Callable[[], None]] = None, **kwargs: Any):
        super().__init__(model, *args, **kwargs)
        self.before_step = before_step

    def _trainables(self) -> list:
        module = self._model
        return (
            module.trainable_named_parameters()
            if hasattr(module, "trainable_named_parameters")
            else [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        )

    def begin_update(self, inputs: ArgsKwargs):
        """thinc's `begin_update`, walking only what it must (see the module docstring)."""
        if not FAST_PATHS["eval_once"]:
            return super().begin_update(inputs)
        if not self._model.training:
            self._model.train()
        with torch.autocast("cuda", enabled=self._mixed_precision):
            output = self._model(*inputs.args, **inputs.kwargs)

        def backprop(grads: ArgsKwargs) -> Any:
            grads.kwargs["grad_tensors"] = self._grad_scaler.scale(grads.kwargs["grad_tensors"], inplace=True)
            torch.autograd.backward(*grads.args, **grads.kwargs)
            grad_tensors = [p.grad for _, p in self._trainables() if p.grad is not None]
            grad_tensors += [
                x.grad for x in iterate_recursive(lambda x: hasattr(x, "grad"), inputs) if x.grad is not None
            ]
            found_inf = self._grad_scaler.unscale(grad_tensors)
            grad_get = (lambda x: x.grad.zero_() if x.grad is not None else x.grad) if found_inf else (lambda x: x.grad)
            return convert_recursive(lambda x: hasattr(x, "grad"), grad_get, inputs)

        return output, backprop

    def finish_update(self, optimizer: Any) -> None:
        """thinc's `finish_update` over the trainable parameters only, after `before_step`."""
        if self.before_step is not None:
            self.before_step()
        if not FAST_PATHS["eval_once"]:
            return super().finish_update(optimizer)
        for name, param in self._trainables():
            if param.grad is None:
                continue
            if not self._grad_scaler.found_inf:  # skip the step if any gradient overflowed
                data, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad))
                param.data = xp2torch(data, requires_grad=True, device=param.device)
            param.grad.zero_()
        self._grad_scaler.update()

    def predict(self, inputs: ArgsKwargs) -> Any:
        if not FAST_PATHS["eval_once"]:
            return super().predict(inputs)
        if self._model.training:
            self._model.eval()
        with torch.no_grad():
            return self._model(*inputs.args, **inputs.kwargs)
