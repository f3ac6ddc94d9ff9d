"""Convex validation V2: optimistic vs plain MG-momentum (drop-in, float64).

Reference numbers come from the numpy prototypes
(``reference/prototypes/omg_check.py``, ``omg_logreg.py``), whose problems
``launch/run_convex.py`` draws with the same seeds.

References:
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
"""

import jax
import numpy as np
import pytest

from launch import run_convex

# (β·β_f, μ) -> (plain, optimistic with hint weight 1), the prototypes'
# printed iteration counts (algorithms.md §7 V2; the logistic "β = 1/β_f"
# rows there are the prototype's β = 0.5/β_f, its "2/β_f" rows β = 1/β_f).
_QUADRATIC = {(1.0, 0.9): (371, 377), (1.0, 0.97): (625, 420),
              (1.0, 0.99): (1884, 1010)}
_LOGISTIC = {(0.5, 0.9): (124, 118), (0.5, 0.97): (412, 323),
             (0.5, 0.99): (1247, 755), (1.0, 0.9): (120, 100),
             (1.0, 0.97): (407, 260), (1.0, 0.99): (1222, 567)}
_MUS = (0.9, 0.97, 0.99)


def _counts(problem, scales, hint_weight):
  betas = [s / problem.smoothness for s in scales]
  counts = run_convex.sweep(problem, betas=betas, mus=_MUS,
                            hint_weight=hint_weight)
  return {(round(b * problem.smoothness, 6), m): n
          for (b, m), n in counts.items()}


def _numpy_momentum(a, x0, beta, mu, steps, optimistic):
  """The prototype's recursion (``omg_check.mg_mom``) in numpy."""
  x, w, g_prev, out = x0.copy(), -beta * (a @ x0), None, []
  for _ in range(steps):
    x = x + w
    g = a @ x
    upd = g if not optimistic or g_prev is None else 2 * g - g_prev
    w, g_prev = mu * w - beta * upd, g
    out.append(0.5 * x @ a @ x)
  return np.array(out)


def test_drop_in_trajectory_equals_prototype_recursion():
  with jax.enable_x64(True):
    problem = run_convex.quadratic_problem()
    a = np.asarray(jax.hessian(problem.f)(np.zeros(50)))
    for hint in (None, 1.0):
      curve = jax.jit(lambda b, m, h=hint: run_convex.learning_curve(
          problem, b, m, hint_weight=h))(1.0, 0.97)
      ref = _numpy_momentum(a, problem.x0, 1.0, 0.97, problem.steps,
                            optimistic=hint is not None)
      np.testing.assert_allclose(np.asarray(curve)[:1500], ref[:1500],
                                 rtol=1e-8, atol=0.0)


def test_quadratic_counts_match_prototype_and_pass():
  with jax.enable_x64(True):
    problem = run_convex.quadratic_problem()
    plain = _counts(problem, (1.0,), None)
    optimistic = _counts(problem, (1.0,), 1.0)
  for key, (ref_plain, ref_opt) in _QUADRATIC.items():
    assert abs(plain[key] - ref_plain) <= 2, (key, plain[key])
    assert abs(optimistic[key] - ref_opt) <= 2, (key, optimistic[key])
    assert run_convex.passes(plain[key], optimistic[key], mu=key[1],
                             budget=problem.steps), key


def test_logistic_counts_match_prototype():
  with jax.enable_x64(True):
    problem = run_convex.logistic_problem()
    plain = _counts(problem, (0.5, 1.0), None)
    optimistic = _counts(problem, (0.5, 1.0), 1.0)
    # At x = 0 the logistic Hessian is exactly XᵀX/(4n) + ℓ2·I, whose top
    # eigenvalue is the smoothness bound β_f.
    hess = np.asarray(jax.hessian(problem.f)(np.zeros(50)))
  np.testing.assert_allclose(problem.smoothness, np.linalg.eigvalsh(hess)[-1],
                             rtol=1e-10)
  for key, (ref_plain, ref_opt) in _LOGISTIC.items():
    assert abs(plain[key] - ref_plain) <= 2, (key, plain[key])
    assert abs(optimistic[key] - ref_opt) <= 2, (key, optimistic[key])
    # Optimism never costs more than 5%.
    assert optimistic[key] <= 1.05 * plain[key], key
  # ≥1.3× for μ ≥ 0.97 everywhere except β = 0.5/β_f, μ = 0.97, where the
  # prototype itself gives 412/323 = 1.28× (the criterion's one miss).
  for key in _LOGISTIC:
    if key[1] >= 0.97 and key != (0.5, 0.97):
      assert plain[key] >= 1.3 * optimistic[key], key
  assert 1.25 < plain[(0.5, 0.97)] / optimistic[(0.5, 0.97)] < 1.3


@pytest.mark.parametrize("bad, match", [
    (dict(problems=("rosenbrock",)), "valid: \\('quadratic', 'logistic'\\)"),
    (dict(mus=(1.0,)), "mus must lie in"),
    (dict(beta_scales=(0.0,)), "beta_scales must be > 0"),
    (dict(hint_weights=("nesterov",)), "expected a number >= 0 or 'mu'"),
])
def test_invalid_config_raises(bad, match):
  with pytest.raises(ValueError, match=match):
    run_convex.ConvexConfig(**bad)


def test_run_dir_has_config_metrics_summary_and_plot(tmp_path):
  """The run directory of a (synthetic) sweep: log10 suboptimalities every
  10 iterations, the table in summary.json, the plot."""
  import json

  config = run_convex.ConvexConfig(problems=("quadratic",), mus=(0.9,),
                                   beta_scales=(1.0,), hint_weights=(1.0,),
                                   run_dir=str(tmp_path / "c"))
  problem = run_convex.Problem("quadratic", None, np.zeros(2), 0.0, 1.0, 30,
                               1e-8)
  plain = 10.0 ** -np.arange(1.0, 31.0)  # f - f* = 10^-(t+1) after t+1.
  curves = {"quadratic": (problem, {"plain": {(1.0, 0.9): plain},
                                    1.0: {(1.0, 0.9): plain / 100}})}
  rows = run_convex.problem_table(problem, config,
                                  curves=curves["quadratic"][1])
  assert (rows[0]["plain"], rows[0]["optimistic"]) == (8, 6)
  path = run_convex.write_run_dir(config, rows, curves, wall=1.5)
  saved = json.loads((tmp_path / "c" / "config.json").read_text())
  assert saved["experiment"] == "convex"
  assert saved["extra"]["variant"] == "optimistic-vs-plain"
  metrics = [json.loads(x) for x in
             (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
  assert [m["iteration"] for m in metrics] == [10, 20, 30]
  np.testing.assert_allclose(
      [m["quadratic/b1/mu0.9/plain"] for m in metrics], [-10, -20, -30])
  np.testing.assert_allclose(
      [m["quadratic/b1/mu0.9/optimistic-h1.0"] for m in metrics],
      [-12, -22, -32])
  summary = json.loads((tmp_path / "c" / "summary.json").read_text())
  assert summary["table"] == rows and summary["passed"] == 1
  assert (tmp_path / "c" / "curves.png").stat().st_size > 0
  assert path == str(tmp_path / "c")
