"""Independent numpy (float64) implementations of the image metrics `dsx fid` computes, for
tools/metrics/check_metrics.py. Inputs are feature matrices [N, F]; everything is computed in float64.

  gaussian_fit(f)                      -> (mu [F], sigma [F, F]): mean and unbiased (N − 1) covariance
  frechet_distance(mu_a, sa, mu_b, sb) -> |μa − μb|² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)
  kid(x, y, subsets)                   -> (mean, population std) of StyleGAN3's per-subset unbiased MMD²
  kid_subsets(na, nb, count, size, rng)-> index pairs drawn as StyleGAN3 draws them
  kid_expected(x, y)                   -> the mean of kid()'s random-subset values over all draws
  precision_recall(a, b, k)            -> Kynkäänniemi et al. 2019 improved precision and recall

The matrix square roots go through symmetric eigendecompositions rather than a general sqrtm of Σa Σb
(scipy's route, which returns complex round-off for singular products): covariances of N ≤ F features are
rank-deficient, and there the eigenvalues that should be zero come back as ±ε-sized noise whose square roots
(√ε each) would add up. Eigenvalues below F·ε·λ_max are therefore treated as exact zeros.
"""

import numpy as np


# ---- Fréchet distance -------------------------------------------------------------------------------------

def gaussian_fit(features):
    """Sample mean and unbiased (N − 1) covariance of [N, F] features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError("gaussian_fit: need [N >= 2, F] features, got shape {}".format(f.shape))
    mu = f.mean(axis=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _round_off_free(eigenvalues):
    """Eigenvalues of a PSD matrix with round-off set to zero: below F·ε·λ_max they carry no information
    (and may be slightly negative), but their square roots would."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    tol = lam.size * np.finfo(np.float64).eps * max(np.abs(lam).max(initial=0.0), 0.0)
    return np.where(lam > tol, lam, 0.0)


def _symmetrise(m):
    return 0.5 * (m + m.T)


def psd_sqrt(m):
    """The PSD square root S (S S = M) of a symmetric PSD matrix."""
    lam, v = np.linalg.eigh(_symmetrise(np.asarray(m, dtype=np.float64)))
    return (v * np.sqrt(_round_off_free(lam))) @ v.T


def trace_sqrt_product(sigma_a, sigma_b):
    """tr((Σa^½ Σb Σa^½)^½): the eigenvalues of the PSD matrix Σa^½ Σb Σa^½ are those of Σa Σb."""
    s = psd_sqrt(sigma_a)
    m = s @ np.asarray(sigma_b, dtype=np.float64) @ s
    return float(np.sqrt(_round_off_free(np.linalg.eigvalsh(_symmetrise(m)))).sum())


def frechet_distance(mu_a, sigma_a, mu_b, sigma_b):
    """FD between N(μa, Σa) and N(μb, Σb); not clamped at 0, so round-off stays visible."""
    mu_a, mu_b = np.asarray(mu_a, dtype=np.float64), np.asarray(mu_b, dtype=np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, dtype=np.float64), np.asarray(sigma_b, dtype=np.float64)
    mean_term = float(np.square(mu_a - mu_b).sum())
    return mean_term + float(np.trace(sigma_a) + np.trace(sigma_b)) - 2.0 * trace_sqrt_product(sigma_a, sigma_b)


def frechet_distance_of_features(fa, fb):
    return frechet_distance(*gaussian_fit(fa), *gaussian_fit(fb))


# ---- KID (StyleGAN3 metrics/kernel_inception_distance.py) -------------------------------------------------

def polynomial_kernel(x, y):
    """k(x, y) = (x·y / n + 1)³ with n the feature dimension: the kernel of Bińkowski et al. 2018."""
    n = x.shape[1]
    return (x @ y.T / n + 1.0) ** 3


def kid_subset_value(x, y):
    """StyleGAN3's per-subset value for m rows of each set: the unbiased MMD² estimate
    1/(m(m−1)) Σ_{i≠j} [k(xi,xj) + k(yi,yj)] − 2/m² Σ_ij k(xi,yj), written as StyleGAN3 writes it."""
    m = x.shape[0]
    a = polynomial_kernel(x, x) + polynomial_kernel(y, y)
    b = polynomial_kernel(x, y)
    return float(((a.sum() - np.trace(a)) / (m - 1) - b.sum() * 2 / m) / m)


def kid(x, y, subsets):
    """(mean, population std) over subsets of kid_subset_value; `subsets` is a list of (rows of x, rows of y)
    index arrays of equal length m. x = generated features, y = real ones."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    values = np.array([kid_subset_value(x[ix], y[iy]) for ix, iy in subsets])
    return float(values.mean()), float(values.std())


def kid_expected(x, y):
    """The expectation of kid_subset_value over random subsets (any m ≥ 2): each subset term is an average
    over pairs of distinct rows, so its mean over draws is the same average over all pairs of the full sets —
    the unbiased MMD² of sets of unequal size, Kxx and Kyy without their diagonals, all of Kxy."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    na, nb = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (na * (na - 1)) + (kyy.sum() - np.trace(kyy)) / (nb * (nb - 1))
                 - 2 * kxy.mean())


def kid_subsets(na, nb, num_subsets, max_subset_size, rng):
    """Index pairs as StyleGAN3 draws them: m = min(na, nb, max_subset_size) rows of each set without
    replacement, independently per subset."""
    m = min(na, nb, max_subset_size)
    return [(rng.choice(na, m, replace=False), rng.choice(nb, m, replace=False)) for _ in range(num_subsets)]


# ---- Precision and recall (Kynkäänniemi et al. 2019, StyleGAN3 metrics/precision_recall.py) --------------

def pairwise_distances(a, b, chunk=256):
    """Euclidean distances [Na, Nb] from explicit differences (no |a|² + |b|² − 2ab cancellation)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.empty((a.shape[0], b.shape[0]))
    for i in range(0, a.shape[0], chunk):  # chunks bound the [chunk, Nb, F] difference tensor
        d = a[i:i + chunk, None, :] - b[None, :, :]
        out[i:i + chunk] = np.sqrt(np.einsum("ijk,ijk->ij", d, d))
    return out


def knn_radii(points, k):
    """Distance of each point to its k-th nearest neighbour within its own set, the point itself not
    counted: the (k+1)-th smallest distance of its row, whose smallest is the zero self-distance."""
    d = pairwise_distances(points, points)
    if k >= d.shape[0]:
        raise ValueError("knn_radii: k = {} needs more than {} points".format(k, d.shape[0]))
    return np.sort(d, axis=1)[:, k]


def coverage(queries, manifold, k):
    """Fraction of queries inside the manifold estimate of `manifold`: within radius(m_i) of some m_i."""
    radii = knn_radii(manifold, k)
    inside = (pairwise_distances(queries, manifold) <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(a, b, k=3):
    """precision: A's points inside B's manifold; recall: B's points inside A's. A = generated, B = real."""
    return coverage(a, b, k), coverage(b, a, k)


def boundary_margin(a, b, k=3):
    """Smallest |dist(q, m_i) − radius(m_i)| / radius(m_i) over both directions: how close the nearest
    point is to flipping a precision/recall decision (a diagnostic for near-ties when implementations differ)."""
    margin = np.inf
    for queries, manifold in ((a, b), (b, a)):
        radii = knn_radii(manifold, k)
        rel = np.abs(pairwise_distances(queries, manifold) - radii[None, :]) / np.maximum(radii[None, :], 1e-300)
        margin = min(margin, float(rel.min()))
    return margin
