"""Small helpers shared by the command-line entry points."""

from __future__ import annotations

import logging


def quiet_logs() -> None:
    """Show warnings and errors only (Orbax/JAX/TFDS log much at INFO) unless -v was given."""
    from absl import flags
    from absl import logging as absl_logging

    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)
    for name in ("jax._src.xla_bridge", "absl", "tensorflow_datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
