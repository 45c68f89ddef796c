"""The checkpoint index reader/writer (estimator_ext/_bundle_index.py) and the byte-range
subset writer (estimator_ext/bundle_subset.py), checked against TF's own reader.

Real checkpoints written by TF: every dtype a model holds (strings with NUL and 0xff bytes,
a resource variable, a partitioned variable, a zero-size tensor), hundreds of variables,
two data shards, an object-based tf.train.Checkpoint and an Estimator's. Each is read by
our reader and compared with tf.train.list_variables / load_checkpoint and with the
crc32c TF stored; our rewritten index (many small blocks) must read back in TF unchanged.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext.variables import bundle_index, bundle_subset
from tests.support import subset_model

STRINGS = np.array([b"", b"a", b"nul\x00and\xffff", "\u00e9t\u00e9".encode("utf-8"), b"x" * 300])


def _save_graph_checkpoint(prefix, build, config=None):
    os.makedirs(os.path.dirname(prefix))
    with tf.Graph().as_default():
        build()
        saver = tf.compat.v1.train.Saver(sharded=True)
        with tf.compat.v1.Session(config=config) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix, write_meta_graph=False)


def _dtypes_model():
    rng = np.random.RandomState(0)
    tf.compat.v1.get_variable("f32", initializer=rng.rand(10, 4).astype(np.float32))
    tf.compat.v1.get_variable("f64", initializer=rng.rand(3).astype(np.float64))
    tf.compat.v1.get_variable("f16", initializer=rng.rand(5).astype(np.float16))
    tf.compat.v1.get_variable("i64", initializer=np.arange(-3, 7, dtype=np.int64) * 2**40)
    tf.compat.v1.get_variable("u8", initializer=np.arange(250, 256, dtype=np.uint8))
    tf.compat.v1.get_variable("flag", initializer=np.array([True, False, True]))
    tf.compat.v1.get_variable("scalar", initializer=np.float32(3.5))
    tf.compat.v1.get_variable("empty", initializer=np.zeros([0, 3], np.float32))
    tf.compat.v1.get_variable("res", initializer=np.arange(5, dtype=np.int32), use_resource=True)
    tf.compat.v1.get_variable("words", initializer=tf.constant(STRINGS), trainable=False)
    tf.compat.v1.get_variable(
        "part",
        [10, 3],
        initializer=tf.compat.v1.random_normal_initializer(seed=1),
        partitioner=tf.compat.v1.fixed_size_partitioner(3),
    )


def _many_model():
    for i in range(300):
        tf.compat.v1.get_variable(
            f"tower/layer_{i:03d}/kernel", initializer=np.full([2], i, np.float32)
        )


def _two_shards_model():
    with tf.device("/cpu:0"):
        tf.compat.v1.get_variable("on_cpu0", initializer=np.arange(6, dtype=np.float32))
        tf.compat.v1.get_variable("words", initializer=tf.constant(STRINGS), trainable=False)
    with tf.device("/cpu:1"):
        tf.compat.v1.get_variable("on_cpu1", initializer=np.arange(4, dtype=np.int64))
        tf.compat.v1.get_variable(
            "part",
            [8, 2],
            initializer=tf.compat.v1.ones_initializer(),
            partitioner=tf.compat.v1.fixed_size_partitioner(2),
        )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, trained_subset_model):
    base = tmp_path_factory.mktemp("bundles")
    found = {
        "dtypes": _save_graph_checkpoint(str(base / "dtypes" / "model"), _dtypes_model),
        "many": _save_graph_checkpoint(str(base / "many" / "model"), _many_model),
        "two_shards": _save_graph_checkpoint(
            str(base / "two" / "model"),
            _two_shards_model,
            tf.compat.v1.ConfigProto(device_count={"CPU": 2}),
        ),
    }
    checkpoint = tf.train.Checkpoint(
        v=tf.Variable([1.0, 2.0]), s=tf.Variable(STRINGS), n=tf.Variable(7)
    )
    found["object_based"] = checkpoint.write(str(base / "object" / "ckpt"))
    found["estimator"] = trained_subset_model.latest_checkpoint()  # shared, read-only
    return found


CHECKPOINTS = ["dtypes", "many", "two_shards", "object_based", "estimator"]


def _tf_tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _assert_bit_identical(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        a, b = np.asarray(got[name]), np.asarray(want[name])
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            assert a.tobytes() == b.tobytes(), name


def _data_files(prefix):
    return sorted(tf.io.gfile.glob(prefix + ".data-*"))


# --- primitives ------------------------------------------------------------------------------


def test_crc32c_matches_the_standard_check_values():
    assert bundle_index.crc32c(b"") == 0
    assert bundle_index.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert bundle_index.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 (iSCSI) test vectors
    assert bundle_index.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert bundle_index.crc32c(b"56789", bundle_index.crc32c(b"1234")) == 0xE3069283  # continued
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert bundle_index.unmask_crc(bundle_index.mask_crc(value)) == value
    assert bundle_index.mask_crc(0) == 0xA282EAD8


def test_varints_round_trip_and_truncated_ones_are_refused():
    for value in (0, 1, 127, 128, 300, 2**32, 2**63 - 1):
        encoded = bundle_index.encode_varint(value)
        assert bundle_index.decode_varint(b"z" + encoded, 1) == (value, 1 + len(encoded))
    with pytest.raises(bundle_index.CorruptIndexError, match="runs past the end"):
        bundle_index.decode_varint(b"\x80\x80", 0)
    with pytest.raises(ValueError, match="unsigned"):
        bundle_index.encode_varint(-1)


# --- our reader against TF's ------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_reader_agrees_with_tf_and_with_the_stored_crc32c(checkpoints, name):
    prefix = checkpoints[name]
    index = bundle_index.read_index(prefix)
    reader = tf.train.load_checkpoint(prefix)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert sorted(index.tensor_names()) == sorted(
        name for name, _ in tf.train.list_variables(prefix)
    )
    assert index.header.num_shards == len(_data_files(prefix))
    checked = 0
    for tensor in index.tensor_names():
        entry = index.entries[tensor.encode()]
        assert tf.dtypes.as_dtype(entry.dtype) == dtypes[tensor]
        assert [dim.size for dim in entry.shape.dim] == shapes[tensor]
        keys = index.keys_of(tensor)
        assert len(keys) == 1 + len(entry.slices)
        for key in keys[1:]:
            assert bundle_index.slice_key_name(key) == tensor.encode()
        for key in keys:
            stored = index.entries[key]
            if stored.size and stored.dtype != tf.string.as_datatype_enum:
                data = _read_range(prefix, index, stored)
                assert bundle_index.mask_crc(bundle_index.crc32c(data)) == stored.crc32c, key
                checked += 1
    assert checked >= 1


def _read_range(prefix, index, entry):
    path = bundle_subset.data_file_name(prefix, entry.shard_id, index.header.num_shards)
    with open(path, "rb") as data_file:
        data_file.seek(entry.offset)
        return data_file.read(entry.size)


def test_a_string_tensor_is_one_range_of_varint_lengths_their_crc_and_the_bytes(checkpoints):
    prefix = checkpoints["dtypes"]
    index = bundle_index.read_index(prefix)
    data = _read_range(prefix, index, index.entries[b"words"])
    position, lengths = 0, []
    for _ in STRINGS:
        length, position = bundle_index.decode_varint(data, position)
        lengths.append(length)
    assert lengths == [len(value) for value in STRINGS]
    assert data[position + 4 :] == b"".join(STRINGS)  # 4 bytes: the lengths' checksum


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_rewritten_index_in_many_small_blocks_reads_back_in_tf(checkpoints, name, tmp_path):
    prefix = checkpoints[name]
    with open(prefix + ".index", "rb") as index_file:
        original = index_file.read()
    pairs = bundle_index.parse_table(original)
    for block_size in (64, 1 << 16):
        rewritten = bundle_index.index_bytes(
            bundle_index.BundleIndex.from_table(pairs), block_size=block_size
        )
        assert bundle_index.parse_table(rewritten) == pairs
        copy = str(tmp_path / f"b{block_size}" / "copy")
        os.makedirs(os.path.dirname(copy))
        for data_file in _data_files(prefix):
            shutil.copy(data_file, copy + data_file[len(prefix) :])
        with open(copy + ".index", "wb") as index_file:
            index_file.write(rewritten)
        _assert_bit_identical(_tf_tensors(copy), _tf_tensors(prefix))


# --- malformed indexes --------------------------------------------------------------------------


def _index_table(checkpoints):
    with open(checkpoints["dtypes"] + ".index", "rb") as index_file:
        return index_file.read()


def test_bad_magic_short_file_and_flipped_bytes_are_refused(checkpoints):
    table = _index_table(checkpoints)
    with pytest.raises(bundle_index.CorruptIndexError, match="magic"):
        bundle_index.parse_table(table[:-1] + b"\x00")
    with pytest.raises(bundle_index.CorruptIndexError, match="shorter than its footer"):
        bundle_index.parse_table(table[:20])
    flipped = bytearray(table)
    flipped[10] ^= 0x01
    with pytest.raises(bundle_index.CorruptIndexError, match="Checksum mismatch"):
        bundle_index.parse_table(bytes(flipped))


def test_a_compressed_block_is_refused_as_unsupported():
    pairs = [(b"", b"header"), (b"a", b"1")]
    table = bytearray(bundle_index.build_table(pairs))
    first = bundle_index._BlockBuilder()
    for key, value in pairs:
        first.add(key, value)
    end = len(first.finish())  # the only data block starts at offset 0
    # Mark it snappy-compressed (type 1) with a valid checksum: TF could read it, we do not.
    table[end] = 1
    table[end + 1 : end + 5] = struct.pack(
        "<I", bundle_index.mask_crc(bundle_index.crc32c(bytes(table[: end + 1])))
    )
    with pytest.raises(bundle_index.UnsupportedIndexError, match="compressed \\(type 1\\)"):
        bundle_index.parse_table(bytes(table))


def test_tables_need_ascending_keys_and_a_header():
    with pytest.raises(ValueError, match="strictly ascending"):
        bundle_index.build_table([(b"b", b""), (b"a", b"")])
    with pytest.raises(bundle_index.CorruptIndexError, match="no header"):
        bundle_index.BundleIndex.from_table(
            bundle_index.parse_table(bundle_index.build_table([(b"a", b"")]))
        )


def test_slice_key_names_unescape_ordered_code():
    assert bundle_index.slice_key_name(b"\x00a\x00\xffb\xff\x00c\x00\x01\x02\x80") == b"a\x00b\xffc"
    with pytest.raises(bundle_index.CorruptIndexError, match="no well-formed tensor name"):
        bundle_index.slice_key_name(b"\x00abc")


# --- the subset writer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, names",
    [
        ("dtypes", ["f32", "f16", "i64", "u8", "flag", "scalar", "empty", "res", "words", "part"]),
        ("dtypes", ["words"]),
        ("two_shards", ["words", "part", "on_cpu1"]),
        ("estimator", ["embedding", "parted", "res_bias", "words", "counts", "global_step"]),
    ],
    ids=["dtypes", "strings-only", "two-shards", "estimator-predict"],
)
def test_write_subset_is_bit_identical_in_tf_and_holds_only_the_subset(
    checkpoints, tmp_path, name, names
):
    source = checkpoints[name]
    destination = str(tmp_path / "variables")
    written = bundle_subset.write_subset(source, names, destination, chunk_bytes=5)
    assert sorted(os.listdir(tmp_path)) == ["variables.data-00000-of-00001", "variables.index"]
    assert os.path.getsize(destination + ".data-00000-of-00001") == written
    want = {key: value for key, value in _tf_tensors(source).items() if key in names}
    _assert_bit_identical(_tf_tensors(destination), want)
    index = bundle_index.read_index(destination)
    assert index.header.num_shards == 1
    source_index = bundle_index.read_index(source)
    for key, entry in index.entries.items():  # same bytes, so the same crc32c TF verifies
        assert (
            entry.crc32c == source_index.entries[key].crc32c
            and entry.size == source_index.entries[key].size
        )


def test_write_subset_refuses_unknown_names_and_bad_chunk_sizes(checkpoints, tmp_path):
    with pytest.raises(KeyError, match="nope"):
        bundle_subset.write_subset(checkpoints["dtypes"], ["f32", "nope"], str(tmp_path / "v"))
    with pytest.raises(
        ValueError, match="chunk_bytes must be a positive number of bytes, received 0"
    ):
        bundle_subset.write_subset(
            checkpoints["dtypes"], ["f32"], str(tmp_path / "v"), chunk_bytes=0
        )
    assert os.listdir(tmp_path) == []


def test_write_subset_names_a_truncated_data_file(checkpoints, tmp_path):
    copy = str(tmp_path / "src" / "model")
    os.makedirs(os.path.dirname(copy))
    shutil.copy(checkpoints["dtypes"] + ".index", copy + ".index")
    with open(_data_files(checkpoints["dtypes"])[0], "rb") as data_file:
        data = data_file.read()
    with open(copy + ".data-00000-of-00001", "wb") as data_file:
        data_file.write(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match="ends .* bytes before the end of tensor .*the checkpoint is truncated"
    ):
        bundle_subset.write_subset(copy, ["f32", "words", "part", "res"], str(tmp_path / "v"))


def test_write_subset_logs_bytes_written_while_copying(checkpoints, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        bundle_subset.write_subset(
            checkpoints["dtypes"],
            ["f32", "part"],
            str(tmp_path / "v"),
            chunk_bytes=16,
            progress_interval=0.0,
        )
    messages = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("Writing variables")
    ]
    assert len(messages) > 3
    assert messages[-1] == "Writing variables: 0.0 MiB of 0.0 MiB (100%)"


# --- an index TF reads but we do not: the export falls back to TF's own reader ---------------


def _snappy_literal(data):
    """``data`` as a valid snappy stream made only of literals (no compression needed)."""
    out = bytearray(bundle_index.encode_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        out += (
            bytes([n << 2])
            if n < 60
            else bytes([60 << 2, n])
            if n < 256
            else bytes([61 << 2]) + struct.pack("<H", n)
        )
        out += chunk
    return bytes(out)


def _snappy_table(pairs):
    """One table with every block marked snappy-compressed (type 1), as TF can read."""
    out = bytearray()

    def write(builder):
        handle = bundle_index.encode_varint(len(out))
        typed = _snappy_literal(builder.finish())
        handle += bundle_index.encode_varint(len(typed))
        typed += b"\x01"
        out.extend(typed + struct.pack("<I", bundle_index.mask_crc(bundle_index.crc32c(typed))))
        return handle

    data = bundle_index._BlockBuilder()
    for key, value in pairs:
        data.add(key, value)
    data_handle = write(data)
    metaindex_handle = write(bundle_index._BlockBuilder())
    index = bundle_index._BlockBuilder()
    index.add(pairs[-1][0], data_handle)
    index_handle = write(index)
    out += (metaindex_handle + index_handle).ljust(40, b"\x00") + struct.pack(
        "<Q", bundle_index.TABLE_MAGIC
    )
    return bytes(out)


def test_a_snappy_index_tf_reads_makes_the_export_stream_through_tf_instead(
    checkpoints, tmp_path, caplog
):
    import estimator_ext
    from estimator_ext.variables import strategies

    source = checkpoints["estimator"]
    copy = str(tmp_path / "snappy" / "model.ckpt-2")
    os.makedirs(os.path.dirname(copy))
    for data_file in _data_files(source):
        shutil.copy(data_file, copy + data_file[len(source) :])
    with open(source + ".index", "rb") as index_file:
        pairs = bundle_index.parse_table(index_file.read())
    with open(copy + ".index", "wb") as index_file:
        index_file.write(_snappy_table(pairs))
    _assert_bit_identical(_tf_tensors(copy), _tf_tensors(source))  # TF reads it
    with pytest.raises(bundle_index.UnsupportedIndexError, match="compressed"):
        bundle_index.read_index(copy)
    estimator = subset_model.make_estimator(os.path.dirname(source), 16)
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        export = estimator_ext.export_all_saved_models(
            estimator, str(tmp_path / "exports"), subset_model.receiver_map(), checkpoint_path=copy
        )
    assert export.variables_strategy == strategies.STREAM
    assert any("streaming instead" in record.getMessage() for record in caplog.records)
    exported = _tf_tensors(os.path.join(str(export), "variables", "variables"))
    wanted = {name: value for name, value in _tf_tensors(source).items() if name in exported}
    assert set(exported) == {"embedding", "parted", "res_bias", "words", "counts", "global_step"}
    _assert_bit_identical(exported, wanted)


def test_write_subset_reads_and_writes_through_tf_io_gfile(checkpoints, tmp_path):
    """ram:// stands for the remote filesystems (gs://, s3://) a checkpoint may live on."""
    source = checkpoints["two_shards"]
    ram_source = "ram://bundle-subset/source/model"
    for path in _data_files(source) + [source + ".index"]:
        tf.io.gfile.copy(path, ram_source + path[len(source) :])
    destination = "ram://bundle-subset/export/variables"
    bundle_subset.write_subset(ram_source, ["words", "part"], destination, chunk_bytes=3)
    local = str(tmp_path / "variables")
    for suffix in (".index", ".data-00000-of-00001"):
        tf.io.gfile.copy(destination + suffix, local + suffix)
    want = {key: value for key, value in _tf_tensors(source).items() if key in ("words", "part")}
    _assert_bit_identical(_tf_tensors(local), want)
    for path in tf.io.gfile.glob("ram://bundle-subset/*/*"):
        tf.io.gfile.remove(path)
