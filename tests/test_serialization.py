"""mn.save / mn.load: round trips, resuming training, atomic writes, and files that must be refused."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import manualnet as mn
from manualnet import optim
from manualnet.serialization import METADATA_MEMBER, CheckpointError

# -- round trips ---------------------------------------------------------------------------

def test_module_round_trip_restores_outputs(tmp_path, rng):
    model = mn.Sequential(mn.Linear(4, 5, rng=1), mn.ReLU(), mn.Linear(5, 3, rng=2))
    path = tmp_path / "model.npz"
    mn.save(model, path)
    fresh = mn.Sequential(mn.Linear(4, 5, rng=8), mn.ReLU(), mn.Linear(5, 3, rng=9))
    fresh.load_state_dict(mn.load(path))
    x = rng.standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x), model(x))
    assert np.load(path).files == ["%manualnet", "0.weight", "0.bias", "2.weight", "2.bias"]


def test_nested_checkpoint_round_trips_types_keys_and_dtypes(tmp_path):
    checkpoint = {
        "model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bn.num_batches_tracked": np.array(7)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(2)}}, "param_groups": [
            {"lr": 0.001, "betas": (0.9, 0.999), "amsgrad": False, "params": [0]}]},
        "epoch": 3, "loss": 0.125, "note": "a/b%c", "best": None,
        "masks": [np.array([True, False]), np.zeros((0, 3), np.int16)],
        "a/b": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "": np.complex128(1 + 2j), "..": 1,
    }
    path = tmp_path / "checkpoint.npz"
    mn.save(checkpoint, path)
    loaded = mn.load(path)
    assert_same_structure(loaded, checkpoint)


def assert_same_structure(loaded, expected):
    """Equal values and equal types all the way down: int keys stay int, tuples stay tuples, dtypes stay."""
    assert type(loaded) is type(expected) or isinstance(expected, np.generic), (loaded, expected)
    if isinstance(expected, dict):
        assert list(loaded) == list(expected)
        assert [type(k) for k in loaded] == [type(k) for k in expected]
        for key in expected:
            assert_same_structure(loaded[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(loaded) == len(expected)
        for a, b in zip(loaded, expected):
            assert_same_structure(a, b)
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert isinstance(loaded, np.ndarray) and loaded.dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(loaded, expected)
        assert loaded.flags.writeable
    else:
        assert loaded == expected


def test_resuming_from_a_checkpoint_continues_exactly_like_uninterrupted_training(tmp_path):
    """Train k steps, save model and optimizer, load both into fresh objects, continue: the same numbers."""
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((16, 6)), rng.integers(0, 3, size=16)) for _ in range(10)]

    def train(model, optimizer, batches):
        criterion = mn.CrossEntropyLoss()
        for x, y in batches:
            optimizer.zero_grad()
            criterion(model(x), y)
            model.backward(criterion.backward())
            optimizer.step()

    straight = mn.MLP(6, 8, 3, rng=1, dtype=np.float64)
    train(straight, optim.Adam(straight.parameters(), lr=0.01, amsgrad=True), batches)

    model = mn.MLP(6, 8, 3, rng=1, dtype=np.float64)
    optimizer = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    train(model, optimizer, batches[:4])
    mn.save({"model": model, "optimizer": optimizer, "epoch": 4}, tmp_path / "checkpoint.npz")

    checkpoint = mn.load(tmp_path / "checkpoint.npz")
    resumed = mn.MLP(6, 8, 3, rng=123, dtype=np.float64)
    resumed.load_state_dict(checkpoint["model"])
    resumed_optimizer = optim.Adam(resumed.parameters(), lr=0.5)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    train(resumed, resumed_optimizer, batches[checkpoint["epoch"]:])
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_save_overwrites_an_existing_file_and_accepts_str_paths(tmp_path):
    path = str(tmp_path / "weights.npz")
    mn.save({"w": np.zeros(3)}, path)
    mn.save({"w": np.ones(2)}, path)
    np.testing.assert_array_equal(mn.load(path)["w"], np.ones(2))
    assert os.listdir(tmp_path) == ["weights.npz"]


def test_saved_file_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        mn.save({"w": np.zeros(1)}, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


# -- what save refuses ------------------------------------------------------------------------------

@pytest.mark.parametrize("obj, error, message", [
    ([np.zeros(2)], TypeError, "expected a Module, an Optimizer or a dict"),
    ({"w": np.array([object()])}, TypeError, r"only arrays of numbers can be saved, got dtype object at key path 'w'"),
    ({1.5: np.zeros(1)}, TypeError, "dict keys must be str or int, got 1.5"),
    ({"model": {"w": mn.Parameter(np.zeros(1))}}, TypeError, r"cannot save a Parameter at key path 'model' / 'w'"),
    ({0: np.zeros(1), "0": np.ones(1)}, ValueError, "give the same entry name '0.npy'"),
])
def test_save_rejects_what_it_cannot_store_and_writes_nothing(tmp_path, obj, error, message):
    with pytest.raises(error, match=message):
        mn.save(obj, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="the directory .*missing.* does not exist"):
        mn.save({"w": np.zeros(1)}, tmp_path / "missing" / "m.npz")


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    mn.save({"w": np.arange(3.0)}, path)
    from manualnet import serialization
    written = []

    def failing_write_member(archive, name, array):
        if written:
            raise OSError("disk full")
        written.append(name)
        original(archive, name, array)

    original = serialization._write_member
    monkeypatch.setattr(serialization, "_write_member", failing_write_member)
    with pytest.raises(OSError, match="disk full"):
        mn.save({"w": np.zeros(3), "v": np.zeros(2)}, path)
    assert os.listdir(tmp_path) == ["model.npz"]
    np.testing.assert_array_equal(mn.load(path)["w"], np.arange(3.0))


# -- killed in the middle of a save -----------------------------------------------------------------

SLOW_SAVE = textwrap.dedent("""
    import signal, sys
    import numpy as np
    import manualnet as mn
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if the parent ignores SIGINT
    state = {f"layer{i}.weight": np.full((1024, 1024), float(i)) for i in range(48)}   # 384 MB
    print("saving", flush=True)
    mn.save(state, sys.argv[1])
    print("saved", flush=True)
""")
TEMPORARY_NAME = re.compile(r"\.model\.npz\.[0-9a-f]{16}\.tmp")


def growing_temporary(directory, minimum_bytes, timeout=120.0):
    """Wait until save's temporary file exists and holds more than minimum_bytes; return its path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in directory.glob(".model.npz.*.tmp"):
            try:
                if path.stat().st_size > minimum_bytes:
                    return path
            except FileNotFoundError:
                pass
        time.sleep(0.001)
    raise AssertionError("save never started writing its temporary file")


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killing_a_save_midway_leaves_the_previous_checkpoint_intact(tmp_path, kill_signal):
    target = tmp_path / "model.npz"
    previous = {"layer0.weight": np.arange(12.0).reshape(3, 4)}
    mn.save(previous, target)
    child = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(target)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"saving\n"
        temporary = growing_temporary(tmp_path, minimum_bytes=2**20)
        child.send_signal(kill_signal)
        output, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert b"saved" not in output and child.returncode != 0, "the save finished before the signal arrived"
    assert TEMPORARY_NAME.fullmatch(temporary.name) and temporary.parent == tmp_path

    loaded = mn.load(target)                   # the previous checkpoint, whole
    assert list(loaded) == list(previous)
    np.testing.assert_array_equal(loaded["layer0.weight"], previous["layer0.weight"])
    leftovers = sorted(path.name for path in tmp_path.iterdir() if path != target)
    if kill_signal == signal.SIGINT:
        assert leftovers == []                 # KeyboardInterrupt: save removed its temporary file
    else:
        # SIGKILL gives no chance to clean up: what remains is the hidden, documented
        # temporary name, never a *.npz, and loading it is refused.
        assert leftovers == [temporary.name]
        assert sorted(path.name for path in tmp_path.glob("*.npz")) == ["model.npz"]
        with pytest.raises(CheckpointError, match=re.escape(temporary.name)):
            mn.load(temporary)


# -- files load must refuse ---------------------------------------------------------------------

def npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def metadata_of(members):
    return json.loads(np.load(io.BytesIO(members[METADATA_MEMBER])).tobytes())


def with_metadata(members, metadata):
    members[METADATA_MEMBER] = npy_bytes(np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8))


def edit_metadata(change):
    def edit(members):
        metadata = metadata_of(members)
        change(metadata)
        with_metadata(members, metadata)
    return edit


def rewrite(source, target, change, compression=zipfile.ZIP_STORED):
    """Copy a checkpoint's members ({name: bytes}) into a new zip after ``change`` edits them."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def absurd_header(members):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    members["w.npy"] = header.getvalue() + b"\0" * 48


def nest(depth):
    node = {"value": 1}
    for _ in range(depth):
        node = {"list": [node]}
    return node


HOSTILE = {
    "object array member": (
        lambda m: m.update({"w.npy": npy_bytes(np.array([{"x": 1}, None], dtype=object), allow_pickle=True)}),
        "only arrays of numbers are allowed"),
    "object dtype in metadata": (
        edit_metadata(lambda md: md["tree"]["dict"][0][1].update(dtype="|O")), "only arrays of numbers are allowed"),
    "unexpected member": (lambda m: m.update({"evil.npy": npy_bytes(np.zeros(1))}), r"unexpected member\(s\) \['evil.npy'\]"),
    "missing member": (lambda m: m.pop("w.npy"), "the metadata lists 'w.npy', which the archive lacks"),
    "absurd size in header": (absurd_header, "its header promises"),
    "absurd shape in metadata": (
        edit_metadata(lambda md: md["tree"]["dict"][0][1].update(shape=[10**12])), "but the metadata says"),
    "name that its path does not give": (
        edit_metadata(lambda md: md["tree"]["dict"][0][1].update(array="../../etc/passwd.npy")),
        "named '../../etc/passwd.npy', but its path gives 'w.npy'"),
    "malformed tree": (edit_metadata(lambda md: md.update(tree={"dict": [["w", {"pickle": "x"}]]})), "malformed metadata node"),
    "repeated key": (edit_metadata(lambda md: md["tree"]["dict"].append(md["tree"]["dict"][0])), "repeated dict key"),
    "deep nesting": (edit_metadata(lambda md: md.update(tree={"dict": [["deep", nest(200)]]})), "nests deeper than 64"),
    "metadata not json": (
        lambda m: m.update({METADATA_MEMBER: npy_bytes(np.frombuffer(b"{not json", np.uint8))}), "not valid JSON"),
    "metadata of another format": (edit_metadata(lambda md: md.update(format="torch")), "does not describe"),
    "newer format version": (edit_metadata(lambda md: md.update(version=2)), "format version 2; this manualnet reads version 1"),
    "dtype swapped": (lambda m: m.update({"w.npy": npy_bytes(np.zeros(3, np.float32))}), "holds <f4 .* metadata says <f8"),
    "no metadata": (lambda m: m.pop(METADATA_MEMBER), "not written by manualnet.save"),
}


@pytest.mark.parametrize("change, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_load_refuses_a_tampered_archive_naming_the_file(tmp_path, change, message):
    mn.save({"w": np.arange(3.0)}, tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", change)
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "bad.npz")) + ".*" + message):
        mn.load(tmp_path / "bad.npz")


def test_load_refuses_compressed_and_duplicated_members(tmp_path):
    mn.save({"w": np.arange(3.0)}, tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "zipped.npz", lambda m: None, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="compressed"):
        mn.load(tmp_path / "zipped.npz")
    with zipfile.ZipFile(tmp_path / "good.npz") as archive, \
            pytest.warns(UserWarning, match="Duplicate name"), \
            zipfile.ZipFile(tmp_path / "twice.npz", "w") as twice:
        for name in archive.namelist() + ["w.npy"]:
            twice.writestr(name, archive.read(name))
    with pytest.raises(CheckpointError, match="two members with the same name"):
        mn.load(tmp_path / "twice.npz")


def damaged_copies(good):
    data = good.read_bytes()
    middle = data.index(npy_bytes(np.arange(3.0))[-24:])        # the array's bytes inside the archive
    flipped = bytearray(data)
    flipped[middle] ^= 0xFF
    return {
        "truncated": (data[: len(data) // 2], "damaged, truncated or not an .npz archive"),
        "empty": (b"", "damaged, truncated or not an .npz archive"),
        "text": (b"weights: [1, 2, 3]\n", "damaged, truncated or not an .npz archive"),
        "corrupted byte": (bytes(flipped), "CRC"),
    }


def test_load_refuses_truncated_corrupted_and_non_archive_files(tmp_path):
    mn.save({"w": np.arange(3.0)}, tmp_path / "good.npz")
    for name, (content, message) in damaged_copies(tmp_path / "good.npz").items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + message):
            mn.load(path)


def test_load_refuses_a_plain_numpy_npz_and_missing_paths(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(CheckpointError, match="not written by manualnet.save"):
        mn.load(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(tmp_path / "nowhere.npz")))):
        mn.load(tmp_path / "nowhere.npz")
    with pytest.raises(CheckpointError, match="is a directory"):
        mn.load(tmp_path)


def test_load_never_unpickles(tmp_path, monkeypatch):
    """Even an object member that claims to be harmless is refused before pickle is touched."""
    import pickle

    def no_unpickling(*args, **kwargs):
        raise AssertionError("load unpickled something")

    mn.save({"w": np.arange(3.0)}, tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", HOSTILE["object array member"][0])
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    with pytest.raises(CheckpointError):
        mn.load(tmp_path / "bad.npz")
