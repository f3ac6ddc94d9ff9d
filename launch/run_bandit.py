r"""V5: a contextual entropy weight on the switching Bernoulli bandit.

The actor-critic agent (memoryless MLP core) plays
:class:`tasks.bandits.SwitchingBandit` (two arms paying 1 with probability
0.9 and 0.1; the best arm changes every ``P = 2,000`` steps of each
environment). Its entropy weight is either fixed, or meta-learned online by
MG or BMG, as one learned scalar (``--context=none``) or as a function
``g_ω(sg(c))`` of a context ``c`` of the last ``H`` updates' statistics
(``--context=reward``: rollout reward means; ``--context=rich``: reward,
value and TD-error mean and std), as in Luketina et al. The return is the
mean reward per step; task switches are marked in the plots.

Command (the best variant of V5; 10 seeds vmapped, a few minutes)::

  python -m launch.run_bandit --method=bmg --context=reward \
      --context_pretrain --entropy_weight=0.2 --target_mode=outer \
      --outer_entropy_weight=0.2 --kl_reduction=sum --optimizer=sgd \
      --learning_rate=0.5 --num_seeds=10 --steps=768000 \
      --run_dir=/work/runs/bandit/bmg-reward

Baselines: ``--method=bmg --context=none`` with the same flags (less
``--context_pretrain``), and ``--method=fixed --context=none
--entropy_weight=0.2 --optimizer=sgd --learning_rate=0.5``.

Measured (results/notes/bandit.md; 768k steps per seed, 15 fresh seeds,
lifetime reward per step, mean ± 95% CI): BMG-reward 0.830 ± 0.005,
BMG-none 0.818 ± 0.011, the best fixed weight of {0.1, 0.15, 0.2, 0.25,
0.3} 0.819 ± 0.007 (0.2). The learned weight is 0.37 in the first 200
steps after a switch and 0.20–0.22 for the rest of the period. With the
default inner Adam 1e-2 no variant beats the best fixed weight (0.3,
0.763 ± 0.004): an oracle schedule that knows the switches gains only
+0.009 over it (``bench/entropy_oracle.py --task=bandit``).

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import app, flags

from agents.actor_critic.config import (
    KL_REDUCTIONS,
    OPTIMIZERS,
    TARGET_MODES,
    ActorCriticConfig,
)
from launch import common_flags, flag_checks
from launch.actor_critic import Reporting, print_outputs, run_experiment
from launch.loop import RunSettings

_KW = dict(allow_override=True)

METHODS = ("fixed", "mg", "bmg")
CONTEXTS = ("none", "reward", "rich")

METHOD = flags.DEFINE_string(
    "method", "bmg", f"Entropy weight: one of {METHODS}.", **_KW)
CONTEXT = flags.DEFINE_string(
    "context", "rich", f"Context of the learned entropy weight: one of "
    f"{CONTEXTS} ('none' for a single learned scalar).", **_KW)
STEPS = flags.DEFINE_integer(
    "steps", 320_000, "Environment steps per seed (all environments).", **_KW)
NUM_ENVS = flags.DEFINE_integer(
    "num_envs", 8, "Parallel bandit streams per seed.", **_KW)
UNROLL = flags.DEFINE_integer("unroll_length", 8, "Rollout length T.", **_KW)
WIDTH = flags.DEFINE_integer("width", 32, "MLP width (2 layers).", **_KW)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 1e-2, "Inner step size.", **_KW)
OPTIMIZER = flags.DEFINE_string(
    "optimizer", "adam", f"Inner update rule: {OPTIMIZERS}.", **_KW)
MAX_GRAD_NORM = flags.DEFINE_float(
    "max_grad_norm", 1.0, "Inner global-norm gradient clipping (0: none).",
    **_KW)
ENTROPY_WEIGHT = flags.DEFINE_float(
    "entropy_weight", 0.1, "Entropy weight (fixed value, or the learned "
    "one's initial value).", **_KW)
META_LEARNING_RATE = flags.DEFINE_float(
    "meta_learning_rate", 1e-3, "Meta-Adam step size.", **_KW)
K_STEPS = flags.DEFINE_integer("K", 1, "MG/BMG differentiable steps.", **_KW)
L_STEPS = flags.DEFINE_integer("L", 2, "BMG target length.", **_KW)
HISTORY = flags.DEFINE_integer(
    "context_history", 20, "H: updates of statistics in the context.", **_KW)
VARIANT = flags.DEFINE_string(
    "variant", "", "Label of the run (default from method, context and "
    "initial weight; launch.sweep passes the cell name).", **_KW)
OUTER_ENTROPY = flags.DEFINE_float(
    "outer_entropy_weight", 0.0, "Entropy weight of the outer objective: "
    "MG's, and BMG's target steps with --target_mode=outer.", **_KW)
CONTEXT_PRETRAIN = flags.DEFINE_bool(
    "context_pretrain", False, "Pre-train the context MLP from a random "
    "start to --entropy_weight on U[-1, 1] contexts (Luketina et al.; "
    "otherwise its output layer starts at zero).", **_KW)
TARGET_MODE = flags.DEFINE_string(
    "target_mode", "bootstrap", f"BMG: match to the target or to its "
    f"average-velocity point: {TARGET_MODES}.", **_KW)
KL_REDUCTION = flags.DEFINE_string(
    "kl_reduction", "mean", f"BMG's KL over the rollout's steps: "
    f"{KL_REDUCTIONS} (sum: ×T the meta-gradient).", **_KW)
flags.adopt_module_key_flags(common_flags)  # --help lists the shared flags.

#: Arm switch period of the registered SwitchingBandit (per environment).
SWITCH_PERIOD = 2_000
_TASK = "SwitchingBandit"
_DISCOUNT = 0.0  # A bandit: the advantage is r - v.


def _context_kwargs(context: str) -> dict[str, Any]:
  """ActorCriticConfig fields for a context kind."""
  if context == "none":
    return {}
  return {"context": True, "context_stats": context}


@dataclasses.dataclass(frozen=True, kw_only=True)
class BanditConfig:
  """A V5 run: the agent, how it runs, and its variant label.

  Attributes:
    agent: the actor-critic config (task ``SwitchingBandit``, MLP core).
    settings: seeds, run directory, logging, resume.
    variant: the label RESULTS.md groups seeds by (``bmg-rich``, ...).
  """

  agent: ActorCriticConfig
  settings: RunSettings
  variant: str

  def __post_init__(self):
    if self.agent.task != _TASK:
      raise ValueError(f"The bandit launcher runs task {_TASK!r}, got "
                       f"{self.agent.task!r}.")
    if not self.variant:
      raise ValueError("variant must be a non-empty label.")


def make_agent_config(*, method: str, context: str, steps: int,
                      num_envs: int = 8, unroll_length: int = 8,
                      width: int = 32, learning_rate: float = 1e-2,
                      optimizer: str = "adam", max_grad_norm: float = 1.0,
                      entropy_weight: float = 0.1,
                      meta_learning_rate: float = 1e-3, K: int = 1,
                      L: int = 2, context_history: int = 20,
                      outer_entropy_weight: float = 0.0,
                      context_pretrain: bool = False,
                      target_mode: str = "bootstrap",
                      kl_reduction: str = "mean") -> ActorCriticConfig:
  """The agent of one variant, sized to about ``steps`` environment steps.

  Raises:
    ValueError: unknown method or context, context with a fixed entropy
      weight, or a non-positive budget; the message lists valid choices.
  """
  if method not in METHODS:
    raise ValueError(f"Unknown method {method!r}; valid: {METHODS}.")
  if context not in CONTEXTS:
    raise ValueError(f"Unknown context {context!r}; valid: {CONTEXTS}.")
  if error := flag_checks.fixed_context_error(method, context):
    raise ValueError(error)
  if steps < 1:
    raise ValueError(f"--steps must be >= 1, got {steps}.")
  learned = () if method == "fixed" else ("entropy_weight",)
  agent = ActorCriticConfig(
      task=_TASK, core="mlp", width=width, num_envs=num_envs,
      unroll_length=unroll_length, learning_rate=learning_rate,
      optimizer=optimizer, max_grad_norm=max_grad_norm, discount=_DISCOUNT,
      lambda_=0.0, entropy_weight=entropy_weight,
      learned=learned, method="none" if method == "fixed" else method,
      K=K, L=L if method == "bmg" else 1,
      meta_learning_rate=meta_learning_rate, outer_discount=_DISCOUNT,
      outer_lambda=0.0, outer_entropy_weight=outer_entropy_weight,
      context_history=context_history, context_pretrain=context_pretrain,
      target_mode=target_mode, kl_reduction=kl_reduction,
      **_context_kwargs(context))
  per = agent.rollouts_per_iteration * unroll_length * num_envs
  return dataclasses.replace(agent, num_updates=max(1, steps // per))


def variant_label(*, method: str, context: str,
                  entropy_weight: float) -> str:
  """``fixed-ent0.01``, ``bmg-none``, ``mg-reward``, ``bmg-rich-init0.5``.

  A learned entropy weight starting elsewhere than the flag's default
  (0.1) carries its initial value in the label.
  """
  if method == "fixed":
    return f"fixed-ent{entropy_weight:g}"
  label = f"{method}-{context}"
  if entropy_weight != ENTROPY_WEIGHT.default:
    label += f"-init{entropy_weight:g}"
  return label


def build_config() -> BanditConfig:
  """Reads the flags into a validated :class:`BanditConfig` (no compute)."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  method, context = METHOD.value, CONTEXT.value
  agent = make_agent_config(
      method=method, context=context, steps=STEPS.value,
      num_envs=NUM_ENVS.value, unroll_length=UNROLL.value,
      width=WIDTH.value, learning_rate=LEARNING_RATE.value,
      optimizer=OPTIMIZER.value, max_grad_norm=MAX_GRAD_NORM.value,
      entropy_weight=ENTROPY_WEIGHT.value,
      meta_learning_rate=META_LEARNING_RATE.value, K=K_STEPS.value,
      L=L_STEPS.value, context_history=HISTORY.value,
      outer_entropy_weight=OUTER_ENTROPY.value,
      context_pretrain=CONTEXT_PRETRAIN.value,
      target_mode=TARGET_MODE.value, kl_reduction=KL_REDUCTION.value)
  return BanditConfig(
      agent=agent, settings=common_flags.run_settings(),
      variant=VARIANT.value or variant_label(
          method=method, context=context,
          entropy_weight=ENTROPY_WEIGHT.value))


def reporting(config: BanditConfig) -> Reporting:
  """Reward per step; switches every ``P × num_envs`` environment steps."""
  return Reporting(return_key="reward_mean", return_label="reward per step",
                   switch_every=SWITCH_PERIOD * config.agent.num_envs)


def run(*, config: BanditConfig) -> dict[str, Any]:
  """Trains every seed of ``config`` into its run directory.

  Returns:
    The summary of :func:`launch.actor_critic.run_experiment` (per-seed
    final and lifetime reward per step, env steps, wall time, machine).
  """
  return run_experiment(
      experiment="bandit", agent=config.agent, settings=config.settings,
      reporting=reporting(config),
      extra={"variant": config.variant, "switch_period": SWITCH_PERIOD})


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators()
  flag_checks.one_of("method", METHODS)
  flag_checks.one_of("context", CONTEXTS)
  # Flags the chosen method or context ignores first: their message says why.
  flag_checks.refuse_unless(
      ["meta_learning_rate", "K", "outer_entropy_weight"], flag="method",
      values=("mg", "bmg"), why="a fixed entropy weight is not "
      "meta-learned.")
  flag_checks.one_of("optimizer", OPTIMIZERS)
  flag_checks.at_least(0, "max_grad_norm")
  flag_checks.one_of("target_mode", TARGET_MODES)
  flag_checks.one_of("kl_reduction", KL_REDUCTIONS)
  flag_checks.refuse_unless(["L", "target_mode", "kl_reduction"],
                            flag="method",
                            values=("bmg",),
                            why="only BMG has a target.")
  flag_checks.refuse_unless(["context_history", "context_pretrain"],
                            flag="context",
                            values=("reward", "rich"),
                            why="there is no context.")
  flag_checks.at_least(1, "steps", "num_envs", "unroll_length", "width",
                       "K", "L", "context_history")
  flag_checks.greater_than(0, "learning_rate", "meta_learning_rate")
  flag_checks.at_least(0, "entropy_weight", "outer_entropy_weight")
  flag_checks.fixed_has_no_context()
  flag_checks.rule(["method", "entropy_weight"], lambda v: (
      "a meta-learned entropy weight starts in (0, 1) (a sigmoid)."
      if v["method"] != "fixed" and not 0 < v["entropy_weight"] < 1
      else None))


def main(argv):
  """Runs V5 from the flags and prints where the results are."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  common_flags.quiet_logging()
  common_flags.initialize_distributed()
  config = build_config()
  summary = run(config=config)
  print_outputs(summary, headline=f"variant {config.variant}: final reward/"
                f"step {summary['final']}, lifetime {summary['lifetime']}")


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


if __name__ == "__main__":
  register_validators()
  app.run(main)
