"""mg.save / mg.load: round trips, refusals, a fuzz of damaged files, PyTorch interop."""
import collections
import json
import os
import pickle
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
import optim
from minigrad.serialization import CheckpointError, from_bytes, to_bytes
from conftest import to_np, torch_or_skip


def same(a, b):
    """Equal values and equal types, all the way down (arrays: dtype, shape and bits)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b) and all(type(k) is type(j) for k, j in zip(a, b))
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


ROUND_TRIPS = {
    "arrays of every dtype": {str(np.dtype(t)): np.arange(6).astype(t).reshape(2, 3) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
        np.float16, np.float32, np.float64)},
    "0-d, empty, strided, big-endian": {"s": np.array(2.5), "e": np.zeros((0, 3), np.float32),
                                        "t": np.arange(6.0).reshape(2, 3).T, "b": np.arange(3, dtype=">i4")},
    "int keys, tuples, None, bools": {0: {"step": 3, "betas": (0.9, 0.999)}, 1: None, "ok": True, "x": [False, "s"]},
    "non-finite and huge numbers": [float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 2 ** 128 + 1, -2 ** 60],
    "NumPy scalars stay NumPy scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64(0.1)],
    "Counter (MultiStepLR's milestones)": {"milestones": collections.Counter({50: 1, 75: 2})},
    "keys that collide as dotted names": {"a.b": np.ones(2), "a": {"b": np.zeros(2)}, "__metadata__": np.ones(1)},
    "a bare array": np.arange(4.0),
    "strings with quotes and unicode": {'"minigrad.sha256":"': "naïve \u2603 \"q\"", "": ""},
}


@pytest.mark.parametrize("obj", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip(tmp_path, obj):
    mg.save(obj, tmp_path / "x.safetensors")
    back = mg.load(tmp_path / "x.safetensors")
    same(obj if not isinstance(obj, dict) or "b" not in obj or obj["b"].dtype.byteorder != ">"
         else {**obj, "b": obj["b"].astype("<i4")}, back)
    assert os.listdir(tmp_path) == ["x.safetensors"]  # the temporary file was renamed, not left


def test_loaded_arrays_are_writable_copies(tmp_path):
    mg.save({"w": np.ones(3)}, tmp_path / "w")
    w = mg.load(tmp_path / "w")["w"]
    w += 1
    assert (w == 2).all()


def test_module_optimizer_and_scheduler_state_dicts_resume_bit_for_bit(tmp_path):
    def run(steps, model, opt, sched):
        for _ in range(steps):
            x = mg.tensor(np.linspace(-1, 1, 8).reshape(4, 2))
            loss = (model(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    def make():
        mg.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))
        opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
        return model, opt, optim.lr_scheduler.MultiStepLR(opt, [3, 6], gamma=0.5)

    whole = make()
    run(10, *whole)
    first = make()
    run(4, *first)
    mg.save({"model": first[0].state_dict(), "opt": first[1].state_dict(), "sched": first[2].state_dict()},
            tmp_path / "ck")
    ck = mg.load(tmp_path / "ck")
    second = make()
    second[0].load_state_dict(ck["model"])
    second[1].load_state_dict(ck["opt"])
    second[2].load_state_dict(ck["sched"])
    run(6, *second)
    for (k, a), b in zip(whole[0].state_dict().items(), second[0].state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert whole[2].get_last_lr() == second[2].get_last_lr()


@pytest.mark.parametrize("obj,error,message", [
    ({"s": {1, 2}}, TypeError, r"obj\['s'\] is a set"),
    ({(1, 2): 3}, TypeError, "dict keys must be str or int"),
    ({"f": lambda: 0}, TypeError, "is a function"),
    ({"t": mg.tensor([1.0])}, TypeError, r"save tensor.data"),
    ({"c": np.ones(2, np.complex128)}, ValueError, "dtype complex128"),
    ({"o": np.array([None])}, ValueError, "dtype object"),
])
def test_unsupported_objects_are_refused_and_nothing_is_written(tmp_path, obj, error, message):
    with pytest.raises(error, match=message):
        mg.save(obj, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_a_structure_that_contains_itself_is_refused(tmp_path):
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested more than"):
        mg.save(loop, tmp_path / "x")


class _RunsCode:
    """Under pickle, loading this object calls open(marker, 'w'): code named by the file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("header_bytes", [640, 896, 1152, 1408])
def test_a_file_whose_header_length_begins_like_a_pickle_loads(tmp_path, header_bytes):
    # the 8-byte header length 640 is b"\x80\x02\0\0...", a pickle's first two bytes
    import struct
    path = tmp_path / "save.safetensors"
    mg.save({"w": np.arange(3.0), "note": ""}, path)
    start = header_bytes - struct.unpack("<Q", path.read_bytes()[:8])[0]  # one byte per "x"
    for pad in range(max(0, start - 16), start + 16):
        mg.save({"w": np.arange(3.0), "note": "x" * pad}, path)
        if struct.unpack("<Q", path.read_bytes()[:8])[0] == header_bytes:
            break
    else:
        pytest.fail(f"no padding gave a header of {header_bytes} bytes")
    assert path.read_bytes()[:1] == b"\x80"
    loaded = mg.load(path)
    assert loaded["note"] == "x" * pad and np.array_equal(loaded["w"], np.arange(3.0))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"model": _RunsCode(str(marker))}, protocol=protocol))
    with pytest.raises(CheckpointError, match="is a pickle .* never loaded") as e:
        mg.load(path)
    assert "\n" not in str(e.value) and not marker.exists()


def _rewrite_meta(data, edit):
    """A file whose minigrad metadata was edited, with its checksum recomputed (so only the
    structure checks stand between it and the caller)."""
    from minigrad import serialization as s
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    info = json.loads(header["__metadata__"]["minigrad"])
    edit(info, header)
    text = json.dumps(info).replace('"@1e999"', "1e999")  # a literal that parses as inf
    header["__metadata__"] = {"minigrad": text, s._DIGEST_KEY: s._ZERO_DIGEST}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    out = bytearray(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    start = s._digest_position(out, s._ZERO_DIGEST)
    out[start:start + 64] = s._digest(out, start).encode()
    return bytes(out)


def _set_tree(tree):
    return lambda info, header: info.__setitem__("tree", tree)


@pytest.mark.parametrize("edit,message", [
    (_set_tree({"module": "os.system"}), "unknown node"),
    (_set_tree({"dict": [["w", {"array": "missing"}]]}), "missing or named twice"),
    (_set_tree({"dict": [["w", {"array": "w"}], ["v", {"array": "w"}]]}), "missing or named twice"),
    (_set_tree({"dict": []}), r"are not part of the saved object"),
    (_set_tree({"dict": [["w", {"scalar": "w"}]]}), "scalar 'w' has shape"),
    (_set_tree({"dict": [["w", {"array": "w"}], ["w", 1]]}), "repeated dict key"),
    (_set_tree({"dict": [[1.5, {"array": "w"}]]}), "bad or repeated dict key"),
    (_set_tree({"dict": [["w", {"array": "w"}], ["x", {"float": "0x1p3"}]]}), "unknown node"),
    (_set_tree({"dict": [["w", {"array": "w"}], ["x", {"int": "--5"}]]}), "unknown node"),
    (_set_tree({"dict": [["w", {"array": "w"}], ["x", "@1e999"]]}), "overflows"),
    (lambda info, header: info.__setitem__("format", "minigrad-99"), "not a minigrad-1 file"),
    (lambda info, header: header["w"].__setitem__("dtype", "F8_E4M3"), "corrupt safetensors header"),
    (lambda info, header: header["w"].__setitem__("shape", [2, 2]), "has 24 bytes for shape"),
    (lambda info, header: header["w"].update(shape=[2], data_offsets=[0, 16]), "bytes of tensor data"),
])
def test_well_checksummed_files_with_bad_structure_are_refused(edit, message):
    data = to_bytes({"w": np.ones(3)})
    with pytest.raises(CheckpointError, match=message):
        from_bytes(_rewrite_meta(data, edit))


def test_deep_nesting_in_a_file_is_refused():
    tree = "x"
    for _ in range(500):
        tree = [tree]
    data = _rewrite_meta(to_bytes({"w": np.ones(1)}),
                         _set_tree({"dict": [["w", {"array": "w"}], ["deep", tree]]}))
    with pytest.raises(CheckpointError, match="nested more than"):
        from_bytes(data)


_GOOD = to_bytes({"model": {"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4)},
                  "state": {0: {"step": 3, "exp_avg": np.ones(4)}}, "betas": (0.9, 0.999),
                  "rng": {"state": 2 ** 127 + 5}, "loss": [float("nan"), 1.5]})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_damaged_files_always_give_checkpoint_error(data):
    kind = data.draw(st.sampled_from(["truncate", "flip", "random", "splice"]))
    if kind == "truncate":
        bad = _GOOD[:data.draw(st.integers(0, len(_GOOD) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(_GOOD) - 1))
        bad = bytearray(_GOOD)
        bad[i] ^= 1 << data.draw(st.integers(0, 7))
        bad = bytes(bad)
    elif kind == "random":
        bad = data.draw(st.binary(max_size=400))
    else:  # a plausible length prefix in front of random bytes
        body = data.draw(st.binary(max_size=300))
        bad = struct.pack("<Q", data.draw(st.integers(0, len(body)))) + body
    with pytest.raises(CheckpointError):
        from_bytes(bad)


def test_every_single_bit_flip_is_detected():
    small = to_bytes({"w": np.ones(2, np.float32), "n": 1})
    for i in range(len(small)):
        for bit in range(8):
            bad = bytearray(small)
            bad[i] ^= 1 << bit
            with pytest.raises(CheckpointError):
                from_bytes(bytes(bad))


def test_a_safetensors_file_without_minigrad_metadata_loads_flat(tmp_path):
    from safetensors.numpy import save_file
    save_file({"b": np.ones(2), "a": np.zeros(1, np.int32)}, str(tmp_path / "p"), metadata={"format": "pt"})
    same(mg.load(tmp_path / "p"), {"a": np.zeros(1, np.int32), "b": np.ones(2)})


def test_map_location(tmp_path, device):
    mg.save({"w": np.arange(3.0)}, tmp_path / "w")
    w = mg.load(tmp_path / "w", map_location=device)["w"]
    assert mg.backend.device_of(w) == mg.backend.parse_device(device)
    np.testing.assert_array_equal(to_np(w), np.arange(3.0))
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.load(tmp_path / "w", map_location="tpu")


def _torch_net(torch):
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 2)).double()


def _mg_net():
    return nn.Sequential(nn.Linear(3, 8, dtype=np.float64), nn.BatchNorm1d(8, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 2, dtype=np.float64))


def test_weights_move_to_pytorch_and_back(tmp_path):
    torch = torch_or_skip()
    from safetensors.torch import load_file, save_file
    x = np.linspace(-2, 2, 12).reshape(4, 3)
    ours = _mg_net()
    ours(mg.tensor(x))  # one training-mode pass, so the running statistics are not the defaults
    mg.save(ours.state_dict(), tmp_path / "mg.safetensors")
    theirs = _torch_net(torch)
    theirs.load_state_dict(load_file(str(tmp_path / "mg.safetensors")))  # strict: every name matches
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), ours(mg.tensor(x)).numpy(),
                               rtol=1e-12, atol=1e-12)

    torch.manual_seed(1)
    theirs = _torch_net(torch).eval()
    save_file(theirs.state_dict(), str(tmp_path / "pt.safetensors"))
    back = _mg_net()
    back.load_state_dict(mg.load(tmp_path / "pt.safetensors"))
    back.eval()
    np.testing.assert_allclose(back(mg.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_device_arrays_save_as_their_cpu_copies_and_load_back(tmp_path, device):
    """mg.save of CuPy arrays (strided, 0-d, empty, of several dtypes) and of a device module's
    and optimizer's state_dicts writes the header and tensor bytes that their CPU copies write;
    mg.load puts them on map_location, and a device module loads a CPU file in place."""
    on = mg.backend.to_device
    host = {"strided": np.arange(12.0).reshape(3, 4).T, "zero-d": np.array(3, np.int64),
            "mask": np.array([True, False]), "half": np.arange(3, dtype=np.float16),
            "nested": [np.ones((2, 0), np.float32), (np.arange(4, dtype=np.uint8), 1.5)]}
    dev = {"strided": on(np.arange(12.0).reshape(3, 4), device).T, "zero-d": on(host["zero-d"], device),
           "mask": on(host["mask"], device), "half": on(host["half"], device),
           "nested": [on(host["nested"][0], device), (on(host["nested"][1][0], device), 1.5)]}
    assert contents(to_bytes(dev)) == contents(to_bytes(host))

    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.BatchNorm1d(4, dtype=np.float64)).to(device)
    opt = optim.Adam(net.parameters(), lr=0.1)
    net(mg.tensor(np.linspace(-1, 1, 15).reshape(5, 3), device=device)).sum().backward()
    opt.step()
    saved = {"model": net.state_dict(), "optimizer": opt.state_dict()}
    mg.save(saved, tmp_path / "ckpt")
    host_copy = on_host(saved)
    assert contents((tmp_path / "ckpt").read_bytes()) == contents(to_bytes(host_copy))
    same(mg.load(tmp_path / "ckpt"), host_copy)
    back = mg.load(tmp_path / "ckpt", map_location=device)
    assert all(mg.backend.device_of(v) == mg.backend.parse_device(device) for v in back["model"].values())
    same(on_host(back), host_copy)

    mg.manual_seed(1)
    other = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.BatchNorm1d(4, dtype=np.float64)).to(device)
    other.load_state_dict(mg.load(tmp_path / "ckpt")["model"])  # CPU arrays into device ones
    for name, v in other.state_dict().items():
        assert mg.backend.device_of(v) == mg.backend.parse_device(device), name
        same(to_np(v), host_copy["model"][name])


def contents(data):
    """A save file's header (its digest left out) and tensor bytes: the safetensors writer
    orders the metadata keys differently from call to call, so whole files are not compared."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["__metadata__"].pop("minigrad.sha256")
    return header, data[8 + n:]


def on_host(obj):
    """obj with every array copied to the host (NumPy), the containers kept."""
    if mg.backend.is_array(obj):
        return to_np(obj)
    if isinstance(obj, dict):
        return {k: on_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(on_host(v) for v in obj)
    return obj


# ============================================================================ hostile files on disk

_SIX_GB = 6 * 2 ** 30


def _sparse(path, head, size=_SIX_GB):
    """A file of `size` bytes that begins with `head` and costs no disk (a sparse file)."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def _bad_checksum_big_tensor(path):
    """A valid header and minigrad metadata for a 64 MB tensor, with a digest that is wrong."""
    data = to_bytes({"w": np.zeros(3)})
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    big = 64 * 2 ** 20
    header["w"] = {"dtype": "F64", "shape": [big // 8], "data_offsets": [0, big]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    _sparse(path, struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + big)


HOSTILE_FILES = {
    "6 GB of zeros": (lambda p: _sparse(p, b""), r"header of 0 bytes, file of 6442450944"),
    "a 6 GB header length": (lambda p: _sparse(p, struct.pack("<Q", 5 * 2 ** 30) + b"{"),
                             r"header of 5368709120 bytes"),
    "a header beyond MAX_HEADER": (lambda p: _sparse(p, struct.pack("<Q", 200_000_000) + b"{"),
                                   r"header of 200000000 bytes"),
    "a good file padded to 6 GB": (lambda p: _sparse(p, to_bytes({"w": np.ones(3)})),
                                   r"the header describes 24 \(truncated or padded\)"),
    "a good header, data cut short": (lambda p: p.write_bytes(to_bytes({"w": np.ones(3)})[:-1]),
                                      r"the header describes 24 \(truncated or padded\)"),
    "64 MB whose checksum is wrong": (_bad_checksum_big_tensor, "checksum mismatch"),
    "a FIFO": (lambda p: os.mkfifo(p), r"is a FIFO \(named pipe\); mg.load reads only regular files"),
    "a directory": (lambda p: p.mkdir(), "is a directory; mg.load reads only regular files"),
    "a symlink to a FIFO": (lambda p: (os.mkfifo(str(p) + ".fifo"), os.symlink(str(p) + ".fifo", p)),
                            "is a FIFO"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX files")
@pytest.mark.parametrize("make,message", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_a_hostile_file_is_refused_at_once_without_reading_its_data(tmp_path, make, message):
    """The header is read and checked against the file's size before any data; a FIFO is never
    waited on (the load runs in a thread: a hang fails the test instead of stopping it)."""
    import threading
    import time
    import tracemalloc
    path = tmp_path / "hostile.safetensors"
    make(path)
    outcome = []

    def attempt():
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            mg.load(path)
        except Exception as e:  # noqa: BLE001 (the test looks at what it was)
            outcome.append(e)
        outcome.append(time.perf_counter() - t0)
        outcome.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "mg.load hung"
    error, seconds, peak = outcome
    assert isinstance(error, CheckpointError), error
    assert str(error).startswith(str(path)) and re.search(message, str(error)), error
    assert peak < 8 * 2 ** 20, f"{peak} bytes held to refuse it"  # never the data, at most a chunk
    assert seconds < 2, f"{seconds:.1f} s to refuse it"


def test_a_device_file_is_refused_without_being_read(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(CheckpointError, match="/dev/zero is a character device"):
        mg.load("/dev/zero")
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing")


def test_every_truncation_and_padding_of_a_file_on_disk_is_refused(tmp_path):
    """mg.load reads a file in pieces (header, checksum, data): each cut lands in one of them."""
    good = to_bytes({"w": np.ones(2, np.float32), "n": 1})
    path = tmp_path / "x"
    for cut in list(range(len(good))) + [len(good) + 1, len(good) + 4096]:
        path.write_bytes(good[:cut] if cut < len(good) else good + b"\0" * (cut - len(good)))
        with pytest.raises(CheckpointError):
            mg.load(path)
    path.write_bytes(good)
    assert mg.load(path)["n"] == 1


def test_bit_flips_of_a_file_on_disk_are_refused(tmp_path):
    good = to_bytes({"w": np.ones(2, np.float32), "n": 1})
    path = tmp_path / "x"
    for i in range(0, len(good), 3):
        bad = bytearray(good)
        bad[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError):
            mg.load(path)
