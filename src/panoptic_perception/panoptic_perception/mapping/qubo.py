"""QUBO selection of hypotheses (PanSt3R's mask-merging step, applied to 3D instance hypotheses).

Minimise E(x) = -sum_i q_i x_i + sum_{i<j} P_ij x_i x_j over binary x, with q the linear quality
of each hypothesis and P >= 0 the pairwise incompatibility. The problem splits into connected
components of the P graph; a component of up to ``exact_max_vars`` variables is solved exactly by
enumerating all 2^n states (vectorised, in chunks), larger ones by simulated annealing on single-bit
flips followed by ICM (greedy bit flips until no flip lowers E), which returns a local optimum.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .errors import MappingInputError

_CHUNK = 1 << 15


def qubo_energy(x: np.ndarray, q: np.ndarray, P: np.ndarray) -> float | np.ndarray:
    """E for one state (n,) or a batch (B, n); P symmetric with zero diagonal."""
    x = np.asarray(x, np.float64)
    return -x @ q + 0.5 * np.einsum("...i,ij,...j->...", x, P, x)


def _check(q: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, np.float64).ravel()
    P = np.asarray(P, np.float64)
    n = q.shape[0]
    if P.shape != (n, n):
        raise MappingInputError(f"QUBO: P must be ({n}, {n}); got {P.shape}")
    if not np.allclose(P, P.T) or np.any(np.diag(P) != 0):
        raise MappingInputError("QUBO: P must be symmetric with a zero diagonal")
    return q, P


def solve_exact(q: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Global minimiser by enumeration (n <= 22); ties go to the lowest state index."""
    q, P = _check(q, P)
    n = q.shape[0]
    if n > 22:
        raise MappingInputError(f"QUBO: exact enumeration limited to 22 variables; got {n}")
    bits = np.arange(n)
    best_e, best_s = np.inf, 0
    for start in range(0, 1 << n, _CHUNK):
        s = np.arange(start, min(start + _CHUNK, 1 << n))
        X = ((s[:, None] >> bits) & 1).astype(np.float64)
        e = qubo_energy(X, q, P)
        i = int(np.argmin(e))
        if e[i] < best_e - 1e-12:
            best_e, best_s = float(e[i]), int(s[i])
    return ((best_s >> bits) & 1).astype(bool)


def solve_icm(q: np.ndarray, P: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """Greedy descent: flip the bit with the largest energy drop until none improves."""
    q, P = _check(q, P)
    x = np.zeros(q.shape[0], bool) if x0 is None else np.asarray(x0, bool).copy()
    while True:
        field = P @ x - q  # dE of setting a bit to 1 given the others
        delta = np.where(x, -field, field)
        i = int(np.argmin(delta)) if delta.size else 0
        if not delta.size or delta[i] >= -1e-12:
            return x
        x[i] = ~x[i]


def solve_anneal(q: np.ndarray, P: np.ndarray, sweeps: int = 200, seed: int = 0) -> np.ndarray:
    """Simulated annealing (geometric temperature schedule), best state kept, ICM-polished."""
    q, P = _check(q, P)
    n = q.shape[0]
    rng = np.random.default_rng(seed)
    x = solve_icm(q, P)
    e = float(qubo_energy(x, q, P))
    best, best_e = x.copy(), e
    scale = max(float(np.abs(q).max(initial=0.0)), float(P.max(initial=0.0)), 1e-6)
    for T in np.geomspace(scale, 1e-3 * scale, sweeps):
        for i in rng.permutation(n):
            d = float(P[i] @ x - q[i])
            d = -d if x[i] else d
            if d <= 0 or rng.random() < np.exp(-d / T):
                x[i] = ~x[i]
                e += d
                if e < best_e - 1e-12:
                    best, best_e = x.copy(), e
    return solve_icm(q, P, best)


def solve_qubo(q: np.ndarray, P: np.ndarray, method: str = "auto", exact_max_vars: int = 16, sweeps: int = 200,
               seed: int = 0) -> np.ndarray:
    """Solve per connected component with ``method`` in {auto, exact, anneal, greedy}."""
    q, P = _check(q, P)
    n = q.shape[0]
    x = np.zeros(n, bool)
    if n == 0:
        return x
    ncomp, comp = connected_components(csr_matrix(P > 0), directed=False)
    for c in range(ncomp):
        idx = np.flatnonzero(comp == c)
        qs, Ps = q[idx], P[np.ix_(idx, idx)]
        if method == "greedy":
            xs = solve_icm(qs, Ps)
        elif method == "exact" or (method == "auto" and idx.size <= exact_max_vars):
            xs = solve_exact(qs, Ps)
        elif method in ("anneal", "auto"):
            xs = solve_anneal(qs, Ps, sweeps, seed + c)
        else:
            raise MappingInputError(f"QUBO: unknown method {method!r}")
        x[idx] = xs
    return x
