"""Module.load_state_dict against hostile state dicts: each entry is checked against what the
module would have made (structure, dtype, shape, values of running statistics), the error names
the entry, and a refused load changes nothing."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.nn.module import StateDictKeyError


def _net():
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


def _copy(net):
    return {k: np.array(v, copy=True) for k, v in net.state_dict().items()}


def _with(**entries):
    """A good state dict (another net's) with entries replaced; '__' stands for '.'."""
    def make(good):
        return {**good, **{k.replace("__", "."): v for k, v in entries.items()}}
    return make


# (state dict from a good one, error, message); each must leave the module as it was
REFUSED = {
    "not a mapping: a list": (lambda good: list(good.items()), TypeError, "expects a mapping.*got list"),
    "not a mapping: None": (lambda good: None, TypeError, "expects a mapping.*got NoneType"),
    "an int key": (lambda good: {**good, 0: np.ones(1)}, TypeError, "key 0 is of type int"),
    "a missing key": (lambda good: {k: v for k, v in good.items() if k != "2.bias"},
                      StateDictKeyError, r"missing keys \['2.bias'\]"),
    "an unexpected key": (lambda good: {**good, "3.weight": np.ones(1)}, StateDictKeyError,
                          r"unexpected keys \['3.weight'\]"),
    "a bool weight": (_with(**{"0__weight": np.ones((3, 2), bool)}), TypeError,
                      "0.weight has dtype bool; the module's is float32"),
    "an int weight": (_with(**{"0__weight": np.ones((3, 2), np.int64)}), TypeError,
                      "0.weight has dtype int64"),
    "a complex weight": (_with(**{"0__weight": np.ones((3, 2), np.complex64)}), TypeError,
                         "0.weight has dtype complex64"),
    "an object weight": (_with(**{"0__weight": np.array([[None] * 2] * 3)}), TypeError,
                         "0.weight has dtype object"),
    "a string weight": (_with(**{"0__weight": "weights"}), TypeError, "0.weight is of type str"),
    "a None weight": (_with(**{"0__weight": None}), TypeError, "0.weight is of type NoneType"),
    "a dict weight": (_with(**{"0__weight": {"a": 1}}), TypeError, "0.weight is of type dict"),
    "a ragged list": (_with(**{"0__bias": [1.0, [2.0], 3.0]}), ValueError, "0.bias is not an array of numbers"),
    "a wrong shape": (_with(**{"0__weight": np.ones((2, 3), np.float32)}), ValueError,
                      r"0.weight has shape \(2, 3\).*\(3, 2\)"),
    "float64 beyond float32": (_with(**{"0__bias": np.array([1e300, 0.0, 0.0])}), ValueError,
                               "0.bias holds values beyond the range of float32"),
    "a negative running_var": (_with(**{"1__running_var": -np.ones(3, np.float32)}), ValueError,
                               r"1.running_var holds a negative variance \(-1\)"),
    "a NaN running_var": (_with(**{"1__running_var": np.array([1, np.nan, 1], np.float32)}),
                          ValueError, "1.running_var holds inf or NaN"),
    "an inf running_var": (_with(**{"1__running_var": np.array([1, np.inf, 1], np.float32)}),
                           ValueError, "1.running_var holds inf or NaN"),
    "an inf running_mean": (_with(**{"1__running_mean": np.array([0, -np.inf, 0], np.float32)}),
                            ValueError, "1.running_mean holds inf or NaN"),
    "a negative num_batches_tracked": (_with(**{"1__num_batches_tracked": np.array(-1)}), ValueError,
                                       "1.num_batches_tracked is -1; a count of batches is >= 0"),
    "a float num_batches_tracked": (_with(**{"1__num_batches_tracked": np.array(2.5)}), TypeError,
                                    "1.num_batches_tracked has dtype float64; the module's is int64"),
    "a bool num_batches_tracked": (_with(**{"1__num_batches_tracked": True}), TypeError,
                                   "1.num_batches_tracked has dtype bool"),
    "a uint64 beyond int64": (_with(**{"1__num_batches_tracked": np.array(2 ** 64 - 1, np.uint64)}),
                              ValueError, "num_batches_tracked holds 18446744073709551615, outside"),
    "a Python int beyond int64": (_with(**{"1__num_batches_tracked": 10 ** 30}), TypeError,
                                  "num_batches_tracked has dtype object"),
}


@pytest.mark.parametrize("make,error,message", REFUSED.values(), ids=REFUSED.keys())
def test_a_hostile_state_dict_is_refused_by_name_and_changes_nothing(make, error, message):
    net, other = _net(), _net()
    net(mg.tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)))  # move the statistics
    before = _copy(net)
    with pytest.raises(error, match=message):
        net.load_state_dict(make(_copy(other)))
    after = _copy(net)
    assert after.keys() == before.keys()
    for k in before:
        assert after[k].dtype == before[k].dtype, k
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_missing_keys_are_a_key_error_and_a_value_error_printed_plainly():
    with pytest.raises(ValueError) as e:
        _net().load_state_dict({})
    assert isinstance(e.value, KeyError) and str(e.value).startswith("load_state_dict: missing keys")


# (entry, value, what the module holds after): what is accepted, and how it is stored
ACCEPTED = {
    "float64 into float32, rounded as torch's copy_": ("0.bias", np.array([0.1, 1.0, -2.0]),
                                                       np.array([0.1, 1.0, -2.0], np.float32)),
    "float16 into float32": ("0.bias", np.array([0.5, 1, 2], np.float16), np.array([0.5, 1, 2], np.float32)),
    "a list of floats": ("0.bias", [1.0, 2.0, 3.0], np.array([1, 2, 3], np.float32)),
    "a Tensor": ("0.bias", mg.tensor(np.array([4.0, 5, 6], np.float32)), np.array([4, 5, 6], np.float32)),
    "a NaN parameter, as torch": ("0.bias", np.array([np.nan, 0, 0], np.float32),
                                  np.array([np.nan, 0, 0], np.float32)),
    "a Python int count": ("1.num_batches_tracked", 7, np.array(7, np.int64)),
    "an int32 count": ("1.num_batches_tracked", np.array(7, np.int32), np.array(7, np.int64)),
    "a zero variance": ("1.running_var", np.zeros(3, np.float32), np.zeros(3, np.float32)),
}


@pytest.mark.parametrize("entry,value,stored", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_is_accepted_is_cast_to_the_modules_dtype(entry, value, stored):
    net = _net()
    ids = {k: id(v) for k, v in net.state_dict().items()}
    net.load_state_dict({**_copy(net), entry: value})
    got = net.state_dict()[entry]
    assert got.dtype == stored.dtype and id(got) == ids[entry]  # in place, in the module's dtype
    np.testing.assert_array_equal(got, stored)


def test_a_state_dict_that_holds_the_modules_own_arrays_swapped_loads_both():
    """Values are copied before any is written: a swap does not read a half-written array."""
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    sd = net.state_dict()
    w0, w1 = sd["0.weight"].copy(), sd["1.weight"].copy()
    net.load_state_dict({**sd, "0.weight": sd["1.weight"], "1.weight": sd["0.weight"]})
    np.testing.assert_array_equal(net[0].weight.data, w1)
    np.testing.assert_array_equal(net[1].weight.data, w0)


def test_a_negative_running_var_can_no_longer_make_evaluation_nan():
    """The issue's crafted checkpoint: running_var -1 trained to val_loss nan."""
    bn = nn.BatchNorm1d(2).eval()
    with pytest.raises(ValueError, match="running_var"):
        bn.load_state_dict({**_copy(bn), "running_var": np.full(2, -1.0, np.float32)})
    assert np.isfinite(bn(mg.tensor(np.ones((3, 2), np.float32))).data).all()


def test_a_modules_own_check_sees_each_entry_by_its_local_name():
    seen = []

    class Checked(nn.Module):
        _buffers = ("count",)

        def __init__(self):
            self.inner = nn.Linear(1, 1)
            self.count = np.zeros((), np.int64)

        def _check_state(self, name, value):
            seen.append(name)
            if name == "count" and value > 10:
                raise ValueError("is more than 10")

    m = nn.Sequential(Checked())
    m.load_state_dict(_copy(m))
    assert seen == ["count"]  # the Linear's entries go to the Linear's own (default) check
    with pytest.raises(ValueError, match=r"load_state_dict: 0.count is more than 10"):
        m.load_state_dict({**_copy(m), "0.count": np.array(11)})


def test_a_module_on_the_device_checks_and_loads_a_host_state_dict(device):
    from conftest import to_np
    net = _net().to(device)
    good = {k: to_np(v).copy() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="1.running_var holds a negative variance"):
        net.load_state_dict({**good, "1.running_var": np.full(3, -2.0, np.float32)})
    np.testing.assert_array_equal(to_np(net[1].running_var), good["1.running_var"])
    net.load_state_dict({**good, "0.bias": np.array([1.0, 2.0, 3.0])})  # float64, on the host
    assert mg.backend.device_of(net[0].bias.data) == mg.backend.parse_device(device)
    assert net[0].bias.data.dtype == np.float32
    np.testing.assert_array_equal(to_np(net[0].bias.data), [1, 2, 3])
