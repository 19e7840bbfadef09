"""Generate the experiment sections of RESULTS.md from results folders.

    python -m jaxsr.report --results_md            # rewrite RESULTS.md in place
    python -m jaxsr.report --results_md --check    # exit 1 if RESULTS.md is stale

A generated section sits between two marker lines naming its folder (relative to the
repository); what is between them is replaced by the folder's `report.md`, its image links
made relative to RESULTS.md:

    <!-- begin results/dupru_small -->
    ...
    <!-- end results/dupru_small -->
"""

from __future__ import annotations

import re
from pathlib import Path

from jaxsr import files

_BEGIN = re.compile(r"^<!-- begin (\S+) -->$", re.M)
_LINK = re.compile(r"(!\[[^\]]*\]\()([^)/]+)(\))")


def section(folder: Path, rel: str) -> str:
    report = folder / "report.md"
    if not report.exists():
        raise FileNotFoundError(f"{report}: missing (run `python -m jaxsr.experiment`)")
    text = report.read_text()
    text = _LINK.sub(lambda m: f"{m.group(1)}{rel}/{m.group(2)}{m.group(3)}", text)
    return text.replace("`runs/*.json`", f"`{rel}/runs/*.json`").replace(
        "`results.csv`", f"`{rel}/results.csv`"
    )


def render(text: str, root: Path) -> str:
    """`text` with every marked section replaced from its folder under `root`."""
    out, pos = [], 0
    for m in _BEGIN.finditer(text):
        rel = m.group(1)
        end = f"<!-- end {rel} -->"
        stop = text.find(end, m.end())
        if stop < 0:
            raise ValueError(f"RESULTS.md: '<!-- begin {rel} -->' has no '{end}' line")
        out.append(text[pos : m.end()] + "\n\n" + section(root / rel, rel).strip() + "\n\n")
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def unplaced(text: str, root: Path) -> list[str]:
    """Results folders (`root/results/*/report.md`) without exactly one marked section."""
    names = [m.group(1) for m in _BEGIN.finditer(text)]
    folders = sorted(p.parent for p in (root / "results").glob("*/report.md"))
    out = [f"results/{f.name}" for f in folders if names.count(f"results/{f.name}") != 1]
    return out + sorted({n for n in names if names.count(n) > 1} - set(out))


class Stale(Exception):
    """RESULTS.md differs from what its results folders give (or a folder has no section)."""


DEFAULT = Path(__file__).resolve().parents[2] / "RESULTS.md"


def update(path: Path = DEFAULT, check: bool = False) -> bool:
    """Regenerate the marked sections of `path` (RESULTS.md) from their folders; whether it
    changed. `check`: write nothing, raise `Stale` if it would change. A results folder
    without exactly one marked section is `Stale` too; a missing file FileNotFoundError."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    old = path.read_text()
    bad = unplaced(old, path.parent)
    if bad:
        raise Stale(f"{path}: no single '<!-- begin ... -->' section for {', '.join(bad)}")
    new = render(old, path.parent)
    if new == old:
        return False
    if check:
        raise Stale(f"{path} is stale: run python -m jaxsr.report --results_md")
    files.write_text_atomic(path, new)
    return True
