"""notebooks/inspect_masks.ipynb runs top to bottom on a small UPru demo run (nbclient), and
the `jaxsr.inspection` functions it calls give hand-checkable answers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from jaxsr import inspection, model_dir, models

from .conftest import REPO, with_overrides


def _upru_run(tmp_path):
    """UPru demo, 2 rounds x 20 steps, 20 % per round, eval (and sparsity records) every 10
    (in-process: the notebook reads the run's files, whoever wrote them)."""
    from jaxsr import train
    from jaxsr.configs_lib import load_sibling

    cfg = load_sibling(str(REPO / "configs" / "upru.py"), "upru.py").get_config("demo")
    over = {"train.steps": 20, "pruning.rounds": 2, "eval.every": 10, "ckpt.every": 20}
    cfg = with_overrides(cfg, **over, **{"data.hr_patch": 48, "data.batch_size": 4})
    work = tmp_path / "upru"
    train.run(cfg, work, quiet=True)
    return work


@pytest.mark.slow
def test_notebook_executes_and_inspection_matches_the_masks(tmp_path, monkeypatch):
    """One UPru run (one test: a fixture would run once per xdist worker) for both."""
    upru_run = _upru_run(tmp_path)
    _inspection_against_the_masks(upru_run)
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JAXSR_NOTEBOOK_RUN", str(upru_run))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend: PNG outputs
    # the kernel imports this checkout's jaxsr (not another one an editable install points to)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(REPO / "notebooks" / "inspect_masks.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    )
    client.execute()  # raises CellExecutionError naming the cell if any cell fails
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "round_01 -> round_02" in text
    assert "body_0/conv1" in text  # the per-layer table
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # masks, sparsity history, crops


def _inspection_against_the_masks(upru_run):
    first, last = inspection.models_of(upru_run)
    assert (first.parent.name, last.parent.name) == ("round_01", "round_02")
    masks = model_dir.load_masks(last)
    m = np.asarray(masks["body_0"]["conv1"]["kernel"])
    rows = {r["layer"]: r for r in inspection.layer_rows(last)}
    assert rows["body_0/conv1"]["nonzero"] <= int(m.sum())
    assert rows["conv_first"]["sparsity"] == 0.0  # not prunable by the default rules
    ch = {r["layer"]: r for r in inspection.mask_changes(first, last)}["body_0/conv1"]
    # round 1 is dense, round 2 prunes 20 % of every prunable layer; nothing revives
    assert ch["revived"] == 0 and ch["pruned in both"] == 0
    assert ch["kept"] + ch["newly pruned"] == m.size
    assert ch["newly pruned"] == m.size - int(m.sum())
    assert abs(ch["newly pruned"] / m.size - 0.2) < 0.01
    hist = inspection.sparsity_history(upru_run)
    assert hist["step"] == [10, 20, 30, 40]  # round 2 continues the x axis
    s = hist["layers"]["body_0/conv1/kernel"]
    assert s[:2] == [0.0, 0.0] and s[2] == s[3] == pytest.approx(1 - m.mean())


def test_mask_grid_layout():
    mask = np.zeros((3, 3, 2, 2), bool)
    mask[:, :, 1, 0] = True  # input channel 1, output channel 0
    img = inspection.mask_grid(mask)
    assert img.shape == (7, 7)
    assert (img[4:7, 0:3] == 1).all() and (img[0:3, 0:3] == 0).all()
    assert (img[3, :] == 0.5).all() and (img[:, 3] == 0.5).all()


def test_sr_crops_box_and_names(tmp_path):
    d = tmp_path / "m"
    over = {"num_feat": 8, "num_block": 1}
    model = models.create("msrresnet", 2, **over)
    model_dir.save_model(d, models.init_params(model, 0), "msrresnet", 2, over)
    lr = np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)
    crops = inspection.sr_crops([d], lr, (2, 3, 4, 5))
    assert list(crops) == ["bicubic", "m"] and crops["m"].shape == (8, 10, 3)
    with pytest.raises(ValueError, match="outside the LR image"):
        inspection.sr_crops([d], lr, (10, 0, 4, 4))
