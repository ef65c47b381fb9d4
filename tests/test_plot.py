"""``--plot``: loss curves with the findings drawn from the checks' facts and evidence.

Figures are inspected as matplotlib objects (labels, the data of the drawn lines),
so each test can fail on what it claims; images of the real fixtures are written
and read back (PNG magic, SVG parsed as XML).
"""
from __future__ import annotations

import math
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from logcheck import CheckResult, Finding, MissingExtraError, Series, Severity, Split, Status, UsageError
from logcheck.plot import PIXEL_COLUMNS, envelope, make_figure, plot_report, run_label
from logcheck.report import Report, RunReport
from logcheck.testing import make_test_settings, series_run

pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def _labels(fig) -> list[str]:
    ax = fig.axes[0]
    return ax.get_legend_handles_labels()[1]


def _texts(fig) -> str:
    return " | ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " | " + " | ".join(
        t.get_text() for t in fig.texts)


def _line(fig, label: str):
    for ln in fig.axes[0].lines:
        if ln.get_label() == label:
            return ln
    raise AssertionError(f"no line labelled {label!r}; have {[ln.get_label() for ln in fig.axes[0].lines]}")


def _curve_run(n: int = 30, nan_at: tuple[int, ...] = (), epochs: bool = True):
    steps = np.arange(1, n + 1) * 10.0
    loss = 4.0 * (steps / 10.0) ** -0.3 + 1.0
    for i in nan_at:
        loss[i] = math.nan
    ev_steps = steps[4::5]
    ev = 4.0 * (ev_steps / 10.0) ** -0.3 + 1.2
    pts = [(s, v, s / (n * 10.0) * 3) if epochs else (s, v) for s, v in zip(steps, loss)]
    return series_run(train_loss=pts, eval_loss=[(s, v) for s, v in zip(ev_steps, ev)],
                      train_learning_rate=[(s, 1e-3 * (1 - s / (n * 10 + 10))) for s in steps])


# ---------------------------------------------------------------------------
# Reducing for drawing
# ---------------------------------------------------------------------------


def test_envelope_keeps_small_curves_point_by_point():
    st = np.arange(30.0)
    va = np.linspace(3, 1, 30)
    env = envelope(st, va)
    assert not env.reduced
    assert np.array_equal(env.x, st) and np.array_equal(env.mean, va)


def test_envelope_matches_brute_force_min_max_per_column():
    rng = np.random.default_rng(1)
    n = 50_000
    st = np.arange(n, dtype=float)
    va = rng.normal(size=n)
    va[rng.choice(n, 200, replace=False)] = np.nan
    va[123] = np.inf  # non-finite is data, but not part of a column's min/max
    env = envelope(st, va, columns=100)
    assert env.reduced and env.x.size == 100
    edges = np.searchsorted(st, np.linspace(st[0], st[-1], 101)[:-1])
    for k in (0, 37, 99):
        a, b = edges[k], edges[k + 1] if k < 99 else n
        chunk = va[a:b][np.isfinite(va[a:b])]
        assert env.lo[k] == chunk.min() and env.hi[k] == chunk.max()
        assert env.mean[k] == pytest.approx(chunk.mean())
        assert env.count[k] == chunk.size


def test_envelope_of_unsorted_steps_bins_by_index():
    st = np.concatenate([np.arange(5000.0), np.arange(2000.0, 7000.0)])  # a resumed run goes back
    va = np.concatenate([np.full(5000, 2.0), np.full(5000, 5.0)])
    env = envelope(st, va, columns=100)
    assert env.reduced and env.x.size == 100
    assert env.hi[:50].max() == 2.0 and env.lo[50:].min() == 5.0


# ---------------------------------------------------------------------------
# What is drawn
# ---------------------------------------------------------------------------


def test_small_run_draws_every_point_and_epochs_on_top():
    run = _curve_run(30)
    fig = make_figure([RunReport(run=run)])
    raw = _line(fig, "train loss (raw)")
    assert len(raw.get_xdata()) == 30
    ev = _line(fig, "eval loss")
    assert len(ev.get_xdata()) == 6 and ev.get_marker() == "o"
    assert len(fig.axes[0].child_axes) == 1  # the secondary epoch axis
    assert fig.axes[0].child_axes[0].get_xlabel() == "epoch"
    assert [a.get_ylabel() for a in fig.axes[1:]] == ["learning rate"]


def test_no_epoch_axis_without_epochs():
    fig = make_figure([RunReport(run=_curve_run(30, epochs=False))])
    assert not fig.axes[0].child_axes


def test_non_finite_values_are_marked_at_the_top_edge():
    run = _curve_run(40, nan_at=(7, 20, 21))
    fig = make_figure([RunReport(run=run)])
    marks = _line(fig, "non-finite train loss (3)")
    assert sorted(marks.get_xdata()) == [80.0, 210.0, 220.0]
    assert set(marks.get_ydata()) == {0.97}  # axes coordinates: the top edge


def _overfit_report(min_step: float = 150.0) -> RunReport:
    run = _curve_run(30)
    ovf = CheckResult(
        check="overfitting", status=Status.warn, reason="eval rose",
        facts={"eval_min": {"step": min_step, "value": 2.5, "line": 3}},
        findings=[Finding(code="OVF001", check="overfitting", severity=Severity.warning, message="eval rose",
                          step=min_step, evidence={"min_step": min_step, "rise_pct": 18.0})])
    cfg = CheckResult(check="config", status=Status.pass_, facts={"restored_step": 200, "restored_eval": 2.6,
                                                                 "checkpoints": [100, 200, 300]})
    conv = CheckResult(check="convergence", status=Status.pass_, facts={
        "series": "eval loss", "first": {"step": 50}, "last": {"step": 300},
        "fit": {"floor": 1.9, "a": 3.0, "b": 0.5, "t0": 0.0, "horizon_steps": 30.0}})
    stb = CheckResult(check="stability", status=Status.warn, findings=[Finding(
        code="STB005", check="stability", severity=Severity.warning, message="spikes", step=120.0,
        evidence={"count": 2, "largest": [{"step": 120, "value": 3.3, "ratio": 2.5}, {"step": 60, "value": 3.1,
                                                                                     "ratio": 2.1}]})])
    return RunReport(run=run, results=[ovf, cfg, conv, stb])


def test_findings_are_drawn_from_the_checks_facts():
    fig = make_figure([_overfit_report(150.0)])
    labels = _labels(fig)
    assert "overfitting from step 150 (OVF001)" in labels
    assert "eval minimum 2.5 (step 150)" in labels
    assert "restored checkpoint-200" in labels
    assert "fitted eval loss (power law + floor)" in labels
    assert "loss spikes (STB005, 2 in all)" in labels
    ax = fig.axes[0]
    span = [p for p in ax.patches if p.get_label().startswith("overfitting")][0]
    assert span.get_x() == pytest.approx(150.0)  # from the finding's evidence, not recomputed
    star = _line(fig, "eval minimum 2.5 (step 150)")
    assert list(star.get_xdata()) == [150.0] and list(star.get_ydata()) == [2.5]
    spikes = _line(fig, "loss spikes (STB005, 2 in all)")
    assert sorted(spikes.get_xdata()) == [60.0, 120.0]
    fit = _line(fig, [lb for lb in labels if lb.startswith("fitted")][0])
    x = np.asarray(fit.get_xdata())
    assert x[0] == 50 and x[-1] == 300
    assert np.allclose(fit.get_ydata(), 1.9 + 3.0 * x ** -0.5)
    assert "fitted floor ≈ 1.9" in _texts(fig)
    assert "OVF001: eval loss +18% since its minimum" in _texts(fig)
    assert "WARN: overfitting, stability" in _texts(fig)


def test_moving_the_fact_moves_the_drawing():
    fig = make_figure([_overfit_report(250.0)])
    assert "overfitting from step 250 (OVF001)" in _labels(fig)
    assert "overfitting from step 150 (OVF001)" not in _labels(fig)


def test_generic_findings_get_a_line_at_their_step():
    run = _curve_run(30)
    res = CheckResult(check="stability", status=Status.fail, findings=[
        Finding(code="STB009", check="stability", severity=Severity.error, message="jump", step=170.0)])
    fig = make_figure([RunReport(run=run, results=[res])])
    xs = [ln.get_xdata()[0] for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert 170.0 in xs
    assert "STB009" in _texts(fig)


def test_a_million_points_are_reduced_for_drawing_only():
    n = 1_000_000
    st = np.arange(1, n + 1, dtype=float)
    va = 2 + 5 * st ** -0.3
    run = series_run(train_loss=[(1, 7.0), (2, 6.0)])
    big = Series(name="loss", split=Split.train, key="loss", step=st, value=va, epoch=np.full(n, np.nan),
                 line=np.zeros(n, dtype=np.int64))
    run = run.model_copy(update={"series": {"train/loss": big}})
    t = time.perf_counter()
    fig = make_figure([RunReport(run=run)])
    assert time.perf_counter() - t < 20
    smooth = _line(fig, "train loss (smoothed)")
    assert len(smooth.get_xdata()) <= PIXEL_COLUMNS
    assert len(run.train_loss) == n  # the run itself is untouched


def test_runs_and_baseline_are_overlaid():
    a, b = _curve_run(30), _curve_run(20)
    a = a.model_copy(update={"name": "/x/runs/a.log"})
    b = b.model_copy(update={"name": "/x/runs/b.log"})
    settings = make_test_settings(plugin_options={"baseline": {
        "name": "ref.json", "train_loss": {"step": [10, 20, 30], "value": [3.0, 2.5, "NaN"]},
        "eval_loss": {"step": [30], "value": [2.7]}}})
    from logcheck.plot import _baseline_of

    fig = make_figure([RunReport(run=a), RunReport(run=b)], _baseline_of(settings))
    labels = _labels(fig)
    assert "runs/a.log: train loss (smoothed)" in labels and "runs/b.log: eval loss" in labels
    base = _line(fig, "baseline ref.json: train loss")
    assert list(base.get_xdata()) == [10, 20, 30] and math.isnan(base.get_ydata()[2])
    assert "2 runs" in _texts(fig)


def test_run_without_metrics_says_so():
    run = series_run()
    fig = make_figure([RunReport(run=run)])
    assert "no per-step metrics in the log" in _texts(fig)


def test_all_non_finite_loss_says_so():
    run = series_run(train_loss=[(1, math.nan), (2, math.inf), (3, math.nan)])
    fig = make_figure([RunReport(run=run)])
    assert "train loss: all 3 values non-finite" in _texts(fig)


def test_run_label_is_short():
    assert run_label(series_run(path="/very/long/path/to/output_dir/run.log")) == "output_dir/run.log"


# ---------------------------------------------------------------------------
# Files, errors and imports
# ---------------------------------------------------------------------------


def test_png_svg_and_bad_suffix(tmp_path):
    report = Report(runs=[_overfit_report()])
    png = plot_report(report, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_report(report, tmp_path / "c.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    with pytest.raises(UsageError, match=r"\.png, \.svg or \.pdf"):
        plot_report(report, tmp_path / "c.jpg")
    with pytest.raises(UsageError, match="cannot write"):
        plot_report(report, tmp_path / "missing_dir" / "c.png")


def test_missing_matplotlib_is_a_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingExtraError, match=r"logcheck\[plot\]"):
        make_figure([RunReport(run=_curve_run(10))])


def test_core_and_plot_module_do_not_import_matplotlib():
    code = ("import sys, logcheck, logcheck.cli, logcheck.pipeline, logcheck.plot, logcheck.html_report\n"
            "from logcheck.pipeline import prepare; prepare()\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported at start-up'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ---------------------------------------------------------------------------
# Real fixtures, through the real parsers and checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hf_tiny", "lightning_overfit"])
def test_real_fixture_plots(tmp_path, name):
    d = FIXTURES / name
    if not d.exists():
        pytest.skip(f"fixture {name} not generated")
    from logcheck.pipeline import analyze_paths

    report = analyze_paths([str(d)])
    assert report.runs
    out = plot_report(report, tmp_path / f"{name}.png")
    assert out.stat().st_size > 10_000
    fig = make_figure(report.runs)
    labels = _labels(fig)
    ovf = report.runs[0].result("overfitting")
    if ovf is not None and any(f.code == "OVF001" for f in ovf.findings):
        assert any(lb.startswith("overfitting from step") for lb in labels)
    else:
        assert not any(lb.startswith("overfitting from step") for lb in labels)
    if ovf is not None and "eval_min" in ovf.facts:
        assert any(lb.startswith("eval minimum") for lb in labels)


def test_hostile_run_names_are_drawn_as_text(tmp_path):
    name = "/logs/$\\frac{a}{$ run\x1b[31m <b>&.log"
    run = _curve_run(10).model_copy(update={"name": name, "path": name})
    other = _curve_run(10).model_copy(update={"name": "$x$"})
    report = Report(runs=[RunReport(run=run), RunReport(run=other)])
    out = plot_report(report, tmp_path / "c.png")  # mathtext would raise on the unbalanced \frac
    assert out.stat().st_size > 1000
    fig = make_figure([RunReport(run=run)])
    assert "\\$\\frac{a}{\\$ run\ufffd[31m <b>&.log" in _texts(fig)
