#!/usr/bin/python3
"""Reference values for lib/stats.c, computed independently of the C code.

Run from the repository root:

    /usr/bin/python3 tests/vectors/gen_stats.py > tests/vectors/stats.json

Sources of truth (none of them shares code with lib/stats.c):
  - normal CDF / survival: mpmath.ncdf at 60 significant digits;
  - normal quantile: scipy.special.ndtri, polished by Newton steps on
    mpmath.ncdf at 60 digits;
  - Wilson bounds, score test, two-proportion tests (pooled z-test at
    ratio 1, Farrington-Manning score test otherwise): the textbook formulas
    evaluated in mpmath at 60 digits, cross-checked against
    scipy.stats.binomtest(...).proportion_ci(method="wilson") and a
    statsmodels-style numpy z-test where those are well conditioned;
  - Mann-Whitney U: scipy.stats.mannwhitneyu(x, y * scale,
    alternative="greater", use_continuity=True, method=...) for raw samples;
    for grouped data with huge counts (which scipy cannot expand), exact
    rational arithmetic on the tie groups with mpmath for the tail,
    cross-checked against scipy on expanded moderate counts;
  - quantiles: numpy.quantile (linear interpolation, numpy's default).

The file is frozen: regenerate only if a formula's definition changes, and
say so in the commit.
"""
import json
import math
import platform
import sys
from fractions import Fraction

import mpmath
import numpy as np
import scipy
import scipy.special
import scipy.stats

mpmath.mp.dps = 60
mpf = mpmath.mpf


def f(x):
    """mpmath value -> nearest double (as a Python float)."""
    return float(mpmath.mpf(x))


def ncdf(x):
    return mpmath.ncdf(mpf(x))


def ppf(p):
    """High-precision normal quantile of the double p."""
    p = mpf(p)
    x = mpf(float(scipy.special.ndtri(float(p))))
    for _ in range(8):
        x = x - (mpmath.ncdf(x) - p) / mpmath.npdf(x)
    return x


def rel(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


# ---- normal ------------------------------------------------------------------

cdf_points = [-38.0, -37.5, -30.0, -20.0, -10.0, -8.5, -6.0, -5.0, -3.0, -2.5758293035489,
              -1.959963984540054, -1.6448536269514722, -1.0, -0.5, -1e-3, -1e-12, 0.0,
              1e-12, 0.25, 0.5, 1.0, 1.2815515655446004, 1.6448536269514722, 1.959963984540054,
              2.326347874040841, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.3, 10.0, 12.0, 20.0, 37.0]
norm_cdf = [{"x": x, "cdf": f(ncdf(x)), "sf": f(ncdf(-x))} for x in cdf_points]
for r in norm_cdf:
    assert rel(r["cdf"], float(scipy.stats.norm.cdf(r["x"]))) < 1e-12 or r["cdf"] < 1e-300

ppf_points = [1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-12, 1e-9, 1e-6, 1e-4, 0.001, 0.01,
              0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.49, 0.499999, 0.5, 0.500001, 0.51,
              0.6, 0.7, 0.75, 0.8, 0.9, 0.925, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9999,
              0.999999, 1 - 1e-9, 1 - 1e-12, 1 - 2**-52]
norm_ppf = []
for p in ppf_points:
    x = ppf(p)
    assert rel(f(x), float(scipy.special.ndtri(p))) < 1e-12 or abs(f(x)) < 1e-12
    norm_ppf.append({"p": p, "x": f(x)})


# ---- Wilson bounds and the score test -----------------------------------------

def wilson(x, n, c):
    x, n = mpf(x), mpf(n)
    z = ppf(c)
    ph = x / n
    center = ph + z * z / (2 * n)
    half = z * mpmath.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return (center - half) / denom, (center + half) / denom


wilson_cases = [
    (0, 1, 0.95), (1, 1, 0.95), (0, 10, 0.95), (1, 10, 0.95), (5, 10, 0.95), (10, 10, 0.95),
    (3, 1000, 0.95), (5, 1000, 0.95), (11, 2000, 0.95), (84, 120000, 0.95), (1, 3, 0.5),
    (2, 7, 0.8), (40, 60, 0.99), (999, 1000, 0.999), (7, 100000, 0.9),
    (5000000, 1000000000, 0.95), (1, 10**15, 0.95), (0, 10**15, 0.95), (3, 2**52, 0.975),
    (2**51, 2**52, 0.95), (123456789, 987654321987, 0.99), (12, 12000, 0.95),
]
wilson_rows = []
for x, n, c in wilson_cases:
    lo, hi = wilson(x, n, c)
    row = {"x": x, "n": n, "confidence": c, "lower": f(lo), "upper": f(hi)}
    if n < 10**9 and 0 < x < n:
        s_lo = scipy.stats.binomtest(x, n, alternative="greater").proportion_ci(c, "wilson").low
        s_hi = scipy.stats.binomtest(x, n, alternative="less").proportion_ci(c, "wilson").high
        assert rel(s_lo, row["lower"]) < 1e-7 and rel(s_hi, row["upper"]) < 1e-9, row
    wilson_rows.append(row)

score_cases = [(5, 1000, 0.005), (6, 1000, 0.005), (11, 2000, 0.005), (84, 120000, 0.005),
               (0, 100, 0.01), (100, 100, 0.5), (1, 10, 0.001), (5000001, 1000000000, 0.005),
               (6000000, 1000000000, 0.005), (1, 10**15, 1e-15), (250, 10000, 0.01)]
score_rows = []
for x, n, p0 in score_cases:
    x_, n_, p0_ = mpf(x), mpf(n), mpf(p0)
    z = (x_ / n_ - p0_) / mpmath.sqrt(p0_ * (1 - p0_) / n_)
    score_rows.append({"x": x, "n": n, "p0": p0, "p": f(mpmath.ncdf(-z))})


# ---- two proportions -------------------------------------------------------------

def two_prop(x1, n1, x2, n2, ratio):
    x1, n1, x2, n2, r = mpf(x1), mpf(n1), mpf(x2), mpf(n2), mpf(ratio)
    p1, p2 = x1 / n1, x2 / n2
    if ratio == 1:
        pp = (x1 + x2) / (n1 + n2)
        var = pp * (1 - pp) * (1 / n1 + 1 / n2)
    else:
        # Farrington & Manning (1990): rates restricted to p1 = r * p2 that
        # maximize the likelihood, the smaller root of a p^2 + b p + c = 0
        # (statsmodels' test_proportions_2indep(compare="ratio",
        # method="score", correction=False)).
        a = (n1 + n2) * r
        b = -(n1 * r + x1 + n2 + x2 * r)
        c = x1 + x2
        r2 = (-b - mpmath.sqrt(b * b - 4 * a * c)) / (2 * a)
        r1 = r * r2
        var = r1 * (1 - r1) / n1 + r * r * r2 * (1 - r2) / n2
    z = (p1 - r * p2) / mpmath.sqrt(var)
    return z, mpmath.ncdf(-z)


def two_prop_numpy(x1, n1, x2, n2):
    """statsmodels.stats.proportion.proportions_ztest(..., alternative='larger')."""
    p1, p2 = x1 / n1, x2 / n2
    pp = (x1 + x2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2))
    return z, scipy.stats.norm.sf(z)


two_prop_cases = [
    (11, 2000, 2250, 500000, 1.0), (75, 5000, 1000, 500000, 1.0), (84, 120000, 600, 500000, 1.0),
    (3, 100, 1, 100, 1.0), (0, 100, 5, 1000, 1.0), (5, 100, 0, 1000, 1.0), (1, 1, 0, 1, 1.0),
    (12, 1000, 10, 1000, 1.1), (30, 1000, 10, 1000, 2.0), (8, 1000, 10, 1000, 1.2),
    (5, 1000, 0, 1000, 1.5), (3, 10000, 0, 10000, 1.1),
    (5000001, 10**9, 5000000, 10**9, 1.0), (5500001, 10**9, 5000000, 10**9, 1.1),
    (123456789, 10**13, 120000000, 10**13, 1.0), (50000, 10**7, 400000, 10**8, 1.1),
    (2**40, 2**52, 2**39, 2**51, 1.0),
]
two_prop_rows = []
for x1, n1, x2, n2, r in two_prop_cases:
    z, p = two_prop(x1, n1, x2, n2, r)
    if r == 1.0 and n1 < 10**9:
        zn, pn = two_prop_numpy(x1, n1, x2, n2)
        assert rel(float(zn), f(z)) < 1e-9 and rel(float(pn), f(p)) < 1e-9
    two_prop_rows.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "ratio": r,
                          "z": f(z), "p": f(p)})


# ---- Mann-Whitney U ---------------------------------------------------------------

rng = np.random.RandomState(20260228)


def lognormal(n, median, sigma, step=None):
    v = median * np.exp(sigma * rng.standard_normal(n))
    if step:
        v = np.round(v / step) * step  # millisecond resolution: creates ties
    return [float(a) for a in v]


def mwu(x, y, scale, method):
    ys = np.asarray(y) * scale
    r = scipy.stats.mannwhitneyu(np.asarray(x), ys, alternative="greater",
                                 use_continuity=True, method=method)
    return float(r.statistic), float(r.pvalue)


mwu_cases = [
    # (label, x, y, scale, method)
    ("exact tiny", [1.0, 2.0, 3.0], [0.5, 1.5], 1.0, "exact"),
    ("exact x clearly greater", [5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], 1.0, "exact"),
    ("exact x clearly smaller", [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], 1.0, "exact"),
    ("exact one each", [2.0], [1.0], 1.0, "exact"),
    ("exact interleaved", [0.11, 0.13, 0.17, 0.19, 0.23], [0.12, 0.14, 0.18, 0.2, 0.22, 0.24],
     1.0, "exact"),
    ("exact 20x25", lognormal(20, 0.3, 0.4), lognormal(25, 0.25, 0.4), 1.0, "exact"),
    ("exact 50x50", lognormal(50, 0.3, 0.5), lognormal(50, 0.3, 0.5), 1.0, "exact"),
    ("exact 1x2500", [0.31], lognormal(2500, 0.3, 0.5), 1.0, "exact"),
    ("exact 50x50 scaled", lognormal(50, 0.33, 0.3), lognormal(50, 0.3, 0.3), 1.1, "exact"),
    ("asymptotic ties small", [1.0, 2.0, 2.0, 3.0, 3.0], [1.0, 1.0, 2.0, 2.0], 1.0,
     "asymptotic"),
    ("asymptotic 60x50 no ties", lognormal(60, 0.35, 0.5), lognormal(50, 0.3, 0.5), 1.0,
     "asymptotic"),
    ("asymptotic ms ties", lognormal(400, 0.21, 0.3, 0.001), lognormal(500, 0.2, 0.3, 0.001),
     1.0, "asymptotic"),
    ("asymptotic ms ties scaled", lognormal(300, 0.22, 0.3, 0.001),
     lognormal(300, 0.2, 0.3, 0.001), 1.05, "asymptotic"),
    ("asymptotic heavy ties", [float(v) for v in rng.randint(1, 6, 200)],
     [float(v) for v in rng.randint(1, 5, 300)], 1.0, "asymptotic"),
    ("asymptotic canary slower", lognormal(1000, 0.5, 0.4, 0.001),
     lognormal(1000, 0.3, 0.4, 0.001), 1.0, "asymptotic"),
]
mwu_rows = []
for label, x, y, scale, method in mwu_cases:
    u, p = mwu(x, y, scale, method)
    mwu_rows.append({"label": label, "x": x, "y": y, "scale": scale, "method": method,
                     "u": u, "p": p})


def mwu_grouped(xg, yg, scale):
    """Exact-rational U - mu and tie term over tie groups; mpmath tail."""
    groups = {}
    for v, c in xg:
        groups.setdefault(Fraction(v), [0, 0])[0] += c
    for v, c in yg:
        groups.setdefault(Fraction(v) * Fraction(scale), [0, 0])[1] += c
    n1 = sum(c for _, c in xg)
    n2 = sum(c for _, c in yg)
    n = n1 + n2
    cum = 0
    r1 = Fraction(0)
    tie = 0
    for v in sorted(groups):
        cx, cy = groups[v]
        t = cx + cy
        r1 += cx * (cum + Fraction(t + 1, 2))
        tie += t ** 3 - t
        cum += t
    u = r1 - Fraction(n1 * (n1 + 1), 2)
    dev = u - Fraction(n1 * n2, 2)
    var = Fraction(n1 * n2, 12) * ((n + 1) - Fraction(tie, n * (n - 1)))
    z = (mpf(dev.numerator) / dev.denominator - mpf("0.5")) / mpmath.sqrt(
        mpf(var.numerator) / var.denominator)
    return float(u), f(z), f(mpmath.ncdf(-z))


def check_grouped_against_scipy(xg, yg, scale):
    x = np.repeat([v for v, _ in xg], [c for _, c in xg])
    y = np.repeat([v for v, _ in yg], [c for _, c in yg])
    u, p = mwu(list(x), list(y), scale, "asymptotic")
    gu, gz, gp = mwu_grouped(xg, yg, scale)
    assert rel(u, gu) < 1e-12 and rel(p, gp) < 1e-9, (u, gu, p, gp)


# Histogram-style groups: upper bucket bounds (seconds) and counts.
buckets = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
check_grouped_against_scipy(list(zip(buckets, [30, 120, 400, 300, 90, 40, 15, 5])),
                            list(zip(buckets, [50, 150, 420, 250, 80, 30, 15, 5])), 1.0)
check_grouped_against_scipy([(0.1, 3), (0.2, 5), (0.3, 2)], [(0.1, 4), (0.25, 6)], 1.0)

grouped_cases = [
    ("histogram moderate", list(zip(buckets, [30, 120, 400, 300, 90, 40, 15, 5])),
     list(zip(buckets, [50, 150, 420, 250, 80, 30, 15, 5])), 1.0),
    ("small groups", [(0.1, 3), (0.2, 5), (0.3, 2)], [(0.1, 4), (0.25, 6)], 1.0),
    ("histogram 1e9 requests, canary slightly slower",
     list(zip(buckets, [30000000, 120000000, 400000000, 300000000, 92000000, 40000000,
                        15000000, 3000000])),
     list(zip(buckets, [30000000, 120000000, 401000000, 300000000, 91000000, 40000000,
                        15000000, 3000000])), 1.0),
    ("histogram 1e12 requests, identical",
     list(zip(buckets, [10**11, 2 * 10**11, 3 * 10**11, 2 * 10**11, 10**11, 5 * 10**10,
                        3 * 10**10, 2 * 10**10])),
     list(zip(buckets, [10**11, 2 * 10**11, 3 * 10**11, 2 * 10**11, 10**11, 5 * 10**10,
                        3 * 10**10, 2 * 10**10])), 1.0),
    ("histogram 1e12 vs 1e9, one bucket shifted",
     list(zip(buckets, [10**11, 2 * 10**11, 3 * 10**11 - 10**8, 2 * 10**11 + 10**8, 10**11,
                        5 * 10**10, 3 * 10**10, 2 * 10**10])),
     list(zip(buckets, [10**8, 2 * 10**8, 3 * 10**8, 2 * 10**8, 10**8, 5 * 10**7, 3 * 10**7,
                        2 * 10**7])), 1.0),
    ("histogram scaled baseline",
     list(zip(buckets, [300, 1200, 4000, 3000, 900, 400, 150, 50])),
     list(zip(buckets, [500, 1500, 4200, 2500, 800, 300, 150, 50])), 1.1),
]
grouped_rows = []
for label, xg, yg, scale in grouped_cases:
    u, z, p = mwu_grouped(xg, yg, scale)
    grouped_rows.append({"label": label, "x": [list(a) for a in xg], "y": [list(a) for a in yg],
                         "scale": scale, "u": u, "z": z, "p": p})


# ---- quantiles ---------------------------------------------------------------------

quantile_rows = []
for values in ([0.2], [0.1, 0.3], [0.1, 0.2, 0.2, 0.2, 0.9], lognormal(101, 0.3, 0.5),
               lognormal(1000, 0.3, 0.5, 0.001), [1.0, 2.0, 3.0, 4.0]):
    for q in (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0):
        quantile_rows.append({"values": values, "q": q,
                              "value": float(np.quantile(np.asarray(values), q))})


out = {
    "about": "Reference values for lib/stats.c; see the docstring of gen_stats.py.",
    "command": "/usr/bin/python3 tests/vectors/gen_stats.py > tests/vectors/stats.json",
    "python": platform.python_version(),
    "scipy": scipy.__version__,
    "numpy": np.__version__,
    "mpmath": mpmath.__version__,
    "tolerance": {
        "relative": 1e-9,
        "note": "every value to 1e-9 relative (1e-300 absolute for CDF underflow); "
                "quantities below 1e-12 in absolute value compared absolutely to 1e-15",
    },
    "norm_cdf": norm_cdf,
    "norm_ppf": norm_ppf,
    "wilson": wilson_rows,
    "score_test": score_rows,
    "two_proportion": two_prop_rows,
    "mann_whitney": mwu_rows,
    "mann_whitney_grouped": grouped_rows,
    "quantile": quantile_rows,
}
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
