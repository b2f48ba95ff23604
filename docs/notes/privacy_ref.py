#!/usr/bin/env python3
"""High-precision reference values for the tests in src/privacy/ (dpxattn).

Run: python3 docs/notes/privacy_ref.py   (needs mpmath; `pip install mpmath`)
Every number printed here is pasted into a #[cfg(test)] table with a comment naming this
script.  mpmath works at 60 significant digits; each printed value is the f64 nearest to
the exact result (shortest round-trip form), so the tables are exact to 1/2 ulp.
"""
import sys
from mpmath import mp, mpf, erfc, exp, sqrt, log, log1p, findroot, nsum, inf, floor, expm1

mp.dps = 60


def Phi(x):
    return erfc(-x / sqrt(2)) / 2


def bw_delta(sigma, eps, l2):
    """Balle & Wang 2018, Thm 8: exact delta of the Gaussian mechanism."""
    sigma, eps, l2 = mpf(sigma), mpf(eps), mpf(l2)
    return Phi(l2 / (2 * sigma) - eps * sigma / l2) - exp(eps) * Phi(-l2 / (2 * sigma) - eps * sigma / l2)


def bisect(f, lo, hi, iters=400):
    """f(lo) > 0 >= f(hi) (or the reverse); returns the root to mp precision."""
    flo = f(lo)
    for _ in range(iters):
        mid = (lo + hi) / 2
        if (f(mid) > 0) == (flo > 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def bw_sigma(eps, delta, l2):
    eps, delta, l2 = mpf(eps), mpf(delta), mpf(l2)
    return bisect(lambda s: bw_delta(s, eps, l2) - delta, mpf(10) ** -6 * l2, mpf(10) ** 6 * l2)


def cdp_delta(rho, eps):
    """CKS20: inf over alpha>1 of exp((a-1)(a rho - eps)) / a * (1-1/a)^(a-1)."""
    rho, eps = mpf(rho), mpf(eps)
    g = lambda a: (a - 1) * (a * rho - eps) + (a - 1) * log1p(-1 / a) - log(a)
    # derivative of the log of the bound: (2a-1) rho - eps + log1p(-1/a)  (CKS20 / OpenDP)
    d = lambda a: (2 * a - 1) * rho - eps + log1p(-1 / a)
    lo, hi = mpf(1) + mpf(10) ** -30, (eps + 1) / (2 * rho) + 2
    if d(lo) >= 0:
        a = lo
    else:
        a = bisect(d, lo, hi)
    return min(exp(g(a)), mpf(1))


def cdp_eps(rho, delta):
    rho, delta = mpf(rho), mpf(delta)
    return bisect(lambda e: cdp_delta(rho, e) - delta, mpf(0), rho + 2 * sqrt(rho * log(1 / delta)) + 1)


def adv_comp_eps0(eps, delta, k):
    """DRV10 / Dwork-Roth Thm 3.20 with delta'' = delta/2: largest eps0 with
    sqrt(2k ln(1/delta'')) eps0 + k eps0 (e^eps0 - 1) <= eps."""
    eps, delta = mpf(eps), mpf(delta)
    dpp = delta / 2
    f = lambda e0: sqrt(2 * k * log(1 / dpp)) * e0 + k * e0 * expm1(e0) - eps
    return bisect(f, mpf(0), eps)


def dg_delta_exact_1d(sigma, eps, m):
    """Exact hockey-stick divergence of N_Z(0,sigma^2) vs N_Z(m,sigma^2), m integer (CKS20 Thm 7)."""
    s2 = mpf(sigma) ** 2
    eps = mpf(eps)
    N = 1 + 2 * nsum(lambda x: exp(-x * x / (2 * s2)), [1, inf])
    u0 = mpf(m) / 2 - s2 * eps / m
    top = int(floor(u0))
    if top == u0:
        top -= 1
    f = lambda y: exp(-y * y / (2 * s2)) - exp(eps) * exp(-(y - m) ** 2 / (2 * s2))
    return nsum(f, [-inf, top]) / N


def dg_delta_exact_2d(sigma, eps, mu, R=60):
    s2 = mpf(sigma) ** 2
    eps = mpf(eps)
    N = sum(exp(-mpf(x) ** 2 / (2 * s2)) for x in range(-R, R + 1))
    tot = mpf(0)
    for y1 in range(-R, R + 1):
        for y2 in range(-R, R + 1):
            p = exp(-(y1 * y1 + y2 * y2) / (2 * s2))
            q = exp(-((y1 - mu[0]) ** 2 + (y2 - mu[1]) ** 2) / (2 * s2))
            v = p - exp(eps) * q
            if v > 0:
                tot += v
    return tot / N ** 2


def f17(x):
    """The f64 nearest to x, in its shortest round-trip form."""
    return repr(float(x))


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("all", "phi"):
        import math
        print("// (x, Phi(x), z, erfc(z)) at x = -36 + 0.173 i (the f64 nearest), i = 0..257,")
        print("// z = -x * FRAC_1_SQRT_2 computed in f64 exactly as normal.rs does")
        for i in range(258):
            x = float(-36 + 0.173 * i)
            z = -x * math.sqrt(0.5)
            print(f"    ({x!r}, {f17(Phi(mpf(x)))}, {z!r}, {f17(erfc(mpf(z)))}),")
    if what in ("all", "sigma"):
        print("// analytic Gaussian sigma, l2 = 1: (eps, delta, sigma*)")
        for eps in [0.1, 0.5, 1.0, 2.0, 4.0, 8.0]:
            for delta in [1e-5, 1e-8, 1e-10]:
                print(f"    ({eps!r}, {delta!r}, {f17(bw_sigma(eps, delta, 1))}),")
    if what in ("all", "delta"):
        print("// analytic Gaussian delta: (sigma, eps, l2, delta)")
        for (s, e, l) in [(1.0, 1.0, 1.0), (5.0, 0.5, 1.0), (40.0, 0.1, 1.0), (0.3, 8.0, 1.0),
                          (2.5, 2.0, 3.0), (3.0, 1.0, 1.0), (10.0, 0.5, 1.0), (0.05, 0.5, 1.0),
                          (100.0, 0.01, 1.0), (7.0, 3.0, 2.0)]:
            print(f"    ({s!r}, {e!r}, {l!r}, {f17(bw_delta(s, e, l))}),")
    if what in ("all", "cdp"):
        print("// CKS20 zCDP -> (eps, delta): (rho, eps, delta)")
        for (r, e) in [(0.025, 1.0), (0.5, 3.0), (0.01, 0.5), (1.0, 10.0), (0.1, 2.0), (0.001, 0.2),
                       (2.0, 1.0)]:
            print(f"    ({r!r}, {e!r}, {f17(cdp_delta(r, e))}),")
        print("// CKS20 zCDP -> eps: (rho, delta, eps)")
        for (r, d) in [(0.025, 1e-6), (0.5, 1e-10), (0.01, 1e-5), (1.0, 1e-8), (0.0001, 1e-10)]:
            print(f"    ({r!r}, {d!r}, {f17(cdp_eps(r, d))}),")
    if what in ("all", "adv"):
        print("// advanced composition eps0: (eps, delta, k, eps0)")
        for (e, d, k) in [(1.0, 1e-5, 100), (1.0, 1e-6, 10000), (4.0, 1e-8, 9945), (0.5, 1e-5, 10),
                          (8.0, 1e-10, 1), (2.0, 1e-6, 1000000)]:
            print(f"    ({e!r}, {d!r}, {k}, {f17(adv_comp_eps0(e, d, k))}),")
    if what in ("all", "dg"):
        print("// exact discrete Gaussian delta, 1-D: (sigma, eps, m, delta_exact, delta_continuous)")
        for (s, e, m) in [(5.0, 1.0, 1), (3.0, 0.5, 2), (2.0, 2.0, 1), (10.0, 1.0, 1), (1.0, 0.5, 1),
                          (30.0, 0.5, 1)]:
            print(f"    ({s!r}, {e!r}, {m}.0, {f17(dg_delta_exact_1d(s, e, m))}, {f17(bw_delta(s, e, m))}),")
        print("// exact discrete Gaussian delta, 2-D, mu = (3, 4): (sigma, eps, delta_exact, delta_cont(l2=5))")
        for (s, e) in [(4.0, 1.0), (6.0, 0.5)]:
            print(f"    ({s!r}, {e!r}, {f17(dg_delta_exact_2d(s, e, (3, 4)))}, {f17(bw_delta(s, e, 5))}),")


if __name__ == "__main__":
    main()
