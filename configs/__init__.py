"""Training configs: `python -m jaxsr.train --config=configs/<name>.py[:args]`.

Each file has `get_config(arg)` and a docstring with its commands, expected runtime and
result. `arg` is a variant string parsed by `jaxsr.configs_lib.parse_arg`
(`configs/nm_oneshot.py:model=rfdn,n=2,m=4,demo`). The files also import as modules from the
repository root (`from configs import dupru; dupru.get_config("demo")`).
"""
