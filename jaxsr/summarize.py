"""Markdown table from `jaxsr.evaluate --json` result files.

python -m jaxsr.summarize results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(paths: list[str]) -> str:
    rows = [
        "| model | scale | set | images | PSNR RGB | SSIM RGB | PSNR Y | SSIM Y |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in paths:
        try:
            res = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"error: {path}: {e}") from None
        if not isinstance(res, dict) or not isinstance(res.get("sets"), dict):
            raise SystemExit(f"error: {path}: not a jaxsr.evaluate --json result (no 'sets')")
        for name, r in res["sets"].items():
            rows.append(
                f"| {res['model']} | x{res['scale']} | {name} | {r['num_images']} | "
                f"{r['psnr_rgb']:.3f} | {r['ssim_rgb']:.4f} | "
                f"{r['psnr_y']:.3f} | {r['ssim_y']:.4f} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m jaxsr.summarize RESULT.json [RESULT.json ...]")
    print(table(sys.argv[1:]))
