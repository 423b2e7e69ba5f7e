"""split, from_arrays, from_csv and from_image_folder."""

import numpy as np
import pytest
from PIL import Image

from kerasdl.data import from_arrays, from_csv, from_image_folder, split


def test_split_stratified_disjoint_complete_and_seeded():
    y = np.repeat(np.arange(3), [50, 30, 20])
    x = np.arange(100)[:, None] * 10
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(
        x, y, val_fraction=0.1, test_fraction=0.2, seed=0
    )
    assert (len(x_tr), len(x_va), len(x_te)) == (70, 10, 20)
    ids = np.concatenate([x_tr, x_va, x_te])[:, 0] // 10
    np.testing.assert_array_equal(np.sort(ids), np.arange(100))  # each sample once
    np.testing.assert_array_equal(y[ids], np.concatenate([y_tr, y_va, y_te]))
    np.testing.assert_array_equal(np.bincount(y_te), [10, 6, 4])  # 20% per class
    np.testing.assert_array_equal(np.bincount(y_va), [5, 3, 2])
    # Largest remainder: 6 of 15 over classes of 7, 5, 3 is 2.8, 2.0, 1.2.
    uneven = np.repeat(np.arange(3), [7, 5, 3])
    _, _, (_, y_six) = split(uneven, uneven, test_fraction=0.4, seed=0)
    np.testing.assert_array_equal(np.bincount(y_six), [3, 2, 1])
    again = split(x, y, val_fraction=0.1, test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[2][0], x_te)
    other = split(x, y, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert not np.array_equal(other[2][0], x_te)


def test_split_unstratified_one_hot_and_errors():
    x = np.arange(10)
    (x_tr, _), (x_va, _), (x_te, _) = split(
        x, np.linspace(0, 1, 10), test_fraction=0.3, stratify=False, seed=0
    )
    assert (len(x_tr), len(x_va), len(x_te)) == (7, 0, 3)
    one_hot = np.eye(2)[np.array([0] * 6 + [1] * 4)]
    _, _, (_, y_te) = split(x, one_hot, test_fraction=0.5, seed=0)
    np.testing.assert_array_equal(y_te.sum(axis=0), [3, 2])
    with pytest.raises(ValueError, match="stratify=False"):
        split(x, np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match=r"test_fraction=1\.5"):
        split(x, x, test_fraction=1.5)
    with pytest.raises(ValueError, match="leave no training sample"):
        split(x, x, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="received 10 and 9"):
        split(x, x[:9])


def test_from_arrays_labels_and_given_test_set():
    x = np.random.default_rng(0).random((40, 3)).astype("float32")
    data = from_arrays(x, np.arange(40) % 4, test_fraction=0.25)
    assert data.num_classes == 4 and data.class_names == ("0", "1", "2", "3")
    # 10 test samples over 4 equal classes: largest remainder, ties to class 0, 1.
    np.testing.assert_array_equal(np.bincount(data.y_test), [3, 3, 2, 2])
    assert data.input_shape == (3,) and data.preprocessing == {
        "scale": 1.0,
        "offset": 0.0,
    }
    words = np.array(["cat", "dog", "ant", "dog"] * 10)
    named = from_arrays(x, words, test_fraction=0.0)
    assert named.class_names == ("ant", "cat", "dog")
    assert sorted(np.bincount(named.y_train).tolist()) == [10, 10, 20]
    given = from_arrays(x[:30], words[:30], x_test=x[30:], y_test=words[30:])
    np.testing.assert_array_equal(given.x_test, x[30:])
    assert [given.class_names[i] for i in given.y_test[:2]] == ["ant", "dog"]
    with pytest.raises(ValueError, match="not class names"):
        from_arrays(x, words, class_names=["cat", "dog"])
    with pytest.raises(ValueError, match="Label 3 is out of range"):
        from_arrays(x, np.arange(40) % 4, class_names=["a", "b"])
    with pytest.raises(ValueError, match="both x_test and y_test"):
        from_arrays(x, words, x_test=x)


def test_from_csv_maps_labels_and_standardizes_on_train_rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["height,species,weight"]
    for i in range(30):
        species = ["setosa", "virginica", "versicolor"][i % 3]
        rows.append(f"{rng.normal(5, 2):.3f},{species},{i}")
    path = tmp_path / "iris.csv"
    path.write_text("\n".join(rows) + "\n")
    data = from_csv(path, label_column="species", test_fraction=0.2)
    assert data.class_names == ("setosa", "versicolor", "virginica")
    assert data.name == "iris" and data.input_shape == (2,)
    assert data.preprocessing["feature_names"] == ["height", "weight"]
    # weight = row index, label = index % 3: labels must follow their rows.
    for features, label in zip(data.x_train, data.y_train, strict=True):
        row = int(features[1])
        assert data.class_names[label] == ["setosa", "virginica", "versicolor"][row % 3]
    std = from_csv(path, label_column=1, standardize=True, test_fraction=0.2)
    np.testing.assert_allclose(std.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std.x_train.std(axis=0), 1.0, atol=1e-5)
    scale, offset = (np.array(std.preprocessing[k]) for k in ("scale", "offset"))
    np.testing.assert_allclose(data.x_test * scale + offset, std.x_test, rtol=1e-5)
    only = from_csv(path, "species", feature_columns=["weight"])
    assert only.input_shape == (1,)


def test_from_csv_numeric_labels_sort_as_numbers_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "a,label\n" + "".join(f"{i},{[2, 10, 1][i % 3]}\n" for i in range(9))
    )
    data = from_csv(path, "label", test_fraction=0.0)
    assert data.class_names == ("1", "2", "10")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,x\nfoo,y\n")
    with pytest.raises(ValueError, match=r"line 3, column 'a'.*'foo'"):
        from_csv(bad, "label")
    with pytest.raises(ValueError, match=r"no column 'lable'\. Did you mean 'label'"):
        from_csv(bad, "lable")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,label\n1,2,x\n1,y\n")
    with pytest.raises(ValueError, match="line 3: 2 fields, expected 3"):
        from_csv(ragged, "label")


def _write_images(root):
    colors = {"red": (255, 0, 0), "blue": (0, 0, 255)}
    for name, color in colors.items():
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (6, 4), color).save(root / name / f"{i}.png")
        Image.new("RGB", (12, 8), color).save(root / name / "big.jpg", quality=95)
    (root / "red" / "notes.txt").write_text("not an image")


def test_from_image_folder_classes_pixels_and_modes(tmp_path):
    _write_images(tmp_path / "colors")
    data = from_image_folder(tmp_path / "colors", image_size=(4, 6), test_fraction=0.25)
    assert data.class_names == ("blue", "red") and data.name == "colors"
    assert len(data.x_train) + len(data.x_test) == 12  # .txt ignored
    assert data.x_train.shape[1:] == (4, 6, 3) and data.x_train.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(data.y_test), [2, 1])  # 3 of 12, tie -> 0
    images = np.concatenate([data.x_train, data.x_test])
    labels = np.concatenate([data.y_train, data.y_test])
    red = images[labels == 1]
    np.testing.assert_allclose(red[..., 0], 1.0, atol=0.02)  # JPEG is lossy
    np.testing.assert_allclose(red[..., 2], 0.0, atol=0.02)
    assert data.preprocessing["resize"]["size"] == [4, 6]
    grey = from_image_folder(tmp_path / "colors", image_size=3, color_mode="grayscale")
    assert grey.input_shape == (3, 3, 1)
    blue = np.concatenate([grey.x_train, grey.x_test])[
        np.concatenate([grey.y_train, grey.y_test]) == 0
    ]
    np.testing.assert_allclose(blue, 29 / 255, atol=0.01)  # ITU-R 601 luma of blue
    with pytest.raises(
        ValueError, match=r"color_mode='greyscale'.*Did you mean 'grayscale'"
    ):
        from_image_folder(tmp_path / "colors", 4, color_mode="greyscale")
    (tmp_path / "colors" / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"Cannot decode image .*broken\.png"):
        from_image_folder(tmp_path / "colors", 4)
    with pytest.raises(FileNotFoundError):
        from_image_folder(tmp_path / "missing", 4)
