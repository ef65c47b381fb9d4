"""Turn a finished `logcheck train` output directory into a small test fixture (logs and state only).

    python -m logcheck.backends.fixture OUT_DIR [--source-note TEXT]

Keeps what a log checker reads (run.log, trainer_state.json, checkpoint-*/trainer_state.json,
run_config.json, config.json) and deletes weights, optimizer/scheduler/RNG state, tokenizer files,
training_args.bin and the report (the report is logcheck's output, not the fixture's).
"""
from __future__ import annotations

import sys
from pathlib import Path

KEEP = {"run.log", "trainer_state.json", "run_config.json", "config.json", "SOURCE.txt"}


def prune_to_logs(out_dir: Path) -> list[Path]:
    """Delete every file not in KEEP; return the deleted paths."""
    deleted = []
    for path in sorted(out_dir.rglob("*")):
        if path.is_file() and path.name not in KEEP:
            path.unlink()
            deleted.append(path)
    return deleted


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1 or not Path(args[0]).is_dir():
        sys.exit("usage: python -m logcheck.backends.fixture OUT_DIR")
    out_dir = Path(args[0])
    deleted = prune_to_logs(out_dir)
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"deleted {len(deleted)} files; {out_dir} now holds {size:,} bytes")


if __name__ == "__main__":
    main()
