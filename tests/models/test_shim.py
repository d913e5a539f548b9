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


def test_a_step_visits_only_trainable_parameters_and_matches_thincs_shim():
    """Our begin_update/finish_update (trainable parameters only) give thinc's exact update."""
    from thinc.api import Adam

    results = []
    for shim_type in (TaggerShim, PyTorchShim):
        module = make_module()
        module[0].weight.requires_grad_(False)  # a frozen weight, as the decoder's base
        shim = shim_type(module)
        optimizer = Adam(0.01)
        x = ArgsKwargs(args=(torch.randn(5, 4),), kwargs={})
        for _ in range(3):
            torch.manual_seed(1)
            out, backprop = shim.begin_update(x)
            backprop(ArgsKwargs(args=(out,), kwargs={"grad_tensors": (torch.ones_like(out),)}))
            shim.finish_update(optimizer)
        results.append({n: p.detach().clone() for n, p in module.named_parameters()})
    ours, thincs = results
    assert all(torch.equal(ours[n], thincs[n]) for n in ours)
    assert not torch.equal(ours["2.weight"], make_module()[2].weight)  # it trained


def test_before_step_runs_before_the_optimizer():
    from thinc.api import Adam

    calls = []
    module = make_module()
    shim = TaggerShim(module, before_step=lambda: calls.append(module[2].weight.grad is not None))
    x = ArgsKwargs(args=(torch.randn(5, 4),), kwargs={})
    out, backprop = shim.begin_update(x)
    backprop(ArgsKwargs(args=(out,), kwargs={"grad_tensors": (torch.ones_like(out),)}))
    shim.finish_update(Adam(0.01))
    assert calls == [True]
