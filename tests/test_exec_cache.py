"""Executables stored per input shape (`jaxsr.exec_cache`): loaded without tracing, same bytes
out as a fresh compile, and never used when the traced program disagrees with the entry."""

from __future__ import annotations

import pickle
import warnings

import flax.linen as nn
import jax
import numpy as np
import pytest

from jaxsr import exec_cache, models
from jaxsr.inference import Predictor

SHAPES = [(13, 17), (20, 11)]


def _model(num_block: int = 2):
    model = models.create("msrresnet", 2, num_feat=8, num_block=num_block)
    return model, models.init_params(model, 0)


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (*s, 3), np.uint8) for s in SHAPES]


def _run(pred: Predictor) -> list[np.ndarray]:
    return [pred(x) for x in _images()]


@pytest.fixture(scope="module")
def reference():
    model, params = _model()
    return _run(Predictor(model, params, 2))  # plain jit, no disk cache


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_new_predictor_loads_every_shape_bit_identically(tmp_path, reference):
    model, params = _model()
    first = Predictor(model, params, 2, cache_dir=tmp_path)
    _assert_same(_run(first), reference)
    assert (first._fn.compiles, first._fn.loads) == (2, 0)
    assert len(list(tmp_path.glob("*" + exec_cache.SUFFIX))) == 2
    second = Predictor(model, params, 2, cache_dir=tmp_path)
    _assert_same(_run(second), reference)
    assert (second._fn.compiles, second._fn.loads) == (0, 2)
    # repeated shapes use the executable in memory
    _run(second)
    assert second._fn.loads == 2


def test_another_model_or_params_shape_is_another_key(tmp_path):
    model, params = _model()
    Predictor(model, params, 2, cache_dir=tmp_path)(_images()[0])
    other, other_params = _model(num_block=3)
    pred = Predictor(other, other_params, 2, cache_dir=tmp_path)
    pred(_images()[0])
    assert (pred._fn.compiles, pred._fn.loads) == (1, 0)
    half = jax.tree.map(lambda a: a.astype(np.float16), params)
    pred = Predictor(model, half, 2, cache_dir=tmp_path)
    pred(_images()[0])
    assert (pred._fn.compiles, pred._fn.loads) == (1, 0)


def test_an_entry_from_another_program_turns_the_disk_cache_off(tmp_path, reference):
    model, params = _model()
    _run(Predictor(model, params, 2, cache_dir=tmp_path))
    for p in tmp_path.glob("*" + exec_cache.SUFFIX):  # as if the key had missed a change
        entry = pickle.loads(p.read_bytes())
        entry["program"] = "0" * 64
        p.write_bytes(pickle.dumps(entry))
    pred = Predictor(model, params, 2, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="another program"):
        out = _run(pred)
    _assert_same(out, reference)
    assert pred._fn.loads == 0


def test_a_torn_entry_is_recompiled_and_replaced(tmp_path, reference):
    model, params = _model()
    _run(Predictor(model, params, 2, cache_dir=tmp_path))
    files = sorted(tmp_path.glob("*" + exec_cache.SUFFIX))
    for p in files:
        p.write_bytes(p.read_bytes()[:100])
    pred = Predictor(model, params, 2, cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(_run(pred), reference)
    assert (pred._fn.compiles, pred._fn.loads) == (2, 0)
    pred = Predictor(model, params, 2, cache_dir=tmp_path)
    _run(pred)
    assert pred._fn.loads == 2


def test_an_entry_that_loads_but_does_not_run_is_replaced(tmp_path, reference):
    """What the re-serialization of a loaded executable gives on XLA:CPU (the payload lacks
    its functions): the first run of a loaded entry is checked, the entry recompiled."""
    model, params = _model()
    _run(Predictor(model, params, 2, cache_dir=tmp_path))
    for p in sorted(tmp_path.glob("*" + exec_cache.SUFFIX)):
        entry = pickle.loads(p.read_bytes())
        loaded = exec_cache._load(entry)  # a loaded executable, serialized again
        exec_cache._write(p, loaded, entry["program"])
    pred = Predictor(model, params, 2, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="does not run"):
        _assert_same(_run(pred), reference)
    assert (pred._fn.loads, pred._fn.compiles) == (2, 2)
    pred = Predictor(model, params, 2, cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(_run(pred), reference)
    assert (pred._fn.loads, pred._fn.compiles) == (2, 0)


def test_models_outside_jaxsr_are_not_keyed(tmp_path):
    class Outside(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(3, (3, 3))(x)

    model = Outside()
    assert exec_cache.model_identity(model) is None
    x = np.zeros((1, 5, 6, 3), np.float32)
    params = model.init(jax.random.key(0), x)["params"]
    pred = Predictor(model, params, 1, cache_dir=tmp_path)
    pred(x[0])
    assert not list(tmp_path.iterdir())


def test_identity_names_the_model_fields_and_the_environment():
    model, _ = _model()
    ident = exec_cache.model_identity(model)
    assert "MSRResNet" in ident and "num_feat" in ident
    assert exec_cache.source_digest() in ident and jax.__version__ in ident
    assert exec_cache.model_identity(_model(3)[0]) != ident


def test_eviction_removes_the_least_recently_used(tmp_path):
    import os

    for i in range(4):
        p = tmp_path / f"{i}{exec_cache.SUFFIX}"
        p.write_bytes(b"x" * 100)
        os.utime(p, (1000 + i, 1000 + i))
    exec_cache._evict(tmp_path, max_bytes=250)
    assert sorted(p.name[0] for p in tmp_path.iterdir()) == ["2", "3"]
