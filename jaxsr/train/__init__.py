"""Training: `run` drives a method's recipe of stages, `fit` trains one stage.

    python -m jaxsr.train --config=configs/dupru.py --workdir=DIR     # the CLI (__main__.py)

Files: `step.py` (the jitted sharded step), `loop.py` (`fit`: data, state, steps, resume),
`evaluator.py` (in-training evaluation), `exporter.py` (model dirs, summary), `run_log.py`
(metrics, events, images, progress), `config.py` (the trainer's config checks), `stages.py`
(`run`: the stage driver). Checkpoints are `jaxsr.checkpoints`, model directories
`jaxsr.model_dir`, train states `jaxsr.state`.
"""

from jaxsr.checkpoints import Checkpointer, CheckpointError
from jaxsr.losses import LOSSES
from jaxsr.startpoints import initial_params
from jaxsr.state import TrainState, init_state, state_template
from jaxsr.train.evaluator import evaluate_params
from jaxsr.train.loop import fit, load_train_pairs
from jaxsr.train.stages import run
from jaxsr.train.step import make_mesh, make_train_step, shard_batch

__all__ = [
    "LOSSES",
    "CheckpointError",
    "Checkpointer",
    "TrainState",
    "evaluate_params",
    "fit",
    "init_state",
    "initial_params",
    "load_train_pairs",
    "make_mesh",
    "make_train_step",
    "run",
    "shard_batch",
    "state_template",
]
