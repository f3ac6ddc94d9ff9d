r"""Convex validation V2: optimistic vs plain meta-gradient momentum.

Meta-learning the update vector itself, ``φ(x, w) = w``, with a decaying
meta-SGD ``w ← μ w − β g`` (``g = ∇f(x + w)``, the one-step MG
meta-gradient) is heavy-ball momentum; the optimistic meta-update
``w ← μ w − β (g_t + h (g_t − g_{t−1}))`` turns it into a Nesterov-like
method (``h = μ``: exactly Nesterov). Both run through the library's drop-in
transform :func:`bootstrap_meta.meta_learned` (with ``bm.MG(K=1)`` and
``bm.Optimistic(bm.MG(K=1), hint_weight=h)``), in float64, on

* ``quadratic``: ``f(x) = ½ xᵀAx``, ``A = Q diag(λ) Qᵀ``, ``λ`` log-spaced in
  ``[1e-3, 1]`` (d = 50), 3000 steps, iterations to ``f < 1e-8``;
* ``logistic``: ℓ2-regularised logistic regression (n = 1000, d = 50,
  ill-conditioned features, ℓ2 = 1e-3), 2000 steps, iterations to
  suboptimality ``1e-6``.

The problems are drawn exactly as in the numpy prototypes
(``reference/prototypes/omg_check.py``, ``omg_logreg.py``, same seeds), so the
iteration counts are directly comparable. ``β = beta_scale / β_f`` with
``β_f`` the smoothness constant (1 for the quadratic; ``λ_max(XᵀX/n)/4 + ℓ2``
for the logistic loss). Pass criterion: at matched ``(β, μ)`` the optimistic
run needs at most 1.05× the plain run's iterations, and at most 1/1.3 of
them for ``μ ≥ 0.97``.

Command::

  python -m launch.run_convex --problems=quadratic,logistic \
      --mus=0.9,0.97,0.99 --beta_scales=0.5,1 --hint_weights=1,mu \
      --run_dir=/work/runs/convex/optimistic-vs-plain

Besides printing the table, the run writes a run directory (``--run_dir``,
default ``runs/convex/<timestamp>``): ``config.json``, ``metrics.jsonl`` /
``metrics.csv`` (log10 suboptimality of every setting every
``_LOG_EVERY`` iterations; "iterations" stand in for environment steps),
``summary.json`` (the table of iteration counts) and ``curves.png``.

References:
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

import bootstrap_meta as bm
from launch import common_flags, flag_checks
from launch.rundir import RunDir, config_to_json, default_run_dir

# Launchers are imported side by side by the tests; flag names that another
# launcher also defines (--seed, --steps, --method, ...) must not raise absl's
# DuplicateFlagError there. Only the launcher run as __main__ parses flags.
_FLAG_KW = dict(allow_override=True)

PROBLEMS = ("quadratic", "logistic")

PROBLEM_NAMES = flags.DEFINE_list(
  "problems", list(PROBLEMS), f"Problems, among {PROBLEMS}.", **_FLAG_KW
)
MUS = flags.DEFINE_list(
  "mus", ["0.9", "0.97", "0.99"], "Meta decays μ.", **_FLAG_KW
)
BETA_SCALES = flags.DEFINE_list(
  "beta_scales",
  ["0.5", "1"],
  "Meta step sizes β, in units of 1/β_f.",
  **_FLAG_KW,
)
HINT_WEIGHTS = flags.DEFINE_list(
  "hint_weights",
  ["1", "mu"],
  "Hint weights of the optimistic update: numbers, or 'mu' (Nesterov).",
  **_FLAG_KW,
)
# --help lists --run_dir, the one shared flag this launcher reads (its
# problems are fixed: no seeds, no checkpoints; register_validators refuses
# the others).
flags.declare_key_flag(common_flags.RUN_DIR)

_DIM = 50
_QUAD_STEPS, _QUAD_THRESHOLD, _QUAD_SEED = 3000, 1e-8, 1
_LOGREG_N, _LOGREG_L2, _LOGREG_SEED = 1000, 1e-3, 2
_LOGREG_STEPS, _LOGREG_THRESHOLD = 2000, 1e-6
_LOG_EVERY = 10  # Iterations between metric rows in the run directory.
_FSTAR_STEPS = 20000  # Nesterov steps for the logistic optimum (as the
# prototype).


@dataclasses.dataclass(frozen=True)
class ConvexConfig:
  """Configuration of the V2 sweep.

  Attributes:
    problems: names among :data:`PROBLEMS`.
    mus: meta decays ``μ`` in ``[0, 1)``.
    beta_scales: meta step sizes in units of ``1/β_f`` (``> 0``).
    hint_weights: optimistic hint weights (``>= 0``), or ``"mu"``.
    run_dir: the run directory ("" gives ``runs/convex/<timestamp>``).
  """

  problems: tuple[str, ...] = PROBLEMS
  mus: tuple[float, ...] = (0.9, 0.97, 0.99)
  beta_scales: tuple[float, ...] = (0.5, 1.0)
  hint_weights: tuple[float | str, ...] = (1.0, "mu")
  run_dir: str = ""

  def __post_init__(self):
    for name in ("problems", "mus", "beta_scales", "hint_weights"):
      if not getattr(self, name):
        raise ValueError(f"{name} must not be empty.")
    unknown = [p for p in self.problems if p not in PROBLEMS]
    if unknown:
      raise ValueError(f"Unknown problems {unknown}; valid: {PROBLEMS}.")
    if not all(0 <= mu < 1 for mu in self.mus):
      raise ValueError(f"mus must lie in [0, 1), got {self.mus}.")
    if not all(b > 0 for b in self.beta_scales):
      raise ValueError(f"beta_scales must be > 0, got {self.beta_scales}.")
    for h in self.hint_weights:
      if h != "mu" and not (isinstance(h, float | int) and h >= 0):
        raise ValueError(f"hint weight {h!r}: expected a number >= 0 or 'mu'.")


def _parse_hint(text: str) -> float | str:
  if text == "mu":
    return "mu"
  try:
    return float(text)
  except ValueError:
    raise ValueError(
      f"hint weight {text!r}: expected a number or 'mu'."
    ) from None


def _floats(name: str, values: Sequence[str]) -> tuple[float, ...]:
  try:
    return tuple(float(v) for v in values)
  except ValueError:
    raise ValueError(f"--{name} must be numbers, got {values}.") from None


def build_config() -> ConvexConfig:
  """Reads the flags into a :class:`ConvexConfig` (validated)."""
  return ConvexConfig(
    problems=tuple(PROBLEM_NAMES.value),
    mus=_floats("mus", MUS.value),
    beta_scales=_floats("beta_scales", BETA_SCALES.value),
    hint_weights=tuple(_parse_hint(h) for h in HINT_WEIGHTS.value),
    run_dir=common_flags.RUN_DIR.value,
  )


class Problem(NamedTuple):
  """A convex problem.

  Attributes:
    name: the problem's name.
    f: ``f(x) -> scalar``.
    x0: the starting point ``[d]``.
    fstar: the optimal value (0 for the quadratic).
    smoothness: ``β_f``, the largest Hessian eigenvalue bound.
    steps: the budget.
    threshold: the suboptimality to reach.
  """

  name: str
  f: Callable[[jax.Array], jax.Array]
  x0: np.ndarray
  fstar: float
  smoothness: float
  steps: int
  threshold: float


def quadratic_problem() -> Problem:
  """The rotated ill-conditioned quadratic of ``omg_check.py`` (seed 1)."""
  rng = np.random.default_rng(_QUAD_SEED)
  q, _ = np.linalg.qr(rng.normal(size=(_DIM, _DIM)))
  a = q @ np.diag(np.logspace(-3, 0, _DIM)) @ q.T
  x0 = rng.normal(size=_DIM)
  return Problem(
    "quadratic",
    lambda x: 0.5 * x @ (jnp.asarray(a) @ x),
    x0,
    0.0,
    1.0,
    _QUAD_STEPS,
    _QUAD_THRESHOLD,
  )


def _logistic_fstar(f, smoothness: float) -> float:
  """``min f`` by Nesterov's method for convex functions (float64)."""
  grad = jax.grad(f)

  def body(t, carry):
    x, x_prev = carry
    y = x + (t / (t + 3.0)) * (x - x_prev)
    return y - grad(y) / smoothness, x

  x = jnp.zeros(_DIM)
  x, _ = jax.jit(lambda c: jax.lax.fori_loop(0, _FSTAR_STEPS, body, c))((x, x))
  return float(f(x))


def logistic_problem() -> Problem:
  """The ill-conditioned logistic regression of ``omg_logreg.py`` (seed 2).

  Call under ``jax.enable_x64(True)``: the optimum is computed here.
  """
  rng = np.random.default_rng(_LOGREG_SEED)
  x_feat = rng.normal(size=(_LOGREG_N, _DIM)) * np.logspace(0, -1.5, _DIM)
  w_true = rng.normal(size=_DIM)
  noise = 0.5 * rng.normal(size=_LOGREG_N)
  labels = (x_feat @ w_true + noise > 0).astype(np.float64)
  feats, ys = jnp.asarray(x_feat), jnp.asarray(labels)

  def f(x):
    z = feats @ x
    return jnp.mean(jnp.logaddexp(0.0, z) - ys * z) + 0.5 * _LOGREG_L2 * x @ x

  smoothness = float(
    np.linalg.eigvalsh(x_feat.T @ x_feat / _LOGREG_N).max() / 4 + _LOGREG_L2
  )
  return Problem(
    "logistic",
    f,
    np.zeros(_DIM),
    _logistic_fstar(f, smoothness),
    smoothness,
    _LOGREG_STEPS,
    _LOGREG_THRESHOLD,
  )


def make_problem(name: str) -> Problem:
  """The problem named ``name`` (one of :data:`PROBLEMS`)."""
  if name not in PROBLEMS:
    raise ValueError(f"Unknown problem {name!r}; valid: {PROBLEMS}.")
  return quadratic_problem() if name == "quadratic" else logistic_problem()


class UpdateVectorState(NamedTuple):
  """State of :func:`update_vector_optimizer`: a step counter.

  (A leafless ``optax.EmptyState`` would do, but ``meta_learned``'s
  finiteness check of the learner's state currently fails on a state with no
  leaves.)
  """

  count: jax.Array


def update_vector_optimizer(update: jax.Array) -> optax.GradientTransformation:
  """``φ(x, w) = w``: an optax rule whose update is the vector ``update``."""

  def init_fn(params):
    del params
    return UpdateVectorState(jnp.zeros([], jnp.int32))

  def update_fn(grads, state, params=None):
    del grads, params
    return update, UpdateVectorState(state.count + 1)

  return optax.GradientTransformation(init_fn, update_fn)


def momentum_meta_tx(*, beta: jax.Array, mu: jax.Array, hint_weight=None):
  """The drop-in MG-momentum transform: meta-SGD ``w ← μ w − β g``.

  Args:
    beta: meta step size β (may be traced).
    mu: meta decay μ (may be traced).
    hint_weight: ``None`` for the plain meta-update, else the optimistic hint
      weight (a Python float).

  Returns:
    The ``bm.meta_learned`` transformation (initial ``w`` is zero; set it in
    the state, see :func:`learning_curve`).
  """
  method = bm.MG(K=1)
  if hint_weight is not None:
    method = bm.Optimistic(method, hint_weight=hint_weight)
  # w - β (g + (1 - μ)/β w) = μ w - β g.
  meta_optimizer = optax.chain(
    optax.add_decayed_weights((1 - mu) / beta), optax.scale(-beta)
  )
  return bm.meta_learned(
    update_vector_optimizer,
    learned={"update": bm.unconstrained(np.zeros(_DIM))},
    method=method,
    meta_optimizer=meta_optimizer,
  )


def learning_curve(
  problem: Problem, beta: jax.Array, mu: jax.Array, *, hint_weight=None
) -> jax.Array:
  """Suboptimality ``f(x_t) − f*`` after each of ``problem.steps`` steps.

  The user's loop: ``grads``, ``tx.update(..., value_fn=f)``,
  ``apply_updates``, in a ``lax.scan``. The update vector starts at
  ``w₀ = −β ∇f(x₀)`` (as in the prototype).

  Returns:
    ``[steps]`` suboptimalities (jittable and vmappable over β and μ).
  """
  tx = momentum_meta_tx(beta=beta, mu=mu, hint_weight=hint_weight)
  grad = jax.grad(problem.f)
  x0 = jnp.asarray(problem.x0)
  state = tx.init(x0)
  # Workaround: MetaParam inits must be concrete, w₀ depends on traced β.
  state = state._replace(meta_params={"update": -beta * grad(x0)})

  def step(carry, _):
    x, s = carry
    u, s = tx.update(grad(x), s, x, value_fn=problem.f)
    x = optax.apply_updates(x, u)
    return (x, s), problem.f(x) - problem.fstar

  return jax.lax.scan(step, (x0, state), None, length=problem.steps)[1]


def first_below(curve: np.ndarray, threshold: float) -> int | None:
  """Index of the first entry below ``threshold`` (the prototype's count).

  ``curve[t]`` is measured after ``t + 1`` steps, so this counts steps taken
  before the one that crosses; ``None`` if the threshold is never reached.
  """
  below = np.flatnonzero(np.asarray(curve) < threshold)
  return int(below[0]) if below.size else None


def sweep_curves(
  problem: Problem,
  *,
  betas: Sequence[float],
  mus: Sequence[float],
  hint_weight=None,
) -> dict[tuple[float, float], np.ndarray]:
  """Learning curves ``[steps]`` for every ``(β, μ)`` (one compile)."""
  grid = [(b, m) for b in betas for m in mus]
  b_arr = jnp.asarray([g[0] for g in grid])
  m_arr = jnp.asarray([g[1] for g in grid])
  fn = jax.jit(
    jax.vmap(
      lambda b, m: learning_curve(problem, b, m, hint_weight=hint_weight)
    )
  )
  curves = np.asarray(fn(b_arr, m_arr))
  return dict(zip(grid, curves, strict=True))


def sweep(
  problem: Problem,
  *,
  betas: Sequence[float],
  mus: Sequence[float],
  hint_weight=None,
) -> dict[tuple[float, float], int | None]:
  """Iterations to threshold for every ``(β, μ)`` (one compile, vmapped)."""
  curves = sweep_curves(problem, betas=betas, mus=mus, hint_weight=hint_weight)
  return {g: first_below(c, problem.threshold) for g, c in curves.items()}


def _speedup(plain: int | None, optimistic: int | None, budget: int) -> float:
  """``plain ÷ optimistic`` iterations (a miss counts as the budget)."""
  return (budget if plain is None else plain) / max(
    budget if optimistic is None else optimistic, 1
  )


def passes(
  plain: int | None, optimistic: int | None, *, mu: float, budget: int
) -> bool:
  """The V2 criterion at one ``(β, μ)``.

  Optimistic is at most 5% slower than plain, and for ``μ ≥ 0.97`` at least
  1.3× faster. A run that misses the threshold counts as the full budget
  (and a plain miss with an optimistic miss fails).
  """
  if optimistic is None:
    return False
  speedup = _speedup(plain, optimistic, budget)
  return speedup >= (1.3 if mu >= 0.97 else 1 / 1.05)


def problem_curves(problem: Problem, config: ConvexConfig) -> dict:
  """``{"plain" | hint: {(β, μ): curve [steps]}}`` of every setting."""
  betas = [s / problem.smoothness for s in config.beta_scales]
  out = {"plain": sweep_curves(problem, betas=betas, mus=config.mus)}
  for hint in config.hint_weights:
    if hint == "mu":
      out[hint] = {}
      for mu in config.mus:
        out[hint].update(
          sweep_curves(problem, betas=betas, mus=[mu], hint_weight=mu)
        )
    else:
      out[hint] = sweep_curves(
        problem, betas=betas, mus=config.mus, hint_weight=hint
      )
  return out


def problem_table(
  problem: Problem, config: ConvexConfig, *, curves: dict | None = None
) -> list[dict]:
  """One row per ``(β, μ, hint)``: plain and optimistic counts, pass/fail.

  Args:
    problem: the problem.
    config: the sweep.
    curves: :func:`problem_curves` of the same sweep (computed if omitted).
  """
  if curves is None:
    curves = problem_curves(problem, config)
  count = lambda c: first_below(c, problem.threshold)  # noqa: E731
  plain = {g: count(c) for g, c in curves["plain"].items()}
  rows = []
  for hint in config.hint_weights:
    opt = {g: count(c) for g, c in curves[hint].items()}
    for (beta, mu), n_plain in plain.items():
      n_opt = opt[(beta, mu)]
      rows.append(
        dict(
          problem=problem.name,
          beta_scale=beta * problem.smoothness,
          mu=mu,
          hint=hint,
          plain=n_plain,
          optimistic=n_opt,
          speedup=_speedup(n_plain, n_opt, problem.steps),
          passed=passes(n_plain, n_opt, mu=mu, budget=problem.steps),
        )
      )
  return rows


def _print_rows(rows: list[dict]) -> None:
  print(
    f"{'problem':10s} {'β·β_f':>6s} {'μ':>5s} {'hint':>5s} "
    f"{'plain':>6s} {'optim.':>6s} {'speedup':>7s}  pass"
  )
  for r in rows:
    print(
      f"{r['problem']:10s} {r['beta_scale']:6.2f} {r['mu']:5.2f} "
      f"{str(r['hint']):>5s} {str(r['plain']):>6s} "
      f"{str(r['optimistic']):>6s} {r['speedup']:7.2f}  "
      f"{'yes' if r['passed'] else 'NO'}",
      flush=True,
    )


def _series_name(problem: str, beta_scale: float, mu: float, label) -> str:
  method = "plain" if label == "plain" else f"optimistic-h{label}"
  return f"{problem}/b{beta_scale:g}/mu{mu:g}/{method}"


def metric_rows(curves: dict) -> list[dict]:
  """Rows of log10 suboptimality every ``_LOG_EVERY`` iterations.

  Args:
    curves: ``{problem: (Problem, problem_curves(...))}``.

  Returns:
    One row per logged iteration (``seed`` 0; ``env_steps`` counts
    iterations), one column per ``problem/b<β·β_f>/mu<μ>/<plain|hint>``.
  """
  longest = max(p.steps for p, _ in curves.values())
  rows = []
  for t in range(_LOG_EVERY, longest + 1, _LOG_EVERY):
    row = {"iteration": t, "env_steps": t, "seed": 0}
    for name, (problem, by_label) in curves.items():
      for label, settings in by_label.items():
        for (beta, mu), curve in settings.items():
          if t <= len(curve):
            key = _series_name(name, beta * problem.smoothness, mu, label)
            row[key] = float(np.log10(max(float(curve[t - 1]), 1e-300)))
    rows.append(row)
  return rows


def plot_curves(path: str, curves: dict, config: ConvexConfig) -> str:
  """``curves.png``: suboptimality of plain (solid) vs optimistic (dashed,
  first hint weight) per problem and β; returns the file's path."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  nrow, ncol = len(curves), len(config.beta_scales)
  fig, axes = plt.subplots(
    nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False
  )
  hint = config.hint_weights[0]
  for i, (name, (problem, by_label)) in enumerate(curves.items()):
    for j, scale in enumerate(config.beta_scales):
      ax = axes[i, j]
      for k, mu in enumerate(config.mus):
        key = (scale / problem.smoothness, mu)
        for label, style in (("plain", "-"), (hint, "--")):
          ax.semilogy(
            np.maximum(by_label[label][key], problem.threshold / 100),
            style,
            color=f"C{k}",
            label=f"μ={mu:g} {'plain' if label == 'plain' else 'optim.'}",
          )
      ax.axhline(problem.threshold, color="grey", linewidth=0.6)
      ax.set_title(f"{name}, β = {scale:g}/β_f", fontsize=9)
      ax.set_xlabel("iterations")
      ax.set_ylabel("f - f*")
  axes[0, -1].legend(fontsize=7)
  fig.suptitle(
    f"convex: plain (solid) vs optimistic (dashed, hint {hint}) "
    "meta-gradient momentum; grey: threshold",
    fontsize=9,
  )
  fig.tight_layout()
  out = os.path.join(path, "curves.png")
  fig.savefig(out, dpi=90)
  plt.close(fig)
  return out


def write_run_dir(
  config: ConvexConfig, rows: list[dict], curves: dict, wall: float
) -> str:
  """Writes config, metrics, ``summary.json`` and ``curves.png``.

  Returns:
    The run directory.
  """
  from launch.actor_critic import machine

  path = config.run_dir or default_run_dir("convex")
  run = RunDir(
    path,
    config={
      "experiment": "convex",
      "convex": config_to_json(dataclasses.replace(config, run_dir="")),
      "extra": {"variant": "optimistic-vs-plain"},
    },
  )
  try:
    for row in metric_rows(curves):
      run.log([row], step=row["iteration"])
    passed = sum(r["passed"] for r in rows)
    run.write_json(
      "summary.json",
      {
        "experiment": "convex",
        "run_dir": path,
        "table": rows,
        "passed": passed,
        "total": len(rows),
        "wall_s": wall,
        "machine": machine(),
      },
    )
    plot_curves(path, curves, config)
  finally:
    run.close()
  return path


def run(*, config: ConvexConfig) -> list[dict]:
  """Runs the sweep in float64, prints the table, writes the run directory.

  Args:
    config: the :class:`ConvexConfig`.

  Returns:
    The rows (dicts with ``problem``, ``beta_scale``, ``mu``, ``hint``,
    ``plain``, ``optimistic``, ``speedup``, ``passed``).
  """
  rows, curves, start = [], {}, time.time()
  with jax.enable_x64(True):
    for name in config.problems:
      problem = make_problem(name)
      curves[name] = (problem, problem_curves(problem, config))
      rows += problem_table(problem, config, curves=curves[name][1])
  _print_rows(rows)
  path = write_run_dir(config, rows, curves, time.time() - start)
  print(f"run dir: {path}\nplot: {os.path.join(path, 'curves.png')}\n"
        f"metrics: {os.path.join(path, 'metrics.csv')}")
  return rows


def main(argv):
  """Runs V2 from the flags; exits non-zero if a criterion fails."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  common_flags.quiet_logging()
  rows = run(config=build_config())
  failed = [r for r in rows if not r["passed"]]
  print(f"{len(rows) - len(failed)}/{len(rows)} settings pass.")
  if failed:
    raise SystemExit(1)


def _hint_ok(text: str) -> bool:
  try:
    return _parse_hint(text) == "mu" or _parse_hint(text) >= 0
  except ValueError:
    return False


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators(
      ignored=[n for n in common_flags.SHARED if n != "run_dir"],
      why="run_convex runs fixed problems in one deterministic pass (no "
      "seeds, checkpoints or devices to choose); it reads --run_dir only.")
  flag_checks.check("problems", lambda v: bool(v) and set(v) <= set(
      PROBLEMS), f"must be a non-empty list of {PROBLEMS}")
  flag_checks.numbers_in("mus", lambda mu: 0 <= mu < 1, "numbers in [0, 1)")
  flag_checks.numbers_in("beta_scales", lambda b: b > 0, "numbers > 0")
  flag_checks.check("hint_weights", lambda v: bool(v) and all(
      _hint_ok(h) for h in v), "must be a non-empty list of numbers >= 0 "
      "or 'mu'")


if __name__ == "__main__":
  register_validators()
  app.run(main)
