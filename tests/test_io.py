"""kerasdl._io: YAML/JSON under limits, atomic files and folders, plain values."""

import dataclasses
import json
import os
import pathlib
import time

import numpy as np
import pytest

from kerasdl import _io
from kerasdl._io import (
    atomic_path,
    load_yaml,
    parse_yaml,
    publish_folder,
    read_config_file,
    read_json,
    read_yaml,
    staged_folder,
    to_plain,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

# The classic 9-level "billion laughs" document: 10**9 strings once expanded.
BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]"
            for a, b in zip("abcdefgh", "bcdefghi")
        ),
    ]
)


# ---------------------------------------------------------------- YAML limits
def test_parse_yaml_reads_like_safe_load_including_ordinary_aliases():
    text = "base: &b {units: 8}\nlayers: [*b, *b]\nlr: 1.0e-3\n"
    assert parse_yaml(text) == {
        "base": {"units": 8},
        "layers": [{"units": 8}, {"units": 8}],
        "lr": 0.001,
    }
    assert parse_yaml("") is None


def test_parse_yaml_refuses_python_object_tags():
    with pytest.raises(ValueError, match="Could not parse spec string as YAML"):
        parse_yaml("!!python/object/apply:os.system ['true']", where="spec string")


def test_billion_laughs_is_refused_quickly():
    assert len(BILLION_LAUGHS) < 600
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"expands to more than 1,000,000 nodes"):
        parse_yaml(BILLION_LAUGHS, where="bomb.yaml")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text", ["&a [*a]", "a: &x {b: *x}", "- &l [1, [*l]]"])
def test_recursive_alias_is_a_value_error_not_recursion(text):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"Refusing x\.yaml: .*contains itself"):
        parse_yaml(text, where="x.yaml")
    assert time.perf_counter() - start < 1.0


def test_node_limit_is_adjustable():
    text = "[" + ", ".join(["1"] * 50) + "]"
    assert len(parse_yaml(text)) == 50
    with pytest.raises(ValueError, match="more than 10 nodes"):
        parse_yaml(text, max_nodes=10)


def test_size_limit_names_the_source_and_the_limit(tmp_path):
    with pytest.raises(
        ValueError, match=r"big text holds 2,001 bytes; the limit is 2,000"
    ):
        parse_yaml("a" * 2001, where="big text", max_bytes=2000)
    path = tmp_path / "big.yaml"
    path.write_text("x: " + "a" * 100)
    with pytest.raises(ValueError, match=r"big\.yaml' holds 51 bytes; the limit is 50"):
        read_yaml(path, max_bytes=50)
    # The default limit is 10 MB.
    assert _io.MAX_BYTES == 10 * 1024 * 1024
    with pytest.raises(ValueError, match="MAX_BYTES = 10 MB"):
        parse_yaml("#" * (_io.MAX_BYTES + 1))


def test_load_yaml_takes_text_or_paths(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\n")
    assert (
        load_yaml(path)
        == load_yaml(str(path))
        == load_yaml("epochs: 3")
        == {"epochs": 3}
    )
    with pytest.raises(ValueError, match=r"Config file '.*missing\.yaml' does not"):
        load_yaml(str(tmp_path / "missing.yaml"), where="Config file")


def test_json_reading(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"a": [1, 2]}')
    assert read_json(path) == read_config_file(path) == {"a": [1, 2]}
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"Could not parse .*m\.json' as JSON"):
        read_json(path)


# ------------------------------------------------------------- atomic files
def test_atomic_writes_replace_the_file(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "héllo")
    assert path.read_text(encoding="utf-8") == "héllo"
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_json_atomic(path, {"x": np.float32(0.5), "shape": (2, 3)})
    assert json.loads(path.read_text()) == {"x": 0.5, "shape": [2, 3]}
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with (
        pytest.raises(RuntimeError, match="disk full"),
        atomic_path(path, suffix=".keras") as tmp,
    ):
        with open(tmp, "w") as f:
            f.write("half of the new con")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_unencodable_json_keeps_the_old_file(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('{"ok": 1}')
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        write_json_atomic(path, {"bad": object()})
    assert path.read_text() == '{"ok": 1}' and os.listdir(tmp_path) == ["h.json"]


def test_atomic_path_leaves_target_alone_when_nothing_is_written(tmp_path):
    path = tmp_path / "best.keras"
    path.write_text("best so far")
    with atomic_path(path, suffix=".keras") as tmp:
        assert not os.path.exists(tmp) and tmp.endswith(".keras")
    assert path.read_text() == "best so far" and os.listdir(tmp_path) == ["best.keras"]


# ----------------------------------------------------------- atomic folders
def test_staged_folder_publishes_new_content_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "model"
    with staged_folder(target, tag="export") as staging:
        assert os.path.basename(staging).startswith(".model.export-")
        write_text_atomic(os.path.join(staging, "f.txt"), "new")
    assert (target / "f.txt").read_text() == "new"
    with staged_folder(target) as staging:
        write_text_atomic(os.path.join(staging, "g.txt"), "newer")
    assert os.listdir(target) == ["g.txt"]  # the old folder is replaced whole
    assert os.listdir(target.parent) == ["model"]  # no staging or backup left


def test_failed_folder_keeps_the_old_folder_and_cleans_up(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "f.txt").write_text("old")
    with (
        pytest.raises(RuntimeError, match="conversion failed"),
        staged_folder(target) as staging,
    ):
        write_text_atomic(os.path.join(staging, "f.txt"), "new")
        raise RuntimeError("conversion failed")
    assert (target / "f.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["model"]


def test_failed_folder_removes_the_parents_it_created(tmp_path):
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "x" / "y" / "model"):
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_publish_folder_puts_the_old_folder_back_when_the_rename_fails(
    tmp_path, monkeypatch
):
    target, staging = tmp_path / "model", tmp_path / ".model.new"
    target.mkdir()
    (target / "f.txt").write_text("old")
    staging.mkdir()
    real_replace = os.replace

    def replace(src, dst):
        if os.fspath(src) == os.fspath(staging):
            raise OSError("rename refused")
        return real_replace(src, dst)

    monkeypatch.setattr(_io.os, "replace", replace)
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)  # two renames
    with pytest.raises(OSError, match="rename refused"):
        publish_folder(staging, target)
    assert (target / "f.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == [".model.new", "model"]


def test_publish_folder_swaps_in_one_step_where_the_system_can(tmp_path, monkeypatch):
    target, staging = tmp_path / "model", tmp_path / ".model.export-0123abcd"
    for folder, text in ((target, "old"), (staging, "new")):
        folder.mkdir()
        (folder / "f.txt").write_text(text)
    if not _io._exchange(str(staging), str(target)):
        pytest.skip("no atomic exchange (renameat2) on this system")
    assert (target / "f.txt").read_text() == "new"
    assert (staging / "f.txt").read_text() == "old"
    # publish_folder never renames the target away when it can swap.
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(
        _io.os, "replace", lambda a, b: replaced.append(a) or real_replace(a, b)
    )
    publish_folder(staging, target)
    assert (target / "f.txt").read_text() == "old" and replaced == []
    assert os.listdir(tmp_path) == ["model"]


def test_stale_temporaries_and_killed_publish_are_recovered(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "f.txt").write_text("old")
    # A publish killed between its two renames: the old folder is aside,
    # a complete staging folder and an unrelated user folder beside it.
    old = tmp_path / ".model.old-0123abcd"
    os.replace(target, old)
    (tmp_path / ".model.export-89abcdef").mkdir()
    (tmp_path / "..model.compress-12345678.scratch-0a0b0c0d").mkdir()  # nested
    (tmp_path / ".model.user-notes").mkdir()
    done = _io.recover_folder(target)
    assert done[0] == str(old) and len(done) == 3
    assert (target / "f.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == [".model.user-notes", "model"]
    # Killed after the second rename: the new folder is in place, the old
    # one is deleted by the next write.
    (tmp_path / ".model.old-00000000").mkdir()
    with staged_folder(target) as staging:
        write_text_atomic(os.path.join(staging, "f.txt"), "new")
    assert (target / "f.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [".model.user-notes", "model"]


def test_remove_stale_files_removes_only_atomic_temporaries(tmp_path):
    for name in [
        ".best.keras.ab12cd_9.keras",
        ".history.json.0a1b2c3d.tmp",
        ".best.keras.notes",
        "best.keras",
        "notes.txt",
    ]:
        (tmp_path / name).write_text("x")
    removed = _io.remove_stale_files(tmp_path, ["best.keras", "history.json"])
    assert len(removed) == 2
    assert sorted(os.listdir(tmp_path)) == [
        ".best.keras.notes",
        "best.keras",
        "notes.txt",
    ]


def test_staged_folder_writes_through_a_symlink(tmp_path):
    real = tmp_path / "store" / "model"
    real.mkdir(parents=True)
    (real / "f.txt").write_text("old")
    link = tmp_path / "model"
    link.symlink_to(real, target_is_directory=True)
    with staged_folder(link) as staging:
        write_text_atomic(os.path.join(staging, "f.txt"), "new")
    assert link.is_symlink() and (link / "f.txt").read_text() == "new"
    assert (real / "f.txt").read_text() == "new"
    assert os.listdir(tmp_path / "store") == ["model"]


# ---------------------------------------------------------------- to_plain
def test_to_plain_makes_json_and_yaml_plain_values():
    @dataclasses.dataclass
    class Config:
        shape: tuple = (2, 3)
        path: pathlib.Path = pathlib.Path("runs/a")

    value = {
        "config": Config(),
        "array": np.arange(3, dtype=np.int64),
        "scalar": np.float32(0.5),
        "tags": {"b", "a"},
        np.int64(1): "numpy key",
        (1, 2): "tuple key",
    }
    plain = to_plain(value)
    assert plain == {
        "config": {"shape": [2, 3], "path": "runs/a"},
        "array": [0, 1, 2],
        "scalar": 0.5,
        "tags": ["a", "b"],
        1: "numpy key",
        "(1, 2)": "tuple key",
    }
    assert type(plain["scalar"]) is float and type(plain["array"][0]) is int
    assert list(plain)[4] == 1 and type(list(plain)[4]) is int
    json.dumps(plain)  # encodable without a default
