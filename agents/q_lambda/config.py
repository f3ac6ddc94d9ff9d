"""Configuration of the Q(λ) agent with a fixed or meta-learned ε.

One frozen dataclass holds every static choice: the Q-network, the rollout
size, the inner optimiser, how ε is set (fixed, or meta-learned by
update-free BMG with ``K = 0``), ``L``, the meta-optimiser and the context
of ``ε = g_ω(sg(c))``.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses

__all__ = ["CONTEXTS", "CONTEXT_STATS", "METHODS", "QLambdaConfig"]

METHODS: tuple[str, ...] = ("fixed", "bmg")
#: Context kinds (Luketina et al., Table 6: per-step history of the raw
#: reward, q(s, a) and the TD error; "reward" keeps the reward only).
CONTEXTS: tuple[str, ...] = ("none", "reward", "rich")
#: Per-step statistics each context kind records.
CONTEXT_STATS: dict[str, int] = {"none": 0, "reward": 1, "rich": 3}


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
  if value not in valid:
    raise ValueError(f"Unknown {name} {value!r}; valid choices: {valid}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QLambdaConfig:
  """Static configuration of the Q(λ) agent and its meta-learned ε.

  Attributes:
    task: a name registered in :mod:`tasks` (a single-stream task).
    width: hidden width of the Q-network MLP.
    num_layers: hidden layers of the Q-network MLP.
    num_envs: B, parallel streams (the paper: 1).
    unroll_length: T, environment steps per rollout; one learner update
      per rollout (the paper updates every step; see the package docstring).
    num_updates: iterations of training (each consumes
      :attr:`rollouts_per_iteration` rollouts).
    learning_rate: Adam step size of the inner optimiser.
    adam_eps: Adam ε of the inner optimiser (the paper: 1e-4).
    discount: γ.
    lambda_: λ of Peng's Q(λ).
    epsilon: the fixed ε (``method="fixed"``) or the starting ε (``"bmg"``).
    method: ``"fixed"`` or ``"bmg"`` (update-free BMG, ``K = 0``).
    L: BMG target length: ``L - 1`` learner updates plus one final step
      with the inner optimiser, which is also the learner's ``L``-th update.
    meta_learning_rate: Adam step size of the meta-optimiser (eps 1e-4).
    meta_grad_clip: global-norm clip of the meta-gradient (0: none).
    context: ``"none"`` (one learned scalar), ``"reward"`` or ``"rich"``.
    context_history: H, environment steps of statistics in the context.
    context_hidden: hidden width of the 2-layer context MLP.
  """

  task: str = "TwoColors"
  width: int = 256
  num_layers: int = 2
  num_envs: int = 1
  unroll_length: int = 16
  num_updates: int = 100
  learning_rate: float = 3e-4
  adam_eps: float = 1e-4
  discount: float = 0.99
  lambda_: float = 0.9
  epsilon: float = 0.1
  method: str = "fixed"
  L: int = 16
  meta_learning_rate: float = 1e-3
  meta_grad_clip: float = 0.0
  context: str = "none"
  context_history: int = 100
  context_hidden: int = 128

  def __post_init__(self):
    _check_choice("method", self.method, METHODS)
    _check_choice("context", self.context, CONTEXTS)
    for name in ("width", "num_layers", "num_envs", "unroll_length",
                 "num_updates", "L", "context_history", "context_hidden"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    for name in ("learning_rate", "adam_eps", "meta_learning_rate"):
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
    if not 0.0 <= self.discount <= 1.0 or not 0.0 <= self.lambda_ <= 1.0:
      raise ValueError("discount and lambda_ must be in [0, 1], got "
                       f"{self.discount}, {self.lambda_}.")
    if not self.meta_grad_clip >= 0:
      raise ValueError(
          f"meta_grad_clip must be >= 0, got {self.meta_grad_clip}.")
    if self.method == "fixed" and not 0.0 <= self.epsilon <= 1.0:
      raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}.")
    if self.method == "bmg" and not 0.0 < self.epsilon < 1.0:
      raise ValueError("A meta-learned epsilon starts in (0, 1) (sigmoid), "
                       f"got {self.epsilon}.")
    if self.method == "fixed" and self.context != "none":
      raise ValueError("method='fixed' has no meta-parameters, so no "
                       f"context; got context={self.context!r}.")

  @property
  def rollouts_per_iteration(self) -> int:
    """Rollouts (= learner updates) of one iteration."""
    return self.L if self.method == "bmg" else 1

  @property
  def env_steps(self) -> int:
    """Environment steps of a whole run, per seed."""
    return (self.num_updates * self.rollouts_per_iteration
            * self.unroll_length * self.num_envs)
