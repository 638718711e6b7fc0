"""How long ``vae.fit_code_density``'s EM takes, against EM written as its definitions read.

    python benchmarks/bench_em.py [--threads 1] [--repeats 3] [--components 5 10 20 40]

``vae._em`` fits a K-component full-covariance Gaussian mixture to the codes with two pieces of
algebra that compute the same quantities as the definitions: the E step's Mahalanobis distances
as ``|L_k^{-1} z_n - L_k^{-1} m_k|^2`` (one batched product, no ``z_n - m_k`` formed), and the M
step's covariances as ``sum_n r_nk z_n z_n^T / N_k - m_k m_k^T`` (one matrix product with the
codes' outer products, computed once), on centred codes. :func:`em_by_the_definition` below is
EM as the definitions read (every ``z_n - m_k`` formed, solved against ``L_k``, and weighted);
``tests/test_code_density.py`` asserts that the two give the same fit. This script times both on
4,000 codes of 20 dimensions (the shape of chapter 4's fits: one code per training digit, the
default ``latent_dim``), drawn from two shifted Gaussians with unequal spreads, for 100 steps from
the same start, in pairs run one after the other (each going first in turn), and prints the
seconds, the ratio and the largest difference between the two fits' covariances.

**Record** (2026-11-30, ``python benchmarks/bench_em.py``, one thread, 2-core machine, load 0.82
at the start and 0.94 at the end, nothing else running; median seconds of 3 fits each, by the
definition / ``vae._em``): K = 5: 0.74 / 0.69 (ratio 1.08); K = 10: 1.88 / 1.07 (1.76); K = 20:
3.36 / 1.25 (2.68); K = 40: 7.74 / 2.45 (3.16). The largest difference between the two fits'
covariances was 6.2e-12. A run beside a chapter's execution (load 1.45) gave ratios 1.01, 1.81,
3.01 and 2.33. At K = 5 the two take the same time; at chapter 4's K = 20, about 2.7 times less.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from minigen import vae


def em_by_the_definition(z, K, iters, generator):
    """EM as the definitions read; returns ``(weights, means, covariances)``."""
    n, d = z.shape
    jitter = 1e-6 * z.var(0).mean() * torch.eye(d, dtype=z.dtype)
    means = z[torch.randperm(n, generator=generator)[:K]]
    cov = (torch.cov(z.T) + jitter).expand(K, d, d)
    weights = torch.full((K,), 1.0 / K, dtype=z.dtype)
    for _ in range(iters):
        L = torch.linalg.cholesky(cov)
        diff = z.T[None] - means[:, :, None]  # (K, d, N): every z_n - m_k
        white = torch.linalg.solve_triangular(L, diff, upper=False)  # L_k^{-1} (z_n - m_k)
        log_det = L.diagonal(dim1=1, dim2=2).log().sum(1)  # half the log-determinant
        log_r = weights.log() + (-0.5 * white.pow(2).sum(1) - log_det[:, None]).T
        r = (log_r - torch.logsumexp(log_r, 1, keepdim=True)).exp()  # responsibilities (N, K)
        nk = r.sum(0)
        weights, means = nk / n, (r.T @ z) / nk[:, None]
        diff = z[:, None] - means[None]  # (N, K, d)
        cov = torch.einsum("nk,nki,nkj->kij", r, diff, diff) / nk[:, None, None] + jitter
    return weights, means, cov


def codes(n=4000, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.rand(d, generator=g, dtype=torch.float64)
    return torch.cat([z[: n // 2] + 1.5, z[n // 2:] - 1.0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--components", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    z = codes()
    print(f"{len(z)} codes of {z.shape[1]} dimensions, {args.iters} EM steps, {args.threads} "
          f"thread(s), load {os.getloadavg()[0]:.2f}")
    print(f"{'K':>3} {'by the definition (s)':>22} {'vae._em (s)':>12} {'ratio':>6} {'max |cov diff|':>15}")
    for k in args.components:
        times = {"definition": [], "minigen": []}
        for rep in range(args.repeats):
            order = ("definition", "minigen") if rep % 2 == 0 else ("minigen", "definition")
            for name in order:
                start = time.perf_counter()
                if name == "definition":
                    _, _, cov_ref = em_by_the_definition(z, k, args.iters, torch.Generator().manual_seed(1))
                else:
                    fit = vae._em(z, k, args.iters, torch.Generator().manual_seed(1))
                times[name].append(time.perf_counter() - start)
        cov = fit.scale_tril @ fit.scale_tril.transpose(1, 2)
        ref, new = statistics.median(times["definition"]), statistics.median(times["minigen"])
        print(f"{k:>3} {ref:>22.2f} {new:>12.2f} {ref / new:>6.2f} {(cov - cov_ref).abs().max().item():>15.1e}")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
