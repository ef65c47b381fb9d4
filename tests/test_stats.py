"""Unit tests for logcheck.stats on synthetic, seeded curves (not library output)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from logcheck import stats


def test_mad_sigma_matches_sd_of_normal_data():
    rng = np.random.default_rng(1)
    assert stats.mad_sigma(rng.normal(0, 2.0, 20000)) == pytest.approx(2.0, rel=0.05)
    assert stats.mad_sigma(np.array([1.0])) == 0.0


def test_point_noise_ignores_a_linear_trend():
    rng = np.random.default_rng(2)
    x = np.arange(5000.0)
    y = 10 - 0.01 * x + rng.normal(0, 0.1, x.size)
    assert stats.point_noise(y) == pytest.approx(0.1, rel=0.1)
    # the plain sd would be dominated by the trend
    assert np.std(y) > 10 * stats.point_noise(y)


def test_block_median_trend_follows_smooth_decay_and_ignores_spikes():
    x = np.arange(1, 20001, dtype=float)
    y = 2 + 5 * x ** -0.5
    y_sp = y.copy()
    y_sp[10000] *= 5
    sm = stats.block_median_trend(y_sp, 51)
    # linear interpolation between block centres: small relative error once past the steepest part
    assert np.max(np.abs(sm[200:] - y[200:]) / y[200:]) < 5e-3
    assert abs(sm[10000] - y[10000]) < 1e-3


def test_rolling_median_and_ols_slopes():
    v = np.array([1, 9, 2, 3, 4, 100, 5, 6.0])
    rm = stats.rolling_median(v, 3)
    assert rm.tolist() == [2, 2, 3, 3, 4, 5, 6, 6]
    x = np.arange(50.0)
    y = 3 * x + np.sin(x)
    sl = stats.rolling_ols_slopes(x, y, 10)
    assert sl.size == 41
    assert sl[7] == pytest.approx(np.polyfit(x[7:17], y[7:17], 1)[0])


def test_bin_means_counts_and_means():
    x = np.arange(1, 100001, dtype=float)
    y = np.ones_like(x)
    y[50000:] = 3.0
    b = stats.bin_means(x, y, 200)
    assert len(b) <= 200 and b.count.sum() == x.size
    assert b.y[0] == 1.0 and b.y[-1] == 3.0
    bl = stats.bin_means(x, y, 200, log=True)
    assert len(bl) <= 200 and bl.count.sum() == x.size
    assert bl.count[0] < bl.count[-1]  # log-spaced: early bins hold fewer points
    small = stats.bin_means(x[:10], y[:10], 200)
    assert len(small) == 10


def test_mann_kendall_agrees_with_scipy():
    kendalltau = pytest.importorskip("scipy.stats").kendalltau
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(-0.1, 1, 150))
    tau, p_down, p_up = stats.mann_kendall(y)
    ref = kendalltau(np.arange(y.size), y)
    assert tau == pytest.approx(ref.statistic, abs=1e-9)
    assert min(p_down, p_up) * 2 == pytest.approx(ref.pvalue, rel=0.1, abs=1e-6)


def test_trend_separates_falling_from_flat_noise():
    rng = np.random.default_rng(4)
    x = np.arange(100.0)
    falling = stats.trend(x, 5 - 0.01 * x + rng.normal(0, 0.05, x.size))
    assert falling.slope < 0 and falling.p_down < 0.01
    flat = stats.trend(x, 5 + rng.normal(0, 0.05, x.size))
    assert flat.p_down > 0.05
    big = stats.trend(np.arange(1e6), np.linspace(5, 4, 1_000_000))
    assert big.binned and big.n <= stats.MAX_TREND_POINTS and big.slope == pytest.approx(-1e-6, rel=1e-3)
    assert stats.trend(x[:2], x[:2]) is None


def test_theil_sen_refuses_large_inputs():
    x = np.arange(20.0)
    assert stats.theil_sen_slope(x, 2 * x + 1) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        stats.theil_sen_slope(np.arange(1001.0), np.arange(1001.0))


@pytest.mark.parametrize("method", ["grid", "curve_fit"])
def test_power_law_fit_recovers_exponent_and_floor(method):
    rng = np.random.default_rng(5)
    x = np.arange(1, 100001, dtype=float)
    y = 1.8 + 6 * x ** -0.4 * np.exp(rng.normal(0, 0.03, x.size))
    fit = stats.fit_power_law_floor(x, y, method=method)
    assert fit is not None and fit.n <= 200
    assert fit.b == pytest.approx(0.4, abs=0.03)
    assert fit.floor == pytest.approx(1.8, abs=0.05)
    assert fit.gain(100000, 10000) < 0
    assert fit.slope_at(1000) < 0


def test_power_law_fit_refuses_rising_or_short_curves():
    x = np.arange(1, 50, dtype=float)
    assert stats.fit_power_law_floor(x, 1 + 0.1 * x) is None
    assert stats.fit_power_law_floor(x[:3], x[:3]) is None


def test_window_means_at_eval_steps():
    tr_steps = np.arange(20, 801, 20, dtype=float)
    tr_vals = np.arange(tr_steps.size, dtype=float)
    means, counts = stats.window_means_at(np.array([100.0, 200.0, 700.0]), tr_steps, tr_vals)
    assert counts.tolist() == [5, 5, 25]  # (0,100], (100,200], (200,700]
    assert means[0] == pytest.approx(np.mean(tr_vals[0:5]))
    # an empty window falls back to the nearest point
    m2, c2 = stats.window_means_at(np.array([10.0, 15.0]), np.array([1.0, 100.0]), np.array([7.0, 9.0]))
    assert c2.tolist() == [0, 0] and m2.tolist() == [7.0, 7.0]  # first window (5, 10] is empty too


def test_ema_long_and_short_paths_agree():
    rng = np.random.default_rng(6)
    v = rng.normal(0, 1, 6000)
    long_path = stats.ema(v, 20)
    short_path = np.concatenate([stats.ema(v[:5000], 20), [np.nan] * 1000])
    assert np.allclose(long_path[:5000], short_path[:5000])
    assert stats.ema(np.array([3.0]), 5)[0] == 3.0
    assert math.isclose(stats.ema(np.full(10, 2.0), 3)[-1], 2.0)


def test_block_medians_match_a_whole_array_median():
    rng = np.random.default_rng(9)
    for n, block in ((10_000, 101), (50_123, 101), (9000, 7), (2 * 4096 * 11 + 5, 11), (37, 6)):
        v = rng.normal(0, 1, n)
        centres, med = stats.block_medians(v, block)
        nb = n // block
        assert np.array_equal(med[:nb], np.median(v[: nb * block].reshape(nb, block), axis=1))
        assert centres[0] == (block - 1) / 2.0 and centres.size == med.size
        rest = n - nb * block
        assert med.size == nb + (1 if rest >= max(3, block // 2) else 0)


def test_finite_xy_views_when_all_finite_and_copies_otherwise():
    x = np.arange(5.0)
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    fx, fy, idx = stats.finite_xy(x, y)
    assert np.shares_memory(fx, x) and not fx.flags.writeable and not fy.flags.writeable
    assert idx.tolist() == [0, 1, 2, 3, 4]
    y[2] = np.nan
    fx, fy, idx = stats.finite_xy(x, y)
    assert fx.tolist() == [0.0, 1.0, 3.0, 4.0] and idx.tolist() == [0, 1, 3, 4] and fy.flags.writeable


def test_sorted_by_x_is_a_stable_argsort_without_copies_when_sorted():
    x = np.array([1.0, 2.0, 2.0, 5.0])
    y = np.array([4.0, 3.0, 2.0, 1.0])
    idx = np.arange(4)
    sx, sy, si = stats.sorted_by_x(x, y, idx)
    assert sx is x and sy is y and si is idx
    x2 = np.array([3.0, 1.0, 2.0, 1.0])
    sx, sy, si = stats.sorted_by_x(x2, y, idx)
    o = np.argsort(x2, kind="stable")
    assert sx.tolist() == x2[o].tolist() and sy.tolist() == y[o].tolist() and si.tolist() == o.tolist()


def test_equal_count_bins_means_and_ends():
    y = np.arange(10.0)
    means, ends = stats.equal_count_bins(y, 5)
    assert means.tolist() == [0.5, 2.5, 4.5, 6.5, 8.5] and ends.tolist() == [1, 3, 5, 7, 9]
