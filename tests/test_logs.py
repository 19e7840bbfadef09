"""What people look at: TensorBoard SR crops and per-layer sparsity histograms (kept exact
over a resume, like the scalars), and progress bars (tqdm) on terminals and in logs."""

from __future__ import annotations

import io
import struct

import numpy as np

from jaxsr.metric_writer import MetricWriter, read_metrics
from jaxsr.progress import Progress
from jaxsr.train.run_log import layer_sparsity, sample_crop


def _events(tb_dir):
    from tensorboardX.proto import event_pb2

    out = []
    for f in sorted(tb_dir.glob("events.out.tfevents.*")):
        buf, i = f.read_bytes(), 0
        while i < len(buf):
            (n,) = struct.unpack("<Q", buf[i : i + 8])
            ev = event_pb2.Event.FromString(buf[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in ev.summary.value:
                kind = v.WhichOneof("value")
                out.append((v.tag, ev.step, kind, v))
    return out


def test_images_and_sparsity_histograms_survive_a_resume(tmp_path):
    w = MetricWriter(tmp_path)
    img = np.zeros((6, 9, 3), np.uint8)
    for step in (10, 20, 30):
        w.write(step, "sparsity", {"a/kernel": 0.0, "b/kernel": step / 100})
        w.write_image(step, "bicubic_sr_hr", img + step)
    w.close()
    # a resume from step 20: the step-30 record and image go, TensorBoard is rebuilt
    (tmp_path / "images" / "bicubic_sr_hr" / "000000040.png.tmp").write_bytes(b"cut")
    w = MetricWriter(tmp_path)
    w.truncate_after(20)
    w.close()
    pngs = sorted(p.name for p in (tmp_path / "images" / "bicubic_sr_hr").iterdir())
    assert pngs == ["000000010.png", "000000020.png"]
    assert [r["step"] for r in read_metrics(tmp_path)] == [10, 20]
    ev = _events(tmp_path / "tensorboard")
    images = [(s, v.image.height, v.image.width) for t, s, k, v in ev if k == "image"]
    assert images == [(10, 6, 9), (20, 6, 9)]
    hists = [(s, v.histo) for t, s, k, v in ev if t == "sparsity_of_layers"]
    assert [s for s, _ in hists] == [10, 20]
    assert hists[1][1].num == 2 and hists[1][1].sum == 0.2 and hists[1][1].max == 0.2
    scalars = sorted((t, s) for t, s, k, v in ev if k == "simple_value")
    assert scalars == [
        ("sparsity/a/kernel", 10),
        ("sparsity/a/kernel", 20),
        ("sparsity/b/kernel", 10),
        ("sparsity/b/kernel", 20),
    ]


def test_sample_crop_and_layer_sparsity():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 60, 3), np.uint8)
    lr = hr[::2, ::2]
    crop = sample_crop({"lr": lr, "sr": hr, "hr": hr}, 2, size=16)
    assert crop.shape == (16, 3 * 16 + 4, 3)
    np.testing.assert_array_equal(crop[:, 18:34], hr[12:28, 22:38])  # centre of SR
    np.testing.assert_array_equal(crop[:, 36:], hr[12:28, 22:38])  # the HR crop
    k = np.ones((3, 3, 4, 2), np.float32)
    k[0, 0] = 0.0
    sp = layer_sparsity({"c": {"kernel": k, "bias": np.zeros(2)}})
    assert sp == {"c/kernel": 8 / 72}


def test_progress_in_a_log_is_one_line_per_redraw():
    buf = io.StringIO()
    bar = Progress(3, "train", stream=buf, interval=0.0)
    for i in range(3):
        bar.update(1, f"loss {i}")
    bar.close()
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert lines[-1].startswith("train: 100%") and "3/3" in lines[-1] and "loss 2" in lines[-1]
    assert len(lines) == len(set(lines))  # no repeated final line
