"""Configuration of the meta-learned actor-critic agent.

One frozen dataclass holds every static choice: the network, the rollout
size, the inner optimiser, which loss hyperparameters are meta-learned (any
subset of entropy weight, discount γ, λ, learning rate, value weight; the
rest fixed), the meta-gradient method (none / MG / BMG), ``K``, ``L`` and
whether meta-parameters are functions of a context.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses

from agents.cores import CORE_NAMES

__all__ = [
    "ActorCriticConfig",
    "CONTEXT_STATS",
    "CONTINUE_FROM",
    "KL_REDUCTIONS",
    "LEARNABLE",
    "LOSSES",
    "METHODS",
    "OPTIMIZERS",
    "PPO_LEARNABLE",
    "PPO_METHODS",
    "TARGET_MODES",
    "TARGET_STEPS",
    "ppo_meta_error",
]

METHODS: tuple[str, ...] = ("none", "mg", "bmg")
LOSSES: tuple[str, ...] = ("a2c", "ppo")
CONTINUE_FROM: tuple[str, ...] = ("K+L-1", "K")
#: Inner update rules: (clipped) Adam, or (clipped) SGD as the papers.
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
#: BMG's final target step on the outer loss: with the inner update rule
#: and its state (MagiFeeney; InstaDeep), a plain gradient step of size
#: ``target_step_size``, or RMSProp with its own state (a
#: curvature-corrected target, Flennerhag et al. 2022).
TARGET_STEPS: tuple[str, ...] = ("inner", "sgd", "rmsprop")
#: What BMG matches ``x⁽ᴷ⁾(w)`` to: the bootstrapped target ``x̃`` itself,
#: the average-velocity point ``x⁽⁰⁾ + K (x̃ − x⁽⁰⁾) / (K + L − 1)``
#: (the target's mean meta-learned step, so that steps that keep going the
#: same way do not reward a larger meta-parameter; ``L = 1`` is unchanged),
#: or ``"outer"``: ``x⁽ᴷ⁾`` plus, at each of the ``L − 1`` points the learner
#: passes with ``w``, the step the outer objective's hyperparameters would
#: have taken there, plus the final outer step (the target no longer moves
#: with ``w``, so the bootstrapped steps cannot reward ``w`` for their own
#: entropy bonus; with the outer values equal to ``w`` it is ``x̃``).
TARGET_MODES: tuple[str, ...] = ("bootstrap", "average", "outer")
#: How the BMG policy KL is reduced over the ``[T, B]`` states: the mean,
#: or the sum over time (mean over environments), as public code does.
KL_REDUCTIONS: tuple[str, ...] = ("mean", "sum")
#: Context kinds (Luketina et al., Table 1/5): the rollout-mean reward only,
#: or reward, value and TD-error mean and std.
CONTEXT_STATS: tuple[str, ...] = ("reward", "rich")
#: Hyperparameters that may be meta-learned (the keys of the hyperparameter
#: dict that the losses and the inner optimiser read).
LEARNABLE: tuple[str, ...] = (
    "entropy_weight", "discount", "lambda_", "learning_rate", "value_weight")
#: Meta-gradient methods through PPO's minibatch steps
#: (:mod:`agents.actor_critic.meta_ppo`; no BMG yet).
PPO_METHODS: tuple[str, ...] = ("none", "mg")
#: What MG can learn through PPO's minibatch steps: the entropy weight
#: (a loss weight) and the λ of the GAE the minibatches train on. Not the
#: clip ε: the clipped terms' gradient w.r.t. the parameters is 0 or does
#: not depend on ε, so its meta-gradient through a step is 0 almost
#: everywhere.
PPO_LEARNABLE: tuple[str, ...] = ("entropy_weight", "lambda_")


def ppo_meta_error(*, method: str, learned, context: bool, K: int,
                   ppo_epochs: int, num_minibatches: int) -> str | None:
  """Why PPO cannot run this meta-learning setting (``None``: it can);
  shared by :class:`ActorCriticConfig` and the launchers' flag rules."""
  if method not in PPO_METHODS:
    return (f"loss='ppo' meta-learns with method in {PPO_METHODS} only "
            f"(got method={method!r}): BMG through PPO's minibatch steps is "
            f"not implemented.")
  if method == "none":
    return None
  bad = [n for n in learned if n not in PPO_LEARNABLE]
  if bad:
    return (f"loss='ppo' with method='mg' learns {PPO_LEARNABLE} only, got "
            f"{bad}.")
  if context:
    return "loss='ppo' with method='mg' has no context (context=False)."
  steps = ppo_epochs * num_minibatches
  if K > steps - 1:
    return (f"MG through PPO needs K <= ppo_epochs x num_minibatches - 1 = "
            f"{steps - 1} (a following minibatch for the outer loss), got "
            f"K={K}.")
  return None


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
  if value not in valid:
    raise ValueError(f"Unknown {name} {value!r}; valid choices: {valid}.")


def _check_positive(**values: float) -> None:
  for name, value in values.items():
    if not value > 0:
      raise ValueError(f"{name} must be > 0, got {value}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActorCriticConfig:
  """Static configuration of the actor-critic agent and its meta-learning.

  Attributes:
    task: a name registered in :mod:`tasks`.
    core: recurrent core, one of :data:`agents.cores.CORE_NAMES`.
    width: core width H (also the heads' hidden size).
    num_layers: S5 layers (ignored by other cores).
    dt_min: S5 smallest initial timescale (Lu et al.: 1e-3).
    dt_max: S5 largest initial timescale (Lu et al.: 0.1); larger values
      make the initial memory shorter and faster.
    clip_eigs: S5: keep ``Re(Lambda) <= -1e-4`` (stable modes; Smith et al.'s
      option, off in popjaxrl).
    max_timescale: S5: if > 0, every mode forgets within this many steps
      (``Re(Lambda) * Delta <= -1 / max_timescale``); 0: no bound.
    num_envs: B, parallel environments.
    unroll_length: T, steps per rollout (one rollout per inner update).
    separate_networks: separate policy and value MLPs, each of two hidden
      layers of ``width`` (the papers; ``core="mlp"`` only) instead of a
      shared encoder and core.
    num_updates: meta-iterations of training (each consumes
      :attr:`rollouts_per_iteration` new rollouts).
    loss: inner loss, ``"a2c"`` (one gradient step per rollout) or
      ``"ppo"``: recurrent PPO (:mod:`agents.actor_critic.ppo`),
      :attr:`ppo_epochs` × :attr:`num_minibatches` clipped steps per
      rollout on minibatches of whole environment sequences.
    optimizer: the inner update rule, ``"adam"`` or ``"sgd"`` (the papers:
      SGD 0.1).
    learning_rate: step size of the inner optimiser (initial value when
      learned).
    max_grad_norm: global-norm gradient clipping of the inner optimiser
      (``0``: no clipping).
    discount: γ (initial value when learned).
    lambda_: λ of the λ-returns (initial value when learned).
    entropy_weight: weight of the entropy regulariser (initial when learned).
    value_weight: weight of the critic loss (initial when learned).
    ppo_clip: ε of the PPO ratio clip (and of the value clip).
    learned: names from :data:`LEARNABLE` that are meta-learned.
    method: ``"none"`` (plain A2C), ``"mg"`` or ``"bmg"``.
    K: differentiable inner steps per meta-update.
    L: BMG target length (``L - 1`` meta-learned steps + 1 outer step).
    continue_from: BMG: the learner continues from ``"K+L-1"`` (every
      rollout trains the agent) or ``"K"`` (target rollouts are extra).
    target_step: BMG: how the final outer-loss target step is taken, one
      of :data:`TARGET_STEPS` (default: the inner update rule with its
      state, so the target's last step is of the inner steps' size).
    target_step_size: BMG: step size of the ``"sgd"`` and ``"rmsprop"``
      target steps.
    target_mode: BMG: ``"bootstrap"`` (match to ``x̃``), ``"average"``
      (match to the average-velocity point) or ``"outer"`` (the target's
      steps taken with the outer hyperparameters along the learner's
      path); see :data:`TARGET_MODES`.
    kl_value_weight: BMG: weight of the value term in the matching.
    kl_reduction: BMG: ``"mean"`` or ``"sum"`` (over time) of the KL.
    meta_learning_rate: Adam step size of the meta-optimiser.
    meta_eps: the meta-Adam epsilon (the papers: 1e-4).
    meta_grad_clip: global-norm clipping of the meta-gradient (``0``:
      none).
    outer_discount: γ of the outer (policy-gradient) objective.
    outer_lambda: λ of the outer objective's returns.
    outer_entropy_weight: entropy weight in the outer objective.
    context: meta-parameters are ``g_ω(c)`` of a context of per-update
      statistics (which ones: :attr:`context_stats`).
    context_stats: ``"rich"`` (reward, value and TD-error mean and std, 6
      per update) or ``"reward"`` (the rollout-mean reward only, 1 per
      update), Luketina et al., Table 5.
    context_history: H, updates of statistics in the context.
    context_hidden: hidden width of each context MLP.
    context_pretrain: pre-train each context MLP from a random start to
      output the initial value on contexts drawn from ``U[-1, 1]``
      (Luketina et al., §3.3); otherwise it starts exactly there with a
      zero output layer.
    ppo_epochs: PPO: passes over each rollout (popjaxrl: 30).
    num_minibatches: PPO: minibatches per pass, each a disjoint set of
      ``num_envs / num_minibatches`` environments with their whole
      sequences and stored initial core states (popjaxrl: 8).
    normalize_advantages: PPO: standardise the advantages per minibatch.
    clip_value: PPO: clip the value prediction to ``±ppo_clip`` of the
      behaviour value and take the larger squared error.
    anneal_lr: PPO: learning rate falls linearly to 0 over
      :attr:`num_updates` (constant within an iteration's epochs).
    adam_eps: ε of the inner Adam (optax's default 1e-8; popjaxrl 1e-5).
    encoder_sizes: encoder layer sizes (``()``: ``(width, width)``; Lu et
      al.: ``(128, 256)`` with width 256).
    head_sizes: hidden sizes of the policy and value heads (``()``:
      ``(width,)``; Lu et al.: ``(128, 128)``).
    activation: hidden activation of encoder and heads, a name in
      :data:`agents.actor_critic.networks.ACTIVATIONS`.
    hidden_gain: orthogonal-init gain of the encoder (and, unless
      :attr:`head_gain` is set, head) layers (Lu et al.: √2).
    head_gain: orthogonal-init gain of the heads' hidden layers (``0``:
      :attr:`hidden_gain`; Lu et al.: 2).
    ssm_size: S5 state size N per layer (``0``: ``width``; P = N / 2).
    core_input_projection: S5: a linear map of the encoder output to
      ``width`` before the first block; ``False`` (popjaxrl) needs the
      encoder's last size to be ``width``.
    no_reset: the core is not wiped at episode starts (popjaxrl's
      ``NO_RESET`` ablation; Lu et al., V3(d)).
  """

  task: str = "RepeatPreviousEasy"
  core: str = "s5"
  width: int = 64
  num_layers: int = 2
  separate_networks: bool = False
  dt_min: float = 1e-3
  dt_max: float = 1e-1
  clip_eigs: bool = False
  max_timescale: float = 0.0
  num_envs: int = 16
  unroll_length: int = 32
  num_updates: int = 100
  loss: str = "a2c"
  optimizer: str = "adam"
  learning_rate: float = 1e-3
  max_grad_norm: float = 1.0
  discount: float = 0.99
  lambda_: float = 0.95
  entropy_weight: float = 0.01
  value_weight: float = 0.5
  ppo_clip: float = 0.2
  learned: tuple[str, ...] = ()
  method: str = "none"
  K: int = 1
  L: int = 1
  continue_from: str = "K+L-1"
  target_step: str = "inner"
  target_step_size: float = 1.0
  target_mode: str = "bootstrap"
  kl_value_weight: float = 0.0
  kl_reduction: str = "mean"
  meta_learning_rate: float = 1e-3
  meta_eps: float = 1e-4
  meta_grad_clip: float = 0.0
  outer_discount: float = 0.99
  outer_lambda: float = 0.95
  outer_entropy_weight: float = 0.0
  context: bool = False
  context_stats: str = "rich"
  context_history: int = 4
  context_hidden: int = 32
  context_pretrain: bool = False
  ppo_epochs: int = 4
  num_minibatches: int = 1
  normalize_advantages: bool = True
  clip_value: bool = True
  anneal_lr: bool = False
  adam_eps: float = 1e-8
  encoder_sizes: tuple[int, ...] = ()
  head_sizes: tuple[int, ...] = ()
  activation: str = "leaky_relu"
  hidden_gain: float = 2.0 ** 0.5
  head_gain: float = 0.0
  ssm_size: int = 0
  core_input_projection: bool = True
  no_reset: bool = False

  def __post_init__(self):
    _check_choice("core", self.core, CORE_NAMES)
    _check_choice("method", self.method, METHODS)
    _check_choice("loss", self.loss, LOSSES)
    _check_choice("continue_from", self.continue_from, CONTINUE_FROM)
    _check_choice("context_stats", self.context_stats, CONTEXT_STATS)
    _check_choice("optimizer", self.optimizer, OPTIMIZERS)
    _check_choice("target_step", self.target_step, TARGET_STEPS)
    _check_choice("kl_reduction", self.kl_reduction, KL_REDUCTIONS)
    _check_choice("target_mode", self.target_mode, TARGET_MODES)
    if self.separate_networks and self.core != "mlp":
      raise ValueError("separate_networks needs core='mlp' (separate "
                       f"policy and value MLPs), got core={self.core!r}.")
    for name in ("max_grad_norm", "meta_grad_clip"):
      if not getattr(self, name) >= 0:
        raise ValueError(f"{name} must be >= 0 (0: off), got "
                         f"{getattr(self, name)}.")
    object.__setattr__(self, "learned", tuple(self.learned))
    for name in self.learned:
      _check_choice("learned hyperparameter", name, LEARNABLE)
    if len(set(self.learned)) != len(self.learned):
      raise ValueError(f"Duplicate learned names in {self.learned}.")
    for name in ("width", "num_layers", "num_envs", "unroll_length",
                 "num_updates", "K", "L", "context_history", "context_hidden",
                 "ppo_epochs", "num_minibatches"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
    _check_positive(learning_rate=self.learning_rate, dt_min=self.dt_min,
                    dt_max=self.dt_max,
                    meta_learning_rate=self.meta_learning_rate,
                    meta_eps=self.meta_eps,
                    target_step_size=self.target_step_size,
                    adam_eps=self.adam_eps, ppo_clip=self.ppo_clip)
    if not self.max_timescale >= 0:
      raise ValueError("max_timescale must be >= 0 (0: no bound), got "
                       f"{self.max_timescale}.")
    if self.loss == "ppo":
      self._check_ppo()
    self._check_network()
    for name in ("discount", "lambda_", "entropy_weight"):
      value = getattr(self, name)
      if not 0.0 < value < 1.0 and name in self.learned:
        raise ValueError(f"Learned {name} must start in (0, 1), got {value}.")
    if "discount" in self.learned and not 0.9 < self.discount < 1.0:
      raise ValueError("A learned discount lives in (0.9, 1) (affine "
                       f"sigmoid); got initial value {self.discount}.")
    if self.method == "none" and (self.learned or self.context):
      raise ValueError(
          "method='none' learns nothing: set method to 'mg' or 'bmg' to "
          f"meta-learn {self.learned or 'a context'}; valid: {METHODS}.")
    if self.method != "none" and not self.learned:
      raise ValueError(
          f"method={self.method!r} needs learned hyperparameters from "
          f"{LEARNABLE}.")

  def _check_network(self) -> None:
    """Raises ValueError for network options that do not fit together."""
    from agents.actor_critic.networks import ACTIVATIONS

    _check_choice("activation", self.activation, tuple(ACTIVATIONS))
    for name in ("encoder_sizes", "head_sizes"):
      object.__setattr__(self, name, tuple(int(n) for n in getattr(
          self, name)))
      if any(n < 1 for n in getattr(self, name)):
        raise ValueError(f"{name} must be >= 1 each, got "
                         f"{getattr(self, name)}.")
    _check_positive(hidden_gain=self.hidden_gain)
    if self.head_gain < 0 or self.ssm_size < 0:
      raise ValueError("head_gain and ssm_size must be >= 0 (0: default), "
                       f"got {self.head_gain} and {self.ssm_size}.")
    if self.ssm_size % 2:
      raise ValueError(f"ssm_size N must be even (P = N / 2 complex "
                       f"states), got {self.ssm_size}.")
    custom = (self.encoder_sizes or self.head_sizes or self.no_reset
              or self.activation != "leaky_relu" or self.head_gain
              or self.hidden_gain != 2.0 ** 0.5)
    if self.separate_networks and custom:
      raise ValueError("separate_networks has its own MLPs: encoder_sizes, "
                       "head_sizes, activation, gains and no_reset apply to "
                       "the shared network only.")
    if self.core != "s5" and (self.ssm_size or not
                              self.core_input_projection):
      raise ValueError("ssm_size and core_input_projection=False are S5 "
                       f"options; core={self.core!r}.")
    encoded = self.encoder_sizes[-1] if self.encoder_sizes else self.width
    if not self.core_input_projection and encoded != self.width:
      raise ValueError(
          f"core_input_projection=False feeds the encoder output "
          f"(size {encoded}) to the S5 blocks of width {self.width}: make "
          f"the last encoder size equal to width.")

  def _check_ppo(self) -> None:
    """Raises ValueError for PPO settings it cannot run."""
    error = ppo_meta_error(method=self.method, learned=self.learned,
                           context=self.context, K=self.K,
                           ppo_epochs=self.ppo_epochs,
                           num_minibatches=self.num_minibatches)
    if error:
      raise ValueError(error)
    if self.num_envs % self.num_minibatches:
      raise ValueError(
          f"PPO splits the {self.num_envs} environments into "
          f"num_minibatches={self.num_minibatches} equal minibatches of whole "
          f"sequences: num_envs must be a multiple of num_minibatches.")

  @property
  def rollouts_per_iteration(self) -> int:
    """New rollouts collected by one (meta-)iteration.

    PPO (also with MG): one; MG's windows lie within its minibatches.
    Otherwise every rollout trains the learner once: MG's outer rollout and
    BMG's final target rollout are the next iteration's first inner rollout.
    """
    if self.method == "none" or self.loss == "ppo":
      return 1
    if self.method == "mg":
      return self.K
    return self.K + self.L - 1

  @property
  def updates_per_iteration(self) -> int:
    """Learner updates that one iteration advances the agent by (PPO: one
    rollout's ``ppo_epochs × num_minibatches`` steps count as one)."""
    if self.method == "none" or self.loss == "ppo":
      return 1
    if self.method == "bmg" and self.continue_from == "K+L-1":
      return self.K + self.L - 1
    return self.K

  @property
  def env_steps(self) -> int:
    """Environment steps of a whole run."""
    return (self.num_updates * self.rollouts_per_iteration
            * self.unroll_length * self.num_envs)
