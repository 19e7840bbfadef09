"""Data: images, MATLAB-exact bicubic, benchmark sets, TFDS builders, the grain pipeline.

Light modules are re-exported here; `tfds_builders` (sr_folder / div2k / sr_benchmark
builders: `prepare`, `load_pairs`) and `pipeline` (`train_dataset`, `train_iterator`) are
imported on use, since they pull in TFDS and grain.
"""

from jaxsr.data.benchmark import BenchmarkSet, Pair, load_set
from jaxsr.data.images import list_images, mod_crop, read_image, read_rgb, write_png
from jaxsr.data.imresize import downscale, imresize, upscale

__all__ = [
    "BenchmarkSet",
    "Pair",
    "downscale",
    "imresize",
    "list_images",
    "load_set",
    "mod_crop",
    "read_image",
    "read_rgb",
    "upscale",
    "write_png",
]
