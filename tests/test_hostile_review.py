"""A hostile review of issue 19's fixes: each test here failed before its fix."""
import copy

import numpy as np
import pytest

import minigrad as mg
import optim

# every optimizer that has the switch, with the options it needs to be made
SWITCHES = [("SGD", dict(lr=0.1, momentum=0.9), "maximize"), ("SGD", dict(lr=0.1, momentum=0.9), "nesterov"),
            ("Adam", {}, "amsgrad"), ("AdamW", {}, "maximize"), ("RMSprop", {}, "centered"),
            ("NAdam", {}, "decoupled_weight_decay"), ("Prodigy", {}, "safeguard_warmup"),
            ("Adam", {}, "foreach"), ("Adam", {}, "fused")]


@pytest.mark.parametrize("name,kw,flag", SWITCHES)
@pytest.mark.parametrize("value", ["no", "False", 2, [True]])
def test_switch_must_be_a_bool(name, kw, flag, value):
    """maximize="no" is truthy: it maximized the loss, silently; a loaded group the same."""
    p = mg.nn.Parameter(np.ones((3, 3)))
    with pytest.raises(TypeError, match=f"Invalid {flag}: "):
        getattr(optim, name)([p], **kw, **{flag: value})
    opt = getattr(optim, name)([p], **kw)
    if hasattr(opt, "train"):
        opt.train()
    p.grad = np.ones((3, 3))
    opt.step()
    saved = opt.state_dict()
    before = copy.deepcopy(saved)
    bad = copy.deepcopy(saved)
    bad["param_groups"][0][flag] = value
    with pytest.raises(ValueError, match=f"Invalid {flag}: "):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]


def test_switch_accepts_numpy_bool_and_none_where_torch_does():
    p = mg.nn.Parameter(np.ones(3))
    opt = optim.Adam([p], maximize=np.bool_(True), foreach=None, fused=np.bool_(False))
    g = opt.param_groups[0]
    assert g["maximize"] is True and g["foreach"] is None and g["fused"] is False
    with pytest.raises(TypeError, match="Invalid maximize: None"):
        optim.Adam([p], maximize=None)
