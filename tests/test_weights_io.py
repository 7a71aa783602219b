import numpy as np
import pytest

from lenet.init import init_weights
from lenet.io import weights as wio
from lenet.io.atomic import atomic_path, write_text
from lenet.spec import lenet5


def test_init_matches_pytorch_default_bounds_and_is_seeded():
    arch = lenet5()
    w = init_weights(arch, seed=3)
    assert all(a.dtype == np.float32 for a in w.values())
    assert np.abs(w["0.weight"]).max() <= 1 / np.sqrt(25)
    assert np.abs(w["7.weight"]).max() <= 1 / np.sqrt(400)
    assert np.abs(w["7.weight"]).max() > 0.9 / np.sqrt(400)
    again = init_weights(arch, seed=3)
    assert all((w[k] == again[k]).all() for k in w)
    assert not (init_weights(arch, seed=4)["0.weight"] == w["0.weight"]).all()


def test_save_load_round_trip(tmp_path):
    arch = lenet5()
    w = init_weights(arch, 0)
    wio.save(tmp_path / "m.npz", arch, w, {"backend": "test"})
    arch2, w2, meta = wio.load(tmp_path / "m.npz")
    assert arch2 == arch and meta == {"backend": "test"}
    assert all((w[k] == w2[k]).all() for k in w)


def test_wrong_shape_names_the_key():
    arch = lenet5()
    w = init_weights(arch, 0)
    w["7.weight"] = w["7.weight"][:, :100]
    with pytest.raises(wio.WeightsError, match=r"'7.weight' has shape \(400, 100\).*expects \(400, 120\)"):
        wio.check_weights(arch, w)


def test_missing_key_and_nan():
    arch = lenet5()
    w = init_weights(arch, 0)
    with pytest.raises(wio.WeightsError, match="missing"):
        wio.check_weights(arch, {k: v for k, v in w.items() if k != "0.bias"})
    w["0.bias"][0] = np.nan
    with pytest.raises(wio.WeightsError, match="NaN"):
        wio.check_weights(arch, w)


def test_other_architecture_is_named(tmp_path):
    wio.save(tmp_path / "m50.npz", lenet5(num_classes=50), init_weights(lenet5(num_classes=50), 0))
    found, _, _ = wio.load(tmp_path / "m50.npz")
    with pytest.raises(wio.WeightsError, match="50 classes.*10 classes"):
        wio.require_same_arch(lenet5(), found, "m50.npz")


def test_corrupt_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(wio.WeightsError, match="bad.npz: not a readable"):
        wio.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(wio.WeightsError, match="foreign.npz: has no '__arch__'"):
        wio.load(foreign)
    with pytest.raises(wio.WeightsError, match="no such weight file"):
        wio.load(tmp_path / "absent.npz")


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    target = tmp_path / "h.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    from lenet.io.atomic import _UMASK

    write_text(tmp_path / "f.txt", "x")
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~_UMASK
