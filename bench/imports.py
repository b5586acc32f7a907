"""The import benchmark: 100,000 alumni rows from CSV into PostgreSQL.

    python bench/imports.py [--rows 100000] [--skip-seed]

Writes a CSV of new alumni (e-mail, name, graduation year, programme, company, job title,
city, country, date of birth in two formats) to a temporary file, then runs, one process
each (the same code a worker runs for the `data.import` job, one batch of 1,000 rows per
transaction):
- `alumnet import FILE --kind alumni --dry-run` (the preview: every row checked and
  reported, nothing written);
- `alumnet import FILE --kind alumni` (the run);
- the run again (every row unchanged: idempotence).
Prints each one's wall time and the process's peak memory (RSS).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

from alumnet.domain.demo import FIRST_NAMES, LAST_NAMES

PROGRAMMES = ["CS", "EE", "BA", "ME", "ECO", "ARCH"]
COUNTRIES = ["GH", "NG", "KE", "GB", "US", "DE", "IN", "ZA"]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Email", "Full name", "Class of", "Programme", "Employer", "Job title",
                      "City", "Country", "DOB"])  # fmt: skip
        for i in range(rows):
            year = rng.randint(1995, 2025)
            born = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year - 22}"
            if i % 2:
                born = f"{year - 22}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            out.writerow([
                f"imported{i:06d}@example.org",
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", year,
                rng.choice(PROGRAMMES), f"Company {rng.randint(1, 500)}", "Engineer",
                "Accra", rng.choice(COUNTRIES), born,
            ])  # fmt: skip


def timed(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(base.BIN / "alumnet"), *args], env=base.env(), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started, done.stdout.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    os.environ.update(base.env())
    if not args.skip_seed:
        base.prepare_database()
    else:
        base.alumnet("migrate", "upgrade")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alumni.csv"
        write_csv(path, args.rows)
        print(f"{args.rows} rows, {path.stat().st_size / 1e6:.1f} MB", flush=True)
        for label, extra in (("preview", ["--dry-run"]), ("run", []), ("run again", [])):
            seconds, summary = timed("import", str(path), "--kind", "alumni", *extra)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{label}: {seconds:.1f} s (peak RSS so far {peak:.0f} MB) - {summary}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
