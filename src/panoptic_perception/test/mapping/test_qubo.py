import itertools

import numpy as np
import pytest

from panoptic_perception.mapping import MappingInputError, qubo_energy, solve_anneal, solve_exact, solve_icm, solve_qubo


def random_qubo(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    q = rng.uniform(-0.5, 1.5, n)
    P = np.triu(rng.uniform(0, 2, (n, n)) * (rng.random((n, n)) < 0.4), 1)
    return q, P + P.T


def brute_force(q: np.ndarray, P: np.ndarray) -> float:
    return min(float(qubo_energy(np.array(s, float), q, P)) for s in itertools.product([0, 1], repeat=len(q)))


@pytest.mark.parametrize("seed", range(8))
def test_exact_solver_matches_brute_force_on_small_random_problems(seed):
    rng = np.random.default_rng(seed)
    q, P = random_qubo(int(rng.integers(3, 11)), rng)
    assert qubo_energy(solve_exact(q, P), q, P) == pytest.approx(brute_force(q, P))


@pytest.mark.parametrize("seed", range(4))
def test_annealing_and_component_solver_reach_the_optimum_on_small_problems(seed):
    rng = np.random.default_rng(100 + seed)
    q, P = random_qubo(10, rng)
    best = brute_force(q, P)
    assert qubo_energy(solve_anneal(q, P, sweeps=300, seed=seed), q, P) == pytest.approx(best)
    assert qubo_energy(solve_qubo(q, P, "auto", exact_max_vars=4, sweeps=300), q, P) == pytest.approx(best)
    assert qubo_energy(solve_qubo(q, P, "exact"), q, P) == pytest.approx(best)


def test_icm_stops_at_a_state_no_single_flip_improves():
    rng = np.random.default_rng(7)
    q, P = random_qubo(12, rng)
    x = solve_icm(q, P)
    e = qubo_energy(x, q, P)
    for i in range(12):
        y = x.copy()
        y[i] = ~y[i]
        assert qubo_energy(y, q, P) >= e - 1e-12


def test_conflicting_pair_keeps_the_better_hypothesis_only():
    q = np.array([1.0, 0.8, 0.3])
    P = np.array([[0, 4, 0], [4, 0, 0], [0, 0, 0]], float)
    assert solve_qubo(q, P).tolist() == [True, False, True]


def test_solver_rejects_an_asymmetric_penalty_matrix():
    with pytest.raises(MappingInputError, match="symmetric"):
        solve_exact(np.ones(2), np.array([[0.0, 1.0], [0.0, 0.0]]))
