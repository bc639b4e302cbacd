"""Module: parameter discovery, modes, state_dict round trips and their failures, devices."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn


class Net(nn.Module):
    def __init__(self):
        self.emb = nn.Embedding(5, 4)
        self.blocks = [nn.Linear(4, 4), nn.BatchNorm1d(4)]
        self.heads = {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1, bias=False)}
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.drop = nn.Dropout(0.1)

    def forward(self, idx):
        h = self.emb(idx)
        for m in self.blocks:
            h = m(h)
        return self.heads["a"](h).sum() * self.scale + self.heads["b"](h).sum()


def test_parameters_found_in_definition_order_with_dotted_names():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["scale", "emb.weight", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                     "blocks.1.bias", "heads.a.weight", "heads.a.bias", "heads.b.weight"]


def test_shared_parameter_counted_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_train_eval_recurse():
    net = Net().eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip_includes_buffers():
    a, b = Net(), Net()
    a(np.array([0, 1, 2, 3]))  # updates BatchNorm running statistics
    sd = a.state_dict()
    assert "blocks.1.running_mean" in sd and "blocks.1.num_batches_tracked" in sd
    b.load_state_dict(sd)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    assert int(b.blocks[1].num_batches_tracked) == 1


@pytest.mark.parametrize("corrupt", ["missing", "unexpected", "shape"])
def test_bad_state_dict_raises_and_changes_nothing(corrupt):
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    sd = {k: np.zeros_like(v) for k, v in Net().state_dict().items()}
    if corrupt == "missing":
        del sd["heads.b.weight"]
        err, match = KeyError, "missing keys \\['heads.b.weight'\\]"
    elif corrupt == "unexpected":
        sd["extra.weight"] = np.zeros(2)
        err, match = KeyError, "unexpected keys \\['extra.weight'\\]"
    else:
        sd["heads.b.weight"] = np.zeros((2, 4), np.float32)
        err, match = ValueError, r"heads.b.weight has shape \(2, 4\).*\(1, 4\)"
    with pytest.raises(err, match=match):
        net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_load_reports_missing_and_unexpected():
    net = nn.Linear(2, 2)
    missing, unexpected = net.load_state_dict({"weight": np.zeros((2, 2)), "x": np.ones(1)}, strict=False)
    assert missing == ["bias"] and unexpected == ["x"]
    np.testing.assert_array_equal(net.weight.data, 0)


def test_load_keeps_parameter_identity():
    net = nn.Linear(2, 2)
    w = net.weight
    data = w.data
    net.load_state_dict({"weight": np.ones((2, 2)), "bias": np.ones(2)})
    assert net.weight is w and w.data is data and w.data.dtype == np.float32


def test_zero_grad():
    net = nn.Linear(2, 1)
    net(mg.tensor(np.ones((3, 2), np.float32))).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(net.weight.grad, 0)
    net.zero_grad()
    assert net.weight.grad is None


def test_module_to_device(device):
    net = Net()
    net.to(device)
    assert all(p.device.startswith(device) for p in net.parameters())
    assert mg.backend.device_of(net.blocks[1].running_mean).startswith(device)
    loss = net(np.array([0, 1, 2])) if device == "cpu" else net(mg.tensor([0, 1, 2], device=device))
    loss.backward()
    assert all(mg.backend.device_of(p.grad).startswith(device) for p in net.parameters())
    net.to("cpu")
    assert all(p.device == "cpu" for p in net.parameters())


def test_module_to_cuda_without_gpu_changes_nothing():
    if mg.backend.gpu_unavailable_reason() is None:
        pytest.skip("a GPU is available here, so there is no failure to check")
    net = Net()
    with pytest.raises(RuntimeError, match="cannot move to cuda:0"):
        net.to("cuda")
    assert all(p.device == "cpu" for p in net.parameters())
