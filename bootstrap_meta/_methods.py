"""Static configuration of the meta-gradient methods of the drop-in transform.

Each method is a frozen dataclass checked eagerly in ``__post_init__``, so an
invalid value raises a ``ValueError`` when it is built, never inside traced
code.

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optax

from bootstrap_meta._objectives import MatchingFn
from bootstrap_meta._optimistic import HintFn

__all__ = ["BMG", "MG", "Contextual", "Optimistic"]


def _check_bool(name: str, value) -> None:
  if not isinstance(value, bool):
    raise ValueError(f"{name} must be True or False, got {value!r}.")


def _check_int(name: str, value, low: int) -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < low:
    raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


@dataclasses.dataclass(frozen=True)
class MG:
  """Unrolled meta-gradients: minimise the outer loss after ``K`` steps.

  Attributes:
    K: number of differentiable inner steps (``>= 1``).
    remat: rematerialise each inner step (memory nearly flat in ``K``).

  References:
    Xu et al, `Meta-Gradient Reinforcement Learning
    <https://arxiv.org/abs/1805.09801>`_, 2018.
  """

  K: int = 1
  remat: bool = False

  def __post_init__(self):
    _check_int("MG.K", self.K, 1)
    _check_bool("MG.remat", self.remat)


@dataclasses.dataclass(frozen=True)
class BMG:
  """Bootstrapped meta-gradients: match ``x⁽ᴷ⁾(w)`` to a bootstrapped target.

  Attributes:
    K: differentiable inner steps (``>= 0``; ``K = 0`` needs a ``matching``
      that depends on the hyperparameters directly).
    L: target bootstrap length (``>= 1``): ``L − 1`` steps of the
      meta-learned rule then one step on the outer objective.
    step_size: α of the final plain gradient step of the target.
    target_optimizer: optional optimiser for that final step instead (e.g.
      ``optax.rmsprop(α)``, a curvature-corrected target with its own state).
    matching: ``μ(target, params, hyperparams, batch)``; default
      :func:`~bootstrap_meta.squared_euclidean`. In the drop-in transform
      ``hyperparams`` is the dict of constrained values and ``batch`` is
      ``None`` (close over data).
    remat: rematerialise each of the ``K`` steps.
    average_velocity: match ``x⁽ᴷ⁾`` to the average-velocity target
      ``x⁽⁰⁾ + K (x̃ − x⁽⁰⁾) / (K + L − 1)`` (default) rather than to the
      endpoint ``x̃``. The endpoint target's ``L − 1`` bootstrapped steps use
      the same step size, so matching them rewards a larger step whenever
      successive updates agree and the step size ratchets upward; the
      average-velocity target rewards only changes of direction or length
      between the target's steps and the first one, plus the final outer
      step (``docs/ratchet.md``). Identical for ``L = 1``; ignored when
      ``K = 0``.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """

  K: int = 1
  L: int = 1
  step_size: float = 1.0
  target_optimizer: optax.GradientTransformation | None = None
  matching: MatchingFn | None = None
  remat: bool = False
  average_velocity: bool = True

  def __post_init__(self):
    _check_int("BMG.K", self.K, 0)
    _check_int("BMG.L", self.L, 1)
    _check_bool("BMG.remat", self.remat)
    _check_bool("BMG.average_velocity", self.average_velocity)
    if not self.step_size > 0:
      raise ValueError(f"BMG.step_size must be > 0, got {self.step_size}.")
    if self.K == 0 and self.matching is None:
      raise ValueError(
          "BMG.K = 0 needs a `matching` that depends on the hyperparameters "
          "directly (e.g. epsilon_greedy_kl); with the default Euclidean "
          "matching the meta-gradient would be zero.")


@dataclasses.dataclass(frozen=True)
class Optimistic:
  """A base method (MG or BMG) with an optimistic meta-update.

  The meta-gradient passes through
  :func:`~bootstrap_meta.optimistic_meta_update` before the meta-optimiser.
  BMG with ``L >= 2`` is the implicit form of optimism; this is the explicit
  one. Not optax's ``optimistic_gradient_descent`` (a min-max method).

  Attributes:
    base: the meta-gradient method, ``MG`` or ``BMG``.
    hint_weight: β of the hint difference.
    hint_fn: optional ``hint_fn(grads, state) -> hint`` (default: the current
      meta-gradient).

  References:
    Flennerhag et al, `Optimistic Meta-Gradients
    <https://arxiv.org/abs/2301.03236>`_, 2023.
  """

  base: MG | BMG = dataclasses.field(default_factory=MG)
  hint_weight: float = 0.9
  hint_fn: HintFn | None = None

  def __post_init__(self):
    if not isinstance(self.base, MG | BMG):
      raise ValueError(f"Optimistic.base must be MG or BMG, got {self.base!r}.")
    if isinstance(self.hint_weight, int | float) and not self.hint_weight >= 0:
      raise ValueError(f"hint_weight must be >= 0, got {self.hint_weight}.")


MetaFn = Callable[..., object]


@dataclasses.dataclass(frozen=True)
class Contextual:
  """Context-conditioned meta-parameters ``w = g_ω(sg(c))``.

  Attributes:
    history: ``H``, updates of statistics kept in the context.
    num_stats: ``S``, statistics per update (the ``context_stats`` extra
      argument of ``update``; by default ``S = 1``: the outer loss at the
      current parameters).
    hidden: hidden widths of the default MLP, one per learned
      hyperparameter (the paper: two layers of 64).
    seed: seed of the MLP initialisation.
    initial_weights: optional starting ``ω`` per learned name, each with the
      structure of :func:`~bootstrap_meta.mlp_init`'s output for
      ``in_dim = history · num_stats`` and ``hidden`` (e.g. weights trained
      elsewhere); default: :func:`~bootstrap_meta.mlp_init`, whose output
      starts exactly at the hyperparameter's initial value.

  The context holds the last ``H`` statistics, normalised by their running
  mean and standard deviation. At the first call it holds one statistic and
  its normalised value is zero (as are the empty slots), so
  ``g_ω(c) = g_ω(0)``: the initial value. The context is computed once per
  ``update`` from the parameters at the call and held fixed across the
  ``K`` look-ahead steps and the target's steps (it carries no gradient).

  References:
    Luketina et al, `Meta-Gradients in Non-Stationary Environments
    <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
  """

  history: int = 10
  num_stats: int = 1
  hidden: Sequence[int] = (64, 64)
  seed: int = 0
  initial_weights: Mapping[str, Any] | None = None

  def __post_init__(self):
    _check_int("Contextual.history", self.history, 1)
    _check_int("Contextual.num_stats", self.num_stats, 1)
    for h in self.hidden:
      _check_int("Contextual.hidden", h, 1)
