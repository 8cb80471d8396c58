#!/usr/bin/python3
"""Boundary cases for tests/c/test_evaluate.c, found with scipy/mpmath
(independently of lib/): where the Wilson bounds and the two-proportion
tests cross their limits, and Mann-Whitney p-values of the sample sets the
tests use. Run: /usr/bin/python3 tests/vectors/eval_boundaries.py
"""
import mpmath
import numpy as np
import scipy.stats

mpmath.mp.dps = 50
Z95 = mpmath.mpf(scipy.stats.norm.ppf(0.95))


def wilson(x, n, z=Z95):
    x, n = mpmath.mpf(x), mpmath.mpf(n)
    ph = x / n
    c = ph + z * z / (2 * n)
    h = z * mpmath.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    d = 1 + z * z / n
    return (c - h) / d, (c + h) / d


def boundary(n, limit):
    last_pass = max(x for x in range(n + 1) if wilson(x, n)[1] <= limit)
    first_fail = min(x for x in range(n + 1) if wilson(x, n)[0] > limit)
    return last_pass, first_fail


for n, limit in ((10000, 0.005), (1000, 0.005), (12000, 0.01), (20000, 0.01)):
    lp, ff = boundary(n, limit)
    print(f"wilson n={n} limit={limit}: last PASS x={lp} (upper {float(wilson(lp, n)[1]):.6g}),"
          f" first FAIL x={ff} (lower {float(wilson(ff, n)[0]):.6g})")


def two_prop(x1, n1, x2, n2, r=1.0):
    x1, n1, x2, n2, r = map(mpmath.mpf, (x1, n1, x2, n2, r))
    p1, p2 = x1 / n1, x2 / n2
    # Farrington-Manning score test; at r = 1 the pooled z-test
    a = (n1 + n2) * r
    b = -(n1 * r + x1 + n2 + x2 * r)
    c = x1 + x2
    r2 = (-b - mpmath.sqrt(b * b - 4 * a * c)) / (2 * a)
    r1 = r * r2
    var = r1 * (1 - r1) / n1 + r * r * r2 * (1 - r2) / n2
    return mpmath.ncdf(-(p1 - r * p2) / mpmath.sqrt(var))


def first_significant(n1, x2, n2, r):
    return min(x for x in range(n1 + 1) if two_prop(x, n1, x2, n2, r) < 0.05)


for n1, x2, n2, r in ((10000, 50, 10000, 1.0), (10000, 50, 10000, 1.1), (2000, 2250, 500000, 1.0),
                      (10000, 60, 10000, 1.2)):
    ff = first_significant(n1, x2, n2, r)
    print(f"two-prop n1={n1} baseline {x2}/{n2} ratio {r}: first FAIL x={ff} "
          f"(p {float(two_prop(ff, n1, x2, n2, r))!r}), x={ff - 1} p "
          f"{float(two_prop(ff - 1, n1, x2, n2, r))!r}")

print("slightly-worse pilot: p =", float(two_prop(11, 2000, 2250, 500000)))


def score_p(x, n, p0):
    x, n, p0 = mpmath.mpf(x), mpmath.mpf(n), mpmath.mpf(p0)
    return mpmath.ncdf(-(x / n - p0) / mpmath.sqrt(p0 * (1 - p0) / n))


print("slightly-worse pilot: score p vs 0.5% =", float(score_p(11, 2000, 0.005)),
      "(the criterion reports the larger p)")
print("wilson 67, 68 of 10000:", [[float(v) for v in wilson(x, 10000)] for x in (67, 68)],
      "score p vs 0.5%:", [float(score_p(x, 10000, 0.005)) for x in (67, 68)])
print("baseline zero, 3/10000 vs 0/10000 ratio 1.1: p =", float(two_prop(3, 10000, 0, 10000, 1.1)))
print("wilson 38, 39, 50, 61, 62 of 10000:", [[float(v) for v in wilson(x, 10000)]
                                                for x in (38, 39, 50, 61, 62)])
print("slightly-worse wilson 11/2000:", [float(v) for v in wilson(11, 2000)])
print("healthy wilson 84/120000:", [float(v) for v in wilson(84, 120000)])
print("clearly-worse wilson 1000/50000:", [float(v) for v in wilson(1000, 50000)],
      "p", float(two_prop(1000, 50000, 2250, 500000)))
print("ga slightly-worse wilson 132/12000:", [float(v) for v in wilson(132, 12000, )])


def mwu(x, y, scale=1.0):
    r = scipy.stats.mannwhitneyu(np.asarray(x), np.asarray(y) * scale, alternative="greater",
                                 method="auto")
    return float(r.statistic), float(r.pvalue)


new = [0.182, 0.201, 0.195, 0.240, 0.188, 0.176, 0.310, 0.205, 0.199, 0.221,
       0.187, 0.192, 0.260, 0.181, 0.214, 0.230, 0.178, 0.196, 1.900, 0.203]
base = [0.185, 0.198, 0.191, 0.236, 0.190, 0.179, 0.305, 0.208, 0.197, 0.218,
        0.184, 0.195, 0.255, 0.183, 0.211, 0.228, 0.180, 0.193, 1.850, 0.200]
print("post-rollout.json MW:", mwu(new, base, 1.0),
      "p95 new", float(np.quantile(new, 0.95)), "base", float(np.quantile(base, 0.95)))


def mwu_as_lib(x, y):
    """The method lib/stats.c picks: exact without ties when n1*n2 <= 2500."""
    ties = len(set(x) | set(y)) < len(x) + len(y)
    method = "exact" if not ties and len(x) * len(y) <= 2500 else "asymptotic"
    r = scipy.stats.mannwhitneyu(np.asarray(x), np.asarray(y), alternative="greater",
                                 method=method)
    return method, float(r.statistic), float(r.pvalue)


for factor in (1.3, 1.03, 0.9):
    x = [v * factor for v in base]
    print(f"base*{factor} vs base:", mwu_as_lib(x, base), "p95", float(np.quantile(x, 0.95)),
          "base p95", float(np.quantile(base, 0.95)))

ramp = [0.2 + 0.0002 * i for i in range(5000)]
ramp_slow = [v * 1.03 for v in ramp]
print("ramp*1.03 vs ramp (5000 each):", mwu_as_lib(ramp_slow, ramp),
      "p95", float(np.quantile(ramp_slow, 0.95)), float(np.quantile(ramp, 0.95)))
ramp_slower = [v * 1.08 for v in ramp]
print("ramp*1.08 vs ramp (5000 each):", mwu_as_lib(ramp_slower, ramp),
      "p95", float(np.quantile(ramp_slower, 0.95)), float(np.quantile(ramp, 0.95)))
