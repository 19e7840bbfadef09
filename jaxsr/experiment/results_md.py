"""Generate the experiment sections of RESULTS.md from results folders.

    python -m jaxsr.experiment.results_md            # rewrite RESULTS.md in place
    python -m jaxsr.experiment.results_md --check    # exit 1 if RESULTS.md is stale

A generated section sits between two marker lines naming its folder (relative to the
repository); what is between them is replaced by the folder's `report.md`, its image links
made relative to RESULTS.md:

    <!-- begin results/dupru_small -->
    ...
    <!-- end results/dupru_small -->
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from jaxsr import files
from jaxsr.cli import usage_error

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


def main(argv: list[str]) -> int:

    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    usage = "usage: python -m jaxsr.experiment.results_md [RESULTS.md] [--check]"
    if len(args) > 1 or any(a.startswith("-") for a in args):
        return usage_error(f"{' '.join(argv)}: {usage}")
    path = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "RESULTS.md"
    if not path.is_file():
        return usage_error(f"{path}: no such file")
    old = path.read_text()
    bad = unplaced(old, path.parent)
    if bad:
        print(
            f"{path}: no single '<!-- begin ... -->' section for {', '.join(bad)}", file=sys.stderr
        )
        return 1
    new = render(old, path.parent)
    if check:
        if new != old:
            print(f"{path} is stale: run python -m jaxsr.experiment.results_md", file=sys.stderr)
            return 1
        return 0
    if new != old:
        files.write_text_atomic(path, new)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
