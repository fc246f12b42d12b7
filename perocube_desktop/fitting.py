"""Where a fitted straight line reaches a level, with a confidence interval (pure numpy).

Used by the report's projected T80 (``stats``) and by the live lifetime projection
(``monitor.lifetime``), which must not import each other, hence this base-layer module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Projection:
    t_h: float | None  # where the fitted line reaches the level
    lo_h: float | None  # confidence interval (None: not bounded on that side)
    hi_h: float | None
    slope: float
    intercept: float
    n_eff: float


def t_quantile(p: float, dof: float) -> float:
    """Student t quantile (Cornish-Fisher expansion around the normal; good to ~1 % for dof >= 3)."""
    z = _norm_quantile(p)
    v = max(dof, 1.0)
    return z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2) \
        + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * v ** 3)


def _norm_quantile(p: float) -> float:
    # Acklam's rational approximation (relative error < 1.2e-9) on the upper half
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    q = p - 0.5
    r = q * q
    num = ((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]
    den = ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
    if abs(q) <= 0.425:
        return q * num / den
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    s = np.sqrt(-2 * np.log(min(p, 1 - p)))
    x = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / ((((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1)
    return float(-x if q > 0 else x)


def project_crossing(t_h: np.ndarray, v: np.ndarray, level: float, confidence: float = 0.95) -> Projection | None:
    """Least-squares line through (t, v) and where it reaches ``level``, with a confidence interval.

    The interval is Fieller's: the times at which the line's confidence band contains the level.
    Residuals of hourly medians are autocorrelated, so the parameter covariance is inflated by
    n / n_eff with n_eff = n (1 - r1) / (1 + r1) (r1: lag-1 autocorrelation of the residuals).
    """
    n = v.size
    if n < 6:
        return None
    X = np.c_[t_h, np.ones(n)]
    coef, *_ = np.linalg.lstsq(X, v, rcond=None)
    m, c = float(coef[0]), float(coef[1])
    resid = v - X @ coef
    r1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if np.std(resid) > 0 else 0.0
    r1 = min(max(r1 if np.isfinite(r1) else 0.0, 0.0), 0.95)
    n_eff = max(n * (1 - r1) / (1 + r1), 3.0)
    s2 = float(resid @ resid) / max(n - 2, 1) * n / n_eff
    cov = s2 * np.linalg.inv(X.T @ X)
    q = t_quantile(0.5 + confidence / 2, n_eff - 2)
    vm, vc, cmc = cov[0, 0], cov[1, 1], cov[0, 1]
    t_star = (level - c) / m if m != 0 else None
    qa = m * m - q * q * vm
    qb = 2 * ((c - level) * m - q * q * cmc)
    qc = (c - level) ** 2 - q * q * vc
    disc = qb * qb - 4 * qa * qc
    lo = hi = None
    if qa > 0 and disc >= 0:  # slope significantly non-zero: a bounded interval (else unbounded)
        r = sorted(((-qb - np.sqrt(disc)) / (2 * qa), (-qb + np.sqrt(disc)) / (2 * qa)))
        lo, hi = float(r[0]), float(r[1])
    return Projection(t_star, lo, hi, m, c, n_eff)
