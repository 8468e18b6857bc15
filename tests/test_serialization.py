"""mn.save / mn.load: round trips, resuming training, atomic writes, and files that must be refused."""

import io
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import manualnet as mn
from manualnet import optim
from manualnet import serialization
from manualnet._checkpoint_format import MAX_CENTRAL_DIRECTORY_BYTES, MAX_METADATA_BYTES, METADATA_MEMBER
from manualnet.serialization import CheckpointError

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
    # What a zip archive could not give back: zipfile cuts a name at NUL, stores UTF-8, counts bytes in 16 bits.
    ({"model": {"a\x00b": np.zeros(1)}}, ValueError,
     r"cannot contain the NUL character '\\x00', at key path 'model' / 'a\\x00b'"),
    ({"w\udc80": np.zeros(1)}, ValueError, r"not valid Unicode \(surrogates not allowed\), at key path 'w\\udc80'"),
    ({"k" * 70_000: np.zeros(1)}, ValueError, "member name of 70004 bytes, more than the 65535 a zip archive allows"),
    ({"losses": [0.5] * 300_000}, ValueError,
     r"takes \d+ bytes to describe \(0 arrays\), more than the 4194304 that load accepts"),
])
@pytest.mark.slow
def test_save_rejects_what_it_cannot_store_and_writes_nothing(tmp_path, obj, error, message):
    with pytest.raises(error, match=message):
        mn.save(obj, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_a_nul_in_a_key_without_an_array_round_trips(tmp_path):
    """Only member names are cut at NUL; a key that holds a plain value lives in the metadata's JSON."""
    mn.save({"note\x00": "kept", "w": np.zeros(1)}, tmp_path / "m.npz")
    assert mn.load(tmp_path / "m.npz")["note\x00"] == "kept"


@pytest.mark.parametrize("name", ["m" * 250, "m" * 255, "é" * 125 + ".npz"], ids=["250", "255", "multibyte"])
def test_save_accepts_names_up_to_the_file_system_limit(tmp_path, monkeypatch, name):
    """The temporary name is shortened, at a character boundary, so it fits 255 bytes like the name itself."""
    temporaries = []
    real_replace = os.replace
    monkeypatch.setattr(serialization.os, "replace", lambda src, dst: (temporaries.append(src), real_replace(src, dst)))
    mn.save({"w": np.arange(3.0)}, tmp_path / name)
    np.testing.assert_array_equal(mn.load(tmp_path / name)["w"], np.arange(3.0))
    temporary = os.path.basename(temporaries[0])
    assert len(os.fsencode(temporary)) <= 255 and re.fullmatch(r"\.m*é*\.[0-9a-f]{16}\.tmp", temporary)
    assert os.listdir(tmp_path) == [name]


def test_save_writes_through_a_symbolic_link_as_torch_save_does(tmp_path):
    """The link stays a link; the file it names gets the new checkpoint, replaced atomically beside it."""
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "epoch3.npz"
    mn.save({"w": np.zeros(2)}, target)
    link = tmp_path / "latest.npz"
    link.symlink_to(os.path.join("runs", "epoch3.npz"))
    mn.save({"w": np.ones(2)}, link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("runs", "epoch3.npz")
    np.testing.assert_array_equal(mn.load(target)["w"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["latest.npz", "runs"] and os.listdir(tmp_path / "runs") == ["epoch3.npz"]

    dangling = tmp_path / "next.npz"
    dangling.symlink_to(os.path.join("runs", "epoch4.npz"))
    mn.save({"w": np.full(2, 4.0)}, dangling)                 # like open(path, "wb"): creates the target
    assert dangling.is_symlink() and mn.load(tmp_path / "runs" / "epoch4.npz")["w"].tolist() == [4.0, 4.0]


def test_save_refuses_a_link_loop_a_directory_and_a_fifo_and_changes_nothing(tmp_path):
    (tmp_path / "a.npz").symlink_to("b.npz")
    (tmp_path / "b.npz").symlink_to("a.npz")
    with pytest.raises(OSError, match="symbolic links form a loop"):
        mn.save({"w": np.zeros(1)}, tmp_path / "a.npz")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="folder.npz.*it is a directory"):
        mn.save({"w": np.zeros(1)}, tmp_path / "folder.npz")
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(OSError, match=r"pipe.npz.*it is a FIFO \(named pipe\), not a regular file"):
        mn.save({"w": np.zeros(1)}, tmp_path / "pipe.npz")
    assert (tmp_path / "a.npz").is_symlink() and (tmp_path / "folder.npz").is_dir()
    assert (tmp_path / "pipe.npz").is_fifo() and len(os.listdir(tmp_path)) == 4


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
@pytest.mark.slow
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
    "shape null in metadata": (
        edit_metadata(lambda md: md["tree"]["dict"][0][1].update(shape=None)), "a malformed shape None for 'w.npy'"),
    "dtype null in metadata": (
        edit_metadata(lambda md: md["tree"]["dict"][0][1].update(dtype=None)), "has dtype None; only arrays of numbers"),
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


# -- flag bits, fuzzing, and what load must never do: hang, run away, raise another type ----------

def with_flag_bits(data, bits):
    """Set zip flag bits in every local header (offset 6) and central-directory entry (offset 8)."""
    data = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset] |= bits
            start = data.find(signature, start + 1)
    return bytes(data)


@pytest.mark.parametrize("bits, meaning", [(0x01, "encrypted"), (0x20, "compressed patched data"),
                                           (0x40, "strong encryption")])
def test_load_refuses_encrypted_or_transformed_members_naming_the_file(tmp_path, bits, meaning):
    """zipfile itself raises RuntimeError (bit 0) or NotImplementedError (bits 5, 6) for these."""
    mn.save({"w": np.arange(3.0)}, tmp_path / "good.npz")
    path = tmp_path / "flagged.npz"
    path.write_bytes(with_flag_bits((tmp_path / "good.npz").read_bytes(), bits))
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + f".*has zip flag bits 0x{bits:04x}"):
        mn.load(path)


@pytest.mark.slow
def test_load_raises_only_checkpoint_error_for_damaged_copies_of_a_real_checkpoint(tmp_path):
    """Fuzz: truncations and random byte flips of a model + Adam checkpoint are refused by name, or load intact.

    A flip in a field nothing depends on (a timestamp) may load; then the values must be the saved ones.
    """
    model = mn.MLP(6, 5, 3, rng=0)
    optimizer = optim.Adam(model.parameters())
    for p in model.parameters():
        p.grad += 1.0
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}
    mn.save(checkpoint, tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    rng = np.random.default_rng(10)
    damaged = [data[:cut] for cut in range(0, len(data), 23)]         # 259 truncations, then 500 flips
    for _ in range(500):
        flipped = bytearray(data)
        for position in rng.integers(len(data), size=rng.integers(1, 4)):
            flipped[position] ^= 1 << int(rng.integers(8))
        damaged.append(bytes(flipped))
    path = tmp_path / "damaged.npz"
    loaded = 0
    for content in damaged:
        path.write_bytes(content)
        try:
            result = mn.load(path)
        except CheckpointError as error:
            assert str(path) in str(error)
        else:
            assert_same_structure(result, checkpoint)
            loaded += 1
    assert loaded < len(damaged) // 10          # the fuzz reached the checks, not only harmless bytes


@pytest.mark.slow
def test_load_refuses_an_oversized_metadata_member_before_parsing_it(tmp_path, monkeypatch):
    """A valid but 5 MiB tree (the issue's 63 MiB one took 1.08 GiB and 7.6 s to parse) is refused unread."""
    tree = {"list": [{"value": 0}] * (5 * 2**20 // 12)}
    metadata = json.dumps({"format": "manualnet-checkpoint", "version": 1, "tree": tree}).encode()
    assert len(metadata) > MAX_METADATA_BYTES
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as archive:
        archive.writestr(METADATA_MEMBER, npy_bytes(np.frombuffer(metadata, np.uint8)))
    monkeypatch.setattr(serialization.json, "loads", lambda *args: pytest.fail("the metadata was parsed"))
    with pytest.raises(CheckpointError, match=f"big.npz.*the metadata member is {len(metadata) + 128} bytes, "
                                              f"more than the {MAX_METADATA_BYTES} allowed"):
        mn.load(tmp_path / "big.npz")


def test_load_refuses_an_oversized_table_of_members_before_zipfile_parses_it(tmp_path, monkeypatch):
    """150 members with 60,000-character names: a 9 MB central directory costs ~6x that to parse."""
    with zipfile.ZipFile(tmp_path / "wide.npz", "w") as archive:
        for index in range(150):
            archive.writestr(f"{index:03d}" + "x" * 60_000, b"")
    monkeypatch.setattr(serialization.zipfile, "ZipFile", lambda *args: pytest.fail("zipfile parsed the table"))
    with pytest.raises(CheckpointError, match=r"wide.npz.*its table of members is \d+ bytes, "
                                              f"more than the {MAX_CENTRAL_DIRECTORY_BYTES}"):
        mn.load(tmp_path / "wide.npz")


@pytest.mark.slow
def test_a_structure_near_the_metadata_bound_saves_and_loads(tmp_path):
    """Long member names are where the table of members grows fastest: it still fits its bound."""
    state = {"p" * 60_000: {index: np.zeros(0, np.uint8) for index in range(65)}}
    mn.save(state, tmp_path / "wide.npz")
    with zipfile.ZipFile(tmp_path / "wide.npz") as archive:
        assert archive.getinfo(METADATA_MEMBER).file_size > 0.9 * MAX_METADATA_BYTES
    assert list(mn.load(tmp_path / "wide.npz")["p" * 60_000]) == list(range(65))


LOAD_IN_A_CHILD = textwrap.dedent("""
    import os, stat, sys
    import manualnet as mn
    from manualnet.serialization import CheckpointError
    if sys.argv[2] == "pretend-regular":      # the path changes kind between the check and the open
        real_stat = os.stat
        os.stat = lambda path, *args, **kwargs: real_stat(sys.argv[3])
    try:
        mn.load(sys.argv[1])
    except CheckpointError as error:
        print("CheckpointError:", error)
""")


def load_in_a_child(path, *options, timeout=60):
    """mn.load(path) in a child process with a time limit and a 4 GiB address-space limit.

    A regression must fail the test, not hang the suite (a FIFO blocks forever) or
    eat the machine's memory (/dev/zero never ends).
    """
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    try:
        done = subprocess.run([sys.executable, "-c", LOAD_IN_A_CHILD, str(path), *(options or ["-"])],
                              capture_output=True, text=True, timeout=timeout, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mn.load({str(path)!r}) did not return within {timeout} s")
    return done.stdout + done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.slow
def test_load_refuses_a_symlink_to_an_endless_device_at_once(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    link = tmp_path / "model.npz"
    link.symlink_to(device)
    output = load_in_a_child(link)
    assert re.search(f"CheckpointError: load: {re.escape(repr(str(link)))} is a character device, "
                     "not a checkpoint file", output), output


def test_load_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "model.npz")
    output = load_in_a_child(tmp_path / "model.npz")
    assert "model.npz' is a FIFO (named pipe), not a checkpoint file" in output, output


@pytest.mark.slow
def test_load_refuses_a_fifo_that_was_a_regular_file_when_checked(tmp_path):
    """The check is repeated on the opened file, which O_NONBLOCK opened without blocking."""
    mn.save({"w": np.zeros(1)}, tmp_path / "good.npz")
    os.mkfifo(tmp_path / "model.npz")
    output = load_in_a_child(tmp_path / "model.npz", "pretend-regular", tmp_path / "good.npz")
    assert "model.npz' is a FIFO (named pipe), not a checkpoint file" in output, output


def test_load_refuses_a_socket(tmp_path):
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "model.npz"))
        with pytest.raises(CheckpointError, match="model.npz' is a socket, not a checkpoint file"):
            mn.load(tmp_path / "model.npz")
