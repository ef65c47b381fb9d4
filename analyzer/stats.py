"""Numeric helpers the checks share: smoothing, robust scale, binning, trend tests, curve fits.

Everything here is O(n) or O(n log n) numpy on a million points: statistics that
cost more than linear time (Mann-Kendall's sign matrix, Theil-Sen, curve fits) run
on at most a few hundred bin means, never on raw points (PERF_FINDINGS.md, section 5).
scipy is imported lazily, only by the functions that need it: ``import scipy.stats``
alone costs ~1 s, which is most of a small log's run time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: MAD -> standard deviation for normal data.
MAD_TO_SIGMA = 1.4826

#: Above this many points a trend test runs on bin means instead of raw points.
MAX_TREND_POINTS = 200

#: Theil-Sen builds n x n matrices; never above this (PERF_FINDINGS.md: 3k points = 0.36 s, 315 MiB).
MAX_THEIL_SEN_POINTS = 1000


# ---------------------------------------------------------------------------
# Cleaning and robust scale
# ---------------------------------------------------------------------------


def finite_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The finite (x, y) pairs and the indices they came from (for step/line provenance).

    When every pair is finite, x and y come back as read-only views of the input instead of
    copies: on a million points that is 16 MB less, and nothing here writes into them.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x)
    ok &= np.isfinite(y)
    if x.shape == y.shape and x.ndim == 1 and bool(ok.all()):
        del ok
        xv, yv = x.view(), y.view()
        xv.flags.writeable = False
        yv.flags.writeable = False
        return xv, yv, np.arange(x.size)
    idx = np.flatnonzero(ok)
    del ok
    return x[idx], y[idx], idx


def sorted_by_x(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, idx)`` in the order of a stable argsort of ``x``; no copies when ``x`` is already sorted
    (a stable sort of sorted data is the identity, so the result is the same)."""
    if x.size < 2 or bool(np.all(x[1:] >= x[:-1])):
        return x, y, idx
    order = np.argsort(x, kind="stable")
    return x[order], y[order], idx[order]


def mad_sigma(values: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 x median absolute deviation (0.0 for < 2 points)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(v - np.median(v))))


def point_noise(values: np.ndarray) -> float:
    """Robust per-point noise of a curve, insensitive to its trend.

    Uses second differences (which cancel a locally linear trend) when there are
    at least 5 points, first differences for 3-4: for white noise of sd s,
    ``d2 = y[i+1] - 2 y[i] + y[i-1]`` has sd ``s*sqrt(6)`` and ``d1`` has ``s*sqrt(2)``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size >= 5:
        d = v[2:] - 2.0 * v[1:-1] + v[:-2]
        return float(MAD_TO_SIGMA * np.median(np.abs(d)) / math.sqrt(6.0))
    if v.size >= 3:
        d = np.diff(v)
        return float(MAD_TO_SIGMA * np.median(np.abs(d)) / math.sqrt(2.0))
    return 0.0


# ---------------------------------------------------------------------------
# Smoothing
# ---------------------------------------------------------------------------


def ema(values: np.ndarray, span: float) -> np.ndarray:
    """Exponential moving average with ``alpha = 2 / (span + 1)`` (pandas' ``span``), debiased at the start.

    O(n): scipy.signal.lfilter for long series (a Python loop costs ~0.3 s per 1M points),
    a plain loop for short ones so small logs never import scipy.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return v.copy()
    alpha = 2.0 / (float(span) + 1.0)
    if n > 5000:
        from scipy.signal import lfilter  # lazy: only long series

        num = lfilter([alpha], [1.0, alpha - 1.0], v)
        den = lfilter([alpha], [1.0, alpha - 1.0], np.ones(n))
        return num / den
    out = np.empty(n)
    acc = 0.0
    w = 0.0
    for i in range(n):
        acc = (1.0 - alpha) * acc + alpha * v[i]
        w = (1.0 - alpha) * w + alpha
        out[i] = acc / w
    return out


#: Rows of a block matrix whose medians are taken at once (np.median copies what it is given).
_MEDIAN_ROWS = 4096


def block_medians(values: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Medians of consecutive blocks of ``block`` points and the block centres (as indices).

    A last partial block of at least ``max(3, block // 2)`` points gets its own median. Rows are
    taken a few thousand at a time: the result is the same as ``np.median(body, axis=1)`` (each
    row's median depends only on that row), without a full copy of the curve.
    Needs ``block >= 2`` and at least two full blocks.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    nb = n // block
    body = v[: nb * block].reshape(nb, block)
    med = np.empty(nb)
    for a in range(0, nb, _MEDIAN_ROWS):
        med[a:a + _MEDIAN_ROWS] = np.median(body[a:a + _MEDIAN_ROWS], axis=1)
    centres = np.arange(nb) * block + (block - 1) / 2.0
    rest = n - nb * block
    if rest >= max(3, block // 2):
        med = np.append(med, np.median(v[nb * block:]))
        centres = np.append(centres, nb * block + (rest - 1) / 2.0)
    return centres, med


def block_median_trend(values: np.ndarray, block: int) -> np.ndarray:
    """A rolling-median-like smooth in O(n): medians of consecutive blocks, linearly interpolated.

    A true rolling median costs O(n w) in numpy; block medians placed at the block
    centres and interpolated follow any smooth decay just as well and leave spikes
    out (a spike shorter than half a block cannot move a median).
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    block = max(1, int(block))
    if n == 0 or block <= 1:
        return v.copy()
    if n // block < 2:
        return np.full(n, float(np.median(v)))
    centres, med = block_medians(v, block)
    return np.interp(np.arange(n, dtype=np.float64), centres, med)


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling median over an odd ``window`` (edges use the nearest full window).

    Exact, O(n w) numpy: use it on eval curves and short series; for long train
    series use :func:`block_median_trend`.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    w = int(window) | 1
    if n == 0 or w <= 1 or n < w:
        return v.copy() if w <= 1 or n == 0 else np.full(n, float(np.median(v)))
    from numpy.lib.stride_tricks import sliding_window_view

    med = np.median(sliding_window_view(v, w), axis=1)
    h = w // 2
    return np.concatenate([np.full(h, med[0]), med, np.full(h, med[-1])])


def rolling_ols_slopes(x: np.ndarray, y: np.ndarray, window: int) -> np.ndarray:
    """OLS slope of every ``window``-point window, all at once from cumulative sums (O(n)).

    Returns ``n - window + 1`` slopes; slope i belongs to points ``i .. i+window-1``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = int(window)
    if w < 2 or x.size < w:
        return np.empty(0)
    x0 = x - x[0]  # keeps the sums well conditioned for large step numbers
    c = lambda a: np.concatenate([[0.0], np.cumsum(a)])  # noqa: E731
    sx, sy, sxx, sxy = c(x0), c(y), c(x0 * x0), c(x0 * y)
    Sx = sx[w:] - sx[:-w]
    Sy = sy[w:] - sy[:-w]
    Sxx = sxx[w:] - sxx[:-w]
    Sxy = sxy[w:] - sxy[:-w]
    den = w * Sxx - Sx * Sx
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (w * Sxy - Sx * Sy) / den, np.nan)


# ---------------------------------------------------------------------------
# Binning
# ---------------------------------------------------------------------------


@dataclass
class Bins:
    """Bin means of a curve: centre (mean x), mean y, count, and the index range of each bin."""

    x: np.ndarray
    y: np.ndarray
    count: np.ndarray
    first: np.ndarray  # index of the first point in the bin
    last: np.ndarray  # index of the last point in the bin

    def __len__(self) -> int:
        return int(self.x.size)


def bin_means(x: np.ndarray, y: np.ndarray, max_bins: int = 200, log: bool = False) -> Bins:
    """Means of ``y`` in at most ``max_bins`` bins of ``x`` (linear, or log-spaced for ``log=True``).

    ``x`` must be sorted ascending and finite; empty bins are dropped. With fewer
    points than bins every point is its own bin. O(n).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    if n == 0:
        e = np.empty(0)
        return Bins(e, e, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    if n <= max_bins:
        ar = np.arange(n)
        return Bins(x.copy(), y.copy(), np.ones(n, dtype=np.int64), ar, ar.copy())
    lo, hi = float(x[0]), float(x[-1])
    if log and lo > 0 and hi > lo:
        edges = np.geomspace(lo, hi, max_bins + 1)
    elif hi > lo:
        edges = np.linspace(lo, hi, max_bins + 1)
    else:
        edges = np.array([lo, lo + 1.0])
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    nb = edges.size - 1
    cnt = np.bincount(which, minlength=nb)
    sx = np.bincount(which, weights=x, minlength=nb)
    sy = np.bincount(which, weights=y, minlength=nb)
    keep = cnt > 0
    starts = np.searchsorted(which, np.arange(nb), side="left")
    ends = np.searchsorted(which, np.arange(nb), side="right") - 1
    c = cnt[keep]
    return Bins(sx[keep] / c, sy[keep] / c, c.astype(np.int64), starts[keep], ends[keep])


def equal_count_bins(y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``y`` into ``n_bins`` consecutive chunks of (nearly) equal size; return their means and end indices."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    n_bins = max(1, min(int(n_bins), n))
    bounds = np.linspace(0, n, n_bins + 1).astype(np.int64)
    cs = np.empty(n + 1)  # [0, cumsum(y)] without a second copy of the curve
    cs[0] = 0.0
    np.cumsum(y, out=cs[1:])
    means = (cs[bounds[1:]] - cs[bounds[:-1]]) / np.maximum(bounds[1:] - bounds[:-1], 1)
    return means, bounds[1:] - 1


# ---------------------------------------------------------------------------
# Trend tests
# ---------------------------------------------------------------------------


@dataclass
class Trend:
    """A trend of y over x: OLS slope with a noise-aware t-test, and Mann-Kendall."""

    n: int  # points (or bin means) the test ran on
    slope: float  # OLS slope, y units per x unit
    slope_se: float  # its standard error from the residuals
    t: float  # slope / se
    tau: float  # Kendall's tau (Mann-Kendall)
    p_down: float  # one-sided p-value that the curve falls (Mann-Kendall, normal approx.)
    p_up: float  # one-sided p-value that the curve rises
    intercept: float = 0.0
    x_end: float = 0.0
    binned: bool = False

    def value_at(self, x: float) -> float:
        return self.intercept + self.slope * x

    @property
    def end_value(self) -> float:
        """The fitted line's value at the last x: a smoothed 'where the curve is now'."""
        return self.value_at(self.x_end)


def mann_kendall(y: np.ndarray) -> tuple[float, float, float]:
    """(tau, p_down, p_up) for a series in order; O(n^2) so only for <= a few hundred points.

    Normal approximation with continuity correction and the tie-corrected variance.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n < 3:
        return 0.0, 1.0, 1.0
    d = np.sign(y[None, :] - y[:, None])
    s = float(np.triu(d, 1).sum())
    _, counts = np.unique(y, return_counts=True)
    ties = counts[counts > 1]
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    pairs = n * (n - 1) / 2.0
    tau = s / pairs
    if var <= 0:
        return tau, 1.0, 1.0
    sd = math.sqrt(var)
    z_down = (-s - 1.0) / sd  # large when s is very negative
    z_up = (s - 1.0) / sd
    p_down = 0.5 * math.erfc(z_down / math.sqrt(2.0))
    p_up = 0.5 * math.erfc(z_up / math.sqrt(2.0))
    return tau, min(1.0, p_down), min(1.0, p_up)


def trend(x: np.ndarray, y: np.ndarray, max_points: int = MAX_TREND_POINTS) -> Optional[Trend]:
    """Trend of y over x; more than ``max_points`` points are reduced to that many bin means first.

    The slope's standard error comes from the residuals around the line, so a
    noisy curve needs a larger slope to count; Mann-Kendall gives a rank-based
    second opinion that one outlier cannot swing. None for < 3 finite points.
    """
    x, y, _ = finite_xy(x, y)
    binned = False
    if x.size > max_points:
        b = bin_means(x, y, max_points)
        x, y, binned = b.x, b.y, True
    n = x.size
    if n < 3 or float(x[-1]) == float(x[0]):
        return None
    xm = float(x.mean())
    ym = float(y.mean())
    dx = x - xm
    sxx = float(np.dot(dx, dx))
    slope = float(np.dot(dx, y - ym) / sxx)
    intercept = ym - slope * xm
    resid = y - (intercept + slope * x)
    dof = n - 2
    s2 = float(np.dot(resid, resid)) / dof if dof > 0 else 0.0
    se = math.sqrt(s2 / sxx) if s2 > 0 else 0.0
    t = slope / se if se > 0 else (math.copysign(math.inf, slope) if slope else 0.0)
    tau, p_down, p_up = mann_kendall(y)
    return Trend(n=n, slope=slope, slope_se=se, t=t, tau=tau, p_down=p_down, p_up=p_up,
                 intercept=intercept, x_end=float(x[-1]), binned=binned)


def theil_sen_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Median of pairwise slopes; refuses more than :data:`MAX_THEIL_SEN_POINTS` points (O(n^2) memory)."""
    x, y, _ = finite_xy(x, y)
    if x.size > MAX_THEIL_SEN_POINTS:
        raise ValueError(f"Theil-Sen on {x.size} points; bin or subsample to <= {MAX_THEIL_SEN_POINTS} first")
    if x.size < 2:
        return math.nan
    i, j = np.triu_indices(x.size, 1)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return math.nan
    return float(np.median((y[j] - y[i])[ok] / dx[ok]))


# ---------------------------------------------------------------------------
# Power law plus floor
# ---------------------------------------------------------------------------


@dataclass
class PowerLawFit:
    """``L(t) = floor + a * (t + t0) ** (-b)`` fitted to a decaying curve."""

    floor: float
    a: float
    b: float
    t0: float
    rmse: float  # weighted RMS residual on the points it was fitted to
    n: int  # points (bin means) used
    method: str = "grid"
    extra: dict = field(default_factory=dict)

    def predict(self, t: np.ndarray | float) -> np.ndarray | float:
        return self.floor + self.a * np.power(np.asarray(t, dtype=np.float64) + self.t0, -self.b)

    def slope_at(self, t: float) -> float:
        """dL/dt at step t (negative while falling)."""
        return float(-self.a * self.b * (t + self.t0) ** (-self.b - 1.0))

    def gain(self, t_now: float, more_steps: float) -> float:
        """L(t_now + more_steps) - L(t_now): negative = what more training would lower the loss by."""
        return float(self.predict(t_now + more_steps) - self.predict(t_now))


def _wls_floor_a(u: np.ndarray, y: np.ndarray, w: np.ndarray, floor_min: float) -> tuple[float, float, float]:
    """Weighted least squares of y = floor + a*u; floor clamped at ``floor_min``; returns (floor, a, sse)."""
    sw = w.sum()
    um = float(np.dot(w, u) / sw)
    ym = float(np.dot(w, y) / sw)
    du = u - um
    suu = float(np.dot(w, du * du))
    if suu <= 0:
        return ym, 0.0, float(np.dot(w, (y - ym) ** 2))
    a = float(np.dot(w, du * (y - ym)) / suu)
    floor = ym - a * um
    if floor < floor_min:
        floor = floor_min
        denom = float(np.dot(w, u * u))
        a = float(np.dot(w, u * (y - floor)) / denom) if denom > 0 else 0.0
    r = y - floor - a * u
    return floor, a, float(np.dot(w, r * r))


def fit_power_law_floor(
    x: np.ndarray,
    y: np.ndarray,
    max_bins: int = 200,
    floor_min: Optional[float] = None,
    method: str = "grid",
) -> Optional[PowerLawFit]:
    """Fit ``floor + a (t + t0)^-b`` to a falling curve on <= ``max_bins`` log-spaced bin means.

    ``method="grid"`` (default) profiles the model: for each (b, t0) on a grid the
    model is linear in (floor, a), solved exactly by weighted least squares, so
    the global optimum on the grid is found without an optimiser, and without
    importing scipy (~0.7 s). ``method="curve_fit"`` then polishes (floor, a, b)
    with scipy.optimize.curve_fit from that start. Bins are weighted by their
    point count. Returns None when the curve does not decay (a <= 0) or there are
    fewer than 4 finite points. ``floor_min`` defaults to 0 for a positive curve.
    """
    x, y, _ = finite_xy(x, y)
    if x.size < 4 or float(x[-1]) <= float(x[0]):
        return None
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if floor_min is None:
        floor_min = 0.0 if float(y.min()) > 0 else -math.inf
    shift = 0.0
    if x[0] <= 0:  # log bins and (t + t0)^-b need positive t
        shift = 1.0 - float(x[0])
    xs = x + shift
    b_ = bin_means(xs, y, max_bins, log=True)
    bx, by, bw = b_.x, b_.y, b_.count.astype(np.float64)
    if bx.size < 4:
        return None
    span = float(bx[-1] - bx[0])
    t0_grid = [0.0, 0.01 * span, 0.05 * span, 0.2 * span]
    b_grid = np.concatenate([np.linspace(0.02, 1.0, 50), np.linspace(1.05, 3.0, 40)])
    best: Optional[tuple[float, float, float, float, float]] = None  # sse, floor, a, b, t0
    for t0 in t0_grid:
        lt = np.log(bx + t0)
        for b in b_grid:
            u = np.exp(-b * lt)
            floor, a, sse = _wls_floor_a(u, by, bw, floor_min)
            if a > 0 and (best is None or sse < best[0]):
                best = (sse, floor, a, float(b), t0)
    if best is None:
        return None
    sse, floor, a, b, t0 = best
    # Refine b by golden-section search around the grid optimum (t0 fixed).
    lt = np.log(bx + t0)

    def sse_of(bb: float) -> float:
        f, aa, s = _wls_floor_a(np.exp(-bb * lt), by, bw, floor_min)
        return s if aa > 0 else math.inf

    lo, hi = max(1e-3, b - 0.05), b + 0.05
    g = (math.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = sse_of(c), sse_of(d)
    for _ in range(30):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = sse_of(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = sse_of(d)
    bb = (lo + hi) / 2
    f2, a2, s2 = _wls_floor_a(np.exp(-bb * lt), by, bw, floor_min)
    if a2 > 0 and s2 <= sse:
        floor, a, b, sse = f2, a2, bb, s2
    used = "grid"
    if method == "curve_fit":
        try:
            from scipy.optimize import curve_fit  # lazy: ~0.7 s import

            def model(t: np.ndarray, fl: float, aa: float, bb_: float) -> np.ndarray:
                return fl + aa * np.power(t + t0, -bb_)

            lower = [floor_min if math.isfinite(floor_min) else -np.inf, 0.0, 1e-4]
            p, _ = curve_fit(model, bx, by, p0=[max(floor, lower[0]), a, b], sigma=1.0 / np.sqrt(bw),
                             bounds=(lower, [np.inf, np.inf, 10.0]), maxfev=2000)
            r = by - model(bx, *p)
            s3 = float(np.dot(bw, r * r))
            if s3 <= sse:
                floor, a, b, sse = float(p[0]), float(p[1]), float(p[2]), s3
                used = "curve_fit"
        except Exception:  # an optimiser failure keeps the grid optimum
            pass
    rmse = math.sqrt(sse / float(bw.sum()))
    # Report t0 in the caller's step units.
    return PowerLawFit(floor=floor, a=a, b=b, t0=t0 + shift, rmse=rmse, n=int(bx.size), method=used)


# ---------------------------------------------------------------------------
# Aligning two curves
# ---------------------------------------------------------------------------


def window_means_at(
    at_steps: np.ndarray, steps: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each step s_i in ``at_steps`` (ascending), the mean of ``values`` logged in (s_{i-1}, s_i].

    The first window reaches back as far as the second one is wide. A window with
    no point takes the nearest point by step. Returns (means, points per window;
    0 where the nearest point stood in). ``steps`` must be ascending and finite. O(n log n).
    """
    at = np.asarray(at_steps, dtype=np.float64)
    st = np.asarray(steps, dtype=np.float64)
    va = np.asarray(values, dtype=np.float64)
    m = at.size
    out = np.full(m, np.nan)
    cnt = np.zeros(m, dtype=np.int64)
    if m == 0 or st.size == 0:
        return out, cnt
    prev = np.empty(m)
    prev[1:] = at[:-1]
    first_w = (at[1] - at[0]) if m > 1 else (at[0] - st[0] + 1.0)
    prev[0] = at[0] - max(first_w, 0.0)
    cs = np.empty(va.size + 1)  # [0, cumsum(values)] without a second copy
    cs[0] = 0.0
    np.cumsum(va, out=cs[1:])
    lo = np.searchsorted(st, prev, side="right")
    hi = np.searchsorted(st, at, side="right")
    cnt = np.maximum(hi - lo, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cnt > 0, (cs[hi] - cs[lo]) / np.maximum(cnt, 1), np.nan)
    empty = np.flatnonzero(cnt == 0)
    if empty.size:
        j = np.clip(np.searchsorted(st, at[empty]), 0, st.size - 1)
        jm = np.clip(j - 1, 0, st.size - 1)
        nearer = np.where(np.abs(st[jm] - at[empty]) <= np.abs(st[j] - at[empty]), jm, j)
        out[empty] = va[nearer]
    return out, cnt
