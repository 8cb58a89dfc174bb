"""Rebuild the EQ-5D tables shipped here from ../shared/reference/eq5d (fragla/eq5d @ bfdc7ca, MIT).

Run from the repository root:  .venv/bin/python pdva/proms/data/eq5d/extract.py ../shared/reference/eq5d
Copies TTO.csv, VT.csv, CW.csv and references.csv unchanged, and from DSU5L.csv keeps only the columns
used here (profile, age band, sex, UKCopula = the NICE DSU 5L->3L mapped UK value), values unchanged.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(source: Path) -> None:
    for name in ("TTO.csv", "VT.csv", "CW.csv", "references.csv", "LICENSE.md"):
        shutil.copyfile(source / name, HERE / name)
    with (
        (source / "DSU5L.csv").open(newline="") as f,
        (HERE / "DSU5L_UKCopula.csv").open("w", newline="") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["State", "Age", "Sex", "UKCopula"])
        for row in csv.DictReader(f):
            writer.writerow([row["State"], row["Age"], row["Sex"], row["UKCopula"]])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
