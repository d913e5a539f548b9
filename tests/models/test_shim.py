import torch
from thinc.api import ArgsKwargs, PyTorchShim

from spacy_repsl.models.shim import TaggerShim


def make_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))


def test_prediction_runs_in_eval_mode_and_training_switches_back():
    module = make_module()
    shim = TaggerShim(module)
    x = ArgsKwargs(args=(torch.randn(5, 4),), kwargs={})
    assert module.training
    first = shim.predict(x)
    assert not module.training  # stays in eval mode across a stream of predictions
    assert torch.equal(first, shim.predict(x))  # no dropout
    shim.begin_update(x)
    assert module.training and module[1].training
    assert torch.equal(first, shim.predict(x))


def test_same_predictions_as_thincs_shim():
    module = make_module()
    x = ArgsKwargs(args=(torch.randn(5, 4),), kwargs={})
    ours = TaggerShim(module).predict(x)
    theirs = PyTorchShim(module).predict(x)
    assert torch.equal(ours, theirs)
    assert not ours.requires_grad
