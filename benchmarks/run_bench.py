#!/usr/bin/env python
"""logcheck's performance benchmark: prints every figure of issue 4's targets.

    python benchmarks/run_bench.py                        # 1 GB log, 3 rounds (~10 min on 2 cores)
    python benchmarks/run_bench.py --big 100M --rounds 3  # quicker
    python benchmarks/run_bench.py --keep                 # keep the generated logs in --workdir

Every measured command runs as its own process; its wall time is taken around the
process, its peak RSS and CPU time come from ``os.wait4`` (the runner itself imports
neither numpy nor logcheck, so a child's ``ru_maxrss`` is its own). ``wc -l`` and
``grep -c loss`` run on the same file in the same round as the parser, so the ratios
are paired per round; medians over rounds are printed. Each round runs the commands
in an order rotated by one, and the 1-minute load average is printed with the results
(the project machine is shared: a ratio is more trustworthy than a time).

The logs are SYNTHETIC benchmark input from ``benchmarks/genlog.py`` (seeded), written
to ``--workdir`` (default ``/tmp/logcheck-bench``, never the repository) and deleted at
the end unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
PY = sys.executable  # not the pyenv shim: it adds ~0.1 s to every start
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

# Targets of issue 4.
T_MBPS = 150.0
T_WC_RATIO = 35.0
T_US_DENSE = 2.0
T_RSS_MIB = 200.0
T_E2E_10M = 0.5
T_CHECK_1M = 1.0
HEAVY_MODULES = ("scipy", "matplotlib", "torch", "pandas", "transformers", "lightning", "tensorflow")

# Child programs, run with ``python -c``: they import logcheck, the runner does not.
CHILD_PARSE = r"""
import json, sys, time
from pathlib import Path
from logcheck.parsing import ParseContext
from logcheck.pluginmanager import make_plugin_manager
path, name = sys.argv[1], sys.argv[2]
pm = make_plugin_manager(load_entrypoints=False)
t = time.perf_counter()
res = pm.parsers[name].parse(Path(path), ParseContext())
t = time.perf_counter() - t
runs = res if isinstance(res, list) else [res]
points = sum(len(s) for r in runs for s in r.series.values())
records = sum(max((len(s) for k, s in r.series.items() if k.startswith(sp + "/")), default=0)
              for r in runs for sp in ("train", "eval", "test"))
print(json.dumps({"parse_s": t, "points": points, "records": records, "runs": len(runs)}))
"""

CHILD_CHECKS = r"""
import json, math, sys, time
import numpy as np
from logcheck import RunBuilder
from logcheck.pipeline import prepare
n = int(sys.argv[1])
rng = np.random.default_rng(0)
t = np.arange(1, n + 1, dtype=np.float64)
loss = (1.8 + 6.0 * (t + 10) ** -0.4) * np.exp(rng.normal(0, 0.03, n))
loss[n // 3] = math.inf
gn = np.abs(rng.normal(1.0, 0.3, n)) + 0.05
lr = np.minimum(t / 500, 1.0) * 5e-5
b = RunBuilder("synthetic-1M.log", "hf")
cols = {"loss": loss, "grad_norm": gn, "learning_rate": lr}
ep = t / n
for name, v in cols.items():
    b.add("train", name, 1.0, 0.0)
    c = b.columns("train", name)
    for arr, src in ((c.step, t), (c.value, v), (c.epoch, ep), (c.line, np.arange(n, dtype=np.int64))):
        del arr[:]
        arr.frombytes(src.tobytes())
te = t[99::100]
el = (1.8 + 6.0 * (te + 10) ** -0.4) * 1.02
for s, v in zip(te, el):
    b.add("eval", "loss", float(s), float(v), float(s) / n, 0)
b.summary.update(train_runtime_s=n / 10.0, train_samples_per_second=80.0, train_steps_per_second=10.0,
                 mean_train_loss=float(np.mean(loss[np.isfinite(loss)])), global_step=n, epochs=1.0)
b.config.update(logging_steps=1.0, eval_steps=100.0, max_steps=n, train_batch_size=8)
run = b.build()
settings, pm = prepare(load_entrypoints=False)
out = {}
for impl in reversed(pm.pm.hook.logcheck_check.get_hookimpls()):
    args = {k: v for k, v in {"run": run, "settings": settings}.items() if k in impl.argnames}
    t0 = time.perf_counter()
    try:
        impl.function(**args)
        err = None
    except Exception as e:
        err = f"{type(e).__name__}: {e}"
    out[impl.plugin_name] = {"s": time.perf_counter() - t0, "error": err}
print(json.dumps(out))
"""

CHILD_PARALLEL = r"""
import json, sys, time
from logcheck.pipeline import prepare
from logcheck.parallel import analyze_paths_parallel
jobs = int(sys.argv[2])
settings, pm = prepare()
rep = analyze_paths_parallel([sys.argv[1]], settings, pm, jobs=jobs)
print(json.dumps({"runs": len(rep.runs), "exit_code": rep.exit_code}))
"""


def run_child(cmd: list[str]) -> dict[str, Any]:
    """Run one command; wall time around the process, peak RSS and CPU from wait4."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss_file:
        if TIME_BIN:  # ru_maxrss of a forked child can include the runner's own pages; time(1) is exact
            cmd = [TIME_BIN, "-f", "%M", "-o", rss_file.name, *cmd]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        rss_kib = ru.ru_maxrss
        if TIME_BIN:
            try:
                rss_kib = int(rss_file.read().strip().splitlines()[-1])
            except (ValueError, IndexError):
                pass
    return {"wall": wall, "rss_mib": rss_kib / 1024.0, "cpu": ru.ru_utime + ru.ru_stime,
            "rc": p.returncode, "stdout": stdout.decode("utf-8", "replace")[-100_000:],
            "stderr": stderr.decode("utf-8", "replace")[-2000:]}


def gen(workdir: Path, name: str, args: list[str]) -> Path:
    path = workdir / name
    if not path.exists():
        t = time.perf_counter()
        subprocess.run([PY, str(HERE / "genlog.py"), "--out", str(path), *args], check=True,
                       stderr=subprocess.DEVNULL)
        print(f"  generated {name}: {path.stat().st_size / 1e6:,.1f} MB in {time.perf_counter() - t:.1f} s",
              flush=True)
    return path


def gen_run_dir(workdir: Path, n_runs: int) -> Path:
    top = workdir / f"runs_{n_runs}"
    if not top.exists():
        for i in range(n_runs):
            d = top / f"run{i:04d}"
            d.mkdir(parents=True)
            subprocess.run([PY, str(HERE / "genlog.py"), "--out", str(d / "train.log"), "--steps",
                            str(300 + 10 * (i % 50)), "--seed", str(i)], check=True, stderr=subprocess.DEVNULL)
        print(f"  generated {n_runs} run folders in {top}", flush=True)
    return top


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_file(path: Path, parser: str, rounds: int, with_e2e: bool) -> dict[str, Any]:
    """Per round: wc -l, grep -c loss, parse-only, (end to end), in rotated order."""
    cmds: dict[str, list[str]] = {
        "wc": ["wc", "-l", str(path)],
        "grep": ["grep", "-c", "loss", str(path)],
        "parse": [PY, "-c", CHILD_PARSE, str(path), parser],
    }
    if with_e2e:
        cmds["e2e"] = [PY, "-m", "logcheck", "--format", "json", str(path)]
    names = list(cmds)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in names}
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL)  # warm the page cache
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for k in order:
            res = run_child(cmds[k])
            if k == "parse":
                if res["rc"] != 0:
                    raise SystemExit(f"parse of {path} failed: {res['stderr']}")
                res.update(json.loads(res["stdout"].strip().splitlines()[-1]))
            rows[k].append(res)
    return rows


def print_file_rows(label: str, path: Path, rows: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    size = path.stat().st_size
    wc = [x["wall"] for x in rows["wc"]]
    grep = [x["wall"] for x in rows["grep"]]
    parse = rows["parse"]
    recs = parse[0]["records"]
    fig = {
        "bytes": size, "records": recs,
        "parse_wall": med([x["wall"] for x in parse]),
        "parse_rss": max(x["rss_mib"] for x in parse),
        "ratio_wc": med([p["wall"] / w for p, w in zip(parse, wc)]),
        "ratio_grep": med([p["wall"] / g for p, g in zip(parse, grep)]),
        "wc": med(wc), "grep": med(grep),
    }
    fig["mbps"] = size / 1e6 / fig["parse_wall"]
    fig["us_per_record"] = fig["parse_wall"] / max(1, recs) * 1e6
    # CPU seconds of the child: what the parse costs when it has a core to itself
    fig["parse_cpu"] = med([x["cpu"] for x in parse])
    fig["parse_in_process"] = med([x["parse_s"] for x in parse])
    fig["mbps_cpu"] = size / 1e6 / fig["parse_cpu"]
    fig["us_per_record_cpu"] = fig["parse_cpu"] / max(1, recs) * 1e6
    print(f"\n{label}: {path.name}, {size / 1e6:,.1f} MB, {recs:,} records ({size / max(1, recs):.0f} B/record), "
          f"{len(parse)} rounds")
    print(f"  {'command':<28} {'wall s (median)':>16} {'min-max':>17} {'peak RSS MiB':>13} {'CPU s':>7}")
    for k, title in (("wc", "wc -l"), ("grep", "grep -c loss"), ("parse", "logcheck parse (to columns)"),
                     ("e2e", "logcheck --format json")):
        if k not in rows:
            continue
        ws = [x["wall"] for x in rows[k]]
        print(f"  {title:<28} {med(ws):>16.3f} {min(ws):>8.3f}-{max(ws):<8.3f} "
              f"{max(x['rss_mib'] for x in rows[k]):>13.0f} {med([x['cpu'] for x in rows[k]]):>7.2f}")
    if "e2e" in rows:
        fig["e2e_wall"] = med([x["wall"] for x in rows["e2e"]])
        fig["e2e_rss"] = max(x["rss_mib"] for x in rows["e2e"])
        fig["e2e_rc"] = rows["e2e"][0]["rc"]
    print(f"  parse: {fig['mbps']:,.0f} MB/s, {fig['us_per_record']:.2f} us/record, "
          f"{fig['ratio_wc']:.1f}x wc -l, {fig['ratio_grep']:.1f}x grep -c (paired per round); "
          f"by CPU time {fig['mbps_cpu']:,.0f} MB/s, {fig['us_per_record_cpu']:.2f} us/record; "
          f"parse call alone {fig['parse_in_process']:.3f} s")
    return fig


def heavy_imports(path: Path) -> list[str]:
    """Top-level packages among HEAVY_MODULES that ``logcheck --format json`` imports."""
    res = subprocess.run([PY, "-X", "importtime", "-m", "logcheck", "--format", "json", str(path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = set()
    for line in res.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        mod = line.rsplit("|", 1)[-1].strip().split(".")[0]
        if mod in HEAVY_MODULES:
            found.add(mod)
    return sorted(found)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default="/tmp/logcheck-bench", help="where the generated logs go")
    ap.add_argument("--big", default="1G", help="size of the big HF tqdm log (default 1G)")
    ap.add_argument("--dense", default="100M", help="size of the dense (no-tqdm) HF log")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big-rounds", type=int, help="rounds for the big log (default: --rounds)")
    ap.add_argument("--small-rounds", type=int, default=5, help="rounds for the 10 MB end-to-end figure")
    ap.add_argument("--runs", type=int, default=200, help="run folders for the -j figure")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check-points", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated: big,dense,nanogpt,e2e,checks,jobs")
    ap.add_argument("--keep", action="store_true", help="keep the generated logs")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args(argv)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    work = Path(a.workdir)
    repo = HERE.parent.resolve()
    if work.resolve() == repo or repo in work.resolve().parents:
        raise SystemExit("--workdir must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    created = not any(work.iterdir())
    load0 = os.getloadavg()
    print(f"logcheck benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}", flush=True)
    figs: dict[str, Any] = {"load_start": load0}
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        # an installed logcheck starts from its bytecode cache; without it every child would
        # compile the sources again (~0.2 s of the 10 MB figure on this machine)
        print("PYTHONDONTWRITEBYTECODE is set here: unset for the children, so they use .pyc files "
              "as an installed package does", flush=True)
    run_child([PY, "-c", "from logcheck import cli, pluginmanager; pluginmanager.make_plugin_manager()"])  # writes them
    probe = run_child([PY, "-c", "s = 0\nfor i in range(10_000_000): s += i"])
    figs["cpu_probe_s"] = probe["wall"]
    print(f"CPU probe: a 10M-iteration Python loop took {probe['wall']:.2f} s wall, {probe['cpu']:.2f} s CPU "
          f"(compare runs only when this figure is alike)", flush=True)
    targets: list[tuple[str, str, bool]] = []
    try:
        print("generating synthetic benchmark logs (benchmarks/genlog.py) ...", flush=True)
        small = gen(work, "hf_10M.synthetic.log", ["--steps", "34200"])
        big = gen(work, f"hf_{a.big}.synthetic.log", ["--size", a.big]) if "big" not in skip else None
        dense = gen(work, f"hf_dense_{a.dense}.synthetic.log", ["--size", a.dense, "--no-tqdm"]) \
            if "dense" not in skip else None
        nano = gen(work, f"nanogpt_{a.dense}.synthetic.log", ["--size", a.dense, "--format", "nanogpt"]) \
            if "nanogpt" not in skip else None
        run_dir = gen_run_dir(work, a.runs) if "jobs" not in skip else None

        if big is not None:
            rows = bench_file(big, "hf_console", a.big_rounds or a.rounds, with_e2e=True)
            f = figs["big"] = print_file_rows("HF console log with tqdm", big, rows)
            targets += [
                (f"parse speed, {big.name}", f"{f['mbps']:,.0f} MB/s (target >= {T_MBPS:.0f}), "
                 f"{f['us_per_record']:.2f} us/record; by CPU time {f['mbps_cpu']:,.0f} MB/s, "
                 f"{f['us_per_record_cpu']:.2f} us/record", f["mbps"] >= T_MBPS),
                ("parse vs wc -l, same rounds", f"{f['ratio_wc']:.1f}x (target <= {T_WC_RATIO:.0f}x)",
                 f["ratio_wc"] <= T_WC_RATIO),
                ("peak RSS, parse", f"{f['parse_rss']:.0f} MiB (target <= {T_RSS_MIB:.0f})",
                 f["parse_rss"] <= T_RSS_MIB),
                ("peak RSS, end to end with checks", f"{f['e2e_rss']:.0f} MiB (target <= {T_RSS_MIB:.0f}); "
                 f"{f['e2e_wall']:.2f} s, exit {f['e2e_rc']}", f["e2e_rss"] <= T_RSS_MIB),
            ]
        for label, path, parser in (("dense HF log (no tqdm)", dense, "hf_console"),
                                    ("nanoGPT log", nano, "nanogpt")):
            if path is None:
                continue
            rows = bench_file(path, parser, a.rounds, with_e2e=False)
            f = figs[parser + ("_dense" if parser == "hf_console" else "")] = print_file_rows(label, path, rows)
            targets.append((f"{label}, per record", f"{f['us_per_record']:.2f} us/record (target <= "
                            f"{T_US_DENSE:.1f}); {f['mbps']:,.0f} MB/s; by CPU time {f['us_per_record_cpu']:.2f} us/record",
                            f["us_per_record"] <= T_US_DENSE))

        if "e2e" not in skip:
            walls, rss = [], []
            start = [run_child([PY, "-c", "pass"]) for _ in range(a.small_rounds)]
            for _ in range(a.small_rounds):
                r = run_child([PY, "-m", "logcheck", "--format", "json", str(small)])
                walls.append(r["wall"])
                rss.append(r["rss_mib"])
            heavy = heavy_imports(small)
            figs["e2e_10M"] = {"wall": med(walls), "rss": max(rss), "python_startup": med([s["wall"] for s in start]),
                               "heavy_imports": heavy}
            print(f"\n10 MB end to end: logcheck --format json {small.name}: {med(walls):.3f} s median "
                  f"({min(walls):.3f}-{max(walls):.3f}, {len(walls)} runs), peak RSS {max(rss):.0f} MiB; "
                  f"bare `python -c pass` {figs['e2e_10M']['python_startup']:.3f} s; heavy modules imported: "
                  f"{', '.join(heavy) or 'none'}")
            targets.append(("10 MB log end to end, start-up included", f"{med(walls):.3f} s (target < "
                            f"{T_E2E_10M}); python itself {figs['e2e_10M']['python_startup']:.3f} s",
                            med(walls) < T_E2E_10M))
            targets.append(("no heavy imports (scipy, matplotlib, torch, ...)", ", ".join(heavy) or "none",
                            not heavy))

        if "checks" not in skip:
            r = run_child([PY, "-c", CHILD_CHECKS, str(a.check_points)])
            if r["rc"] != 0:
                print(f"\nchecks on {a.check_points:,} points: child failed: {r['stderr']}")
                targets.append((f"checks on {a.check_points:,} points", "child failed", False))
            else:
                per = json.loads(r["stdout"].strip().splitlines()[-1])
                figs["checks"] = per
                print(f"\nchecks on {a.check_points:,} train points (+{a.check_points // 100:,} eval), "
                      f"one process, peak RSS {r['rss_mib']:.0f} MiB:")
                for name, v in sorted(per.items(), key=lambda kv: -kv[1]["s"]):
                    print(f"  {name:<24} {v['s']:8.3f} s{'  ERROR ' + v['error'] if v['error'] else ''}")
                worst = max(per.items(), key=lambda kv: kv[1]["s"])
                errors = [k for k, v in per.items() if v["error"]]
                targets.append((f"every check on {a.check_points:,} points",
                                f"slowest {worst[0]} {worst[1]['s']:.3f} s (target < {T_CHECK_1M:.0f} s)"
                                + (f"; errors in {', '.join(errors)}" if errors else ""),
                                worst[1]["s"] < T_CHECK_1M and not errors))

        if run_dir is not None:
            seq, par = [], []
            for r in range(a.rounds):
                pair = [("1", seq), (str(a.jobs), par)]
                for jobs, acc in (pair if r % 2 == 0 else pair[::-1]):
                    res = run_child([PY, "-c", CHILD_PARALLEL, str(run_dir), jobs])
                    if res["rc"] != 0:
                        raise SystemExit(f"-j {jobs} failed: {res['stderr']}")
                    acc.append(res)
            out = [json.loads(x["stdout"].strip().splitlines()[-1]) for x in seq + par]
            same = len({(o["runs"], o["exit_code"]) for o in out}) == 1
            speedup = med([s["wall"] / p["wall"] for s, p in zip(seq, par)])
            figs["jobs"] = {"runs": out[0]["runs"], "seq": med([x["wall"] for x in seq]),
                            "par": med([x["wall"] for x in par]), "speedup": speedup, "same": same}
            print(f"\n{out[0]['runs']} run folders ({run_dir.name}): -j 1 {figs['jobs']['seq']:.2f} s, "
                  f"-j {a.jobs} {figs['jobs']['par']:.2f} s median, speed-up {speedup:.2f}x (paired), "
                  f"same runs and exit code: {same}")
            targets.append((f"-j {a.jobs} on {out[0]['runs']} runs, one combined report",
                            f"{speedup:.2f}x vs -j 1 (a second core helps only while it is free)", same))
    finally:
        if not a.keep:
            if created:
                shutil.rmtree(work, ignore_errors=True)
            else:
                for p in work.glob("*.synthetic.log"):
                    p.unlink()
                for p in work.glob("runs_*"):
                    shutil.rmtree(p, ignore_errors=True)
    load1 = os.getloadavg()
    figs["load_end"] = load1
    print(f"\nload average at the end: {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f} "
          f"(on {os.cpu_count()} CPUs; above ~{os.cpu_count()} other work competed for the cores)")
    print("\nTargets (issue 4)")
    for what, value, ok in targets:
        print(f"  [{verdict(ok)}] {what}: {value}")
    if a.json:
        Path(a.json).write_text(json.dumps({"figures": figs, "targets": [
            {"what": w, "value": v, "ok": ok} for w, v, ok in targets]}, indent=2, default=str) + "\n")
    return 0 if all(ok for _, _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
