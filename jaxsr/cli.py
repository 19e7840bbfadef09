"""Small helpers shared by the command-line entry points."""

from __future__ import annotations

import logging

# TFDS repeats these on every build/load of a custom-config builder; they are not actionable.
_NOISE = ("Using custom data configuration", "OpenCV is not installed")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in _NOISE)


def quiet_logs() -> None:
    """Show warnings and errors only (Orbax/JAX/TFDS log much at INFO) unless -v was given."""
    from absl import flags
    from absl import logging as absl_logging

    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)
    for name in ("jax._src.xla_bridge", "absl", "tensorflow_datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    absl_logging.get_absl_handler().addFilter(_DropNoise())
    logging.getLogger("absl").addFilter(_DropNoise())
