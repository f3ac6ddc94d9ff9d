r"""Two-Colors (validation V1): fixed entropy vs MG vs BMG, × context.

An actor-critic agent (A2C loss, one stream of the non-stationary 5×5
Two-Colors grid world, rollouts of 16 steps) whose entropy weight is fixed,
or meta-learned by MG (outer loss: policy gradient + 0.1 entropy after
``K = 1`` step) or by BMG (KL matching to a target ``L = 8`` steps ahead),
either as one scalar (``--context=none``) or as ``g_ω(c)`` of a context:
the history (H = 10 updates) of the rollout-mean reward (``reward``) or of
reward, value and TD-error mean and std (``rich``), tanh-normalised, through
a 2 × 64 ReLU MLP with a sigmoid output. Every rollout trains the learner
once, for every method (:mod:`agents.actor_critic.online`).

The defaults are the papers' learner (Luketina et al., Table 3: SGD 0.1
without clipping, separate policy and value MLPs of 2 × 256) and MG with a
reward context, meta-Adam 3e-4 (eps 1e-4), starting at 0.1: the best
meta-learner of the 1M-step screening (see results/notes/two_colors.md).
The project's earlier learner is ``--optimizer=adam --learning_rate=1e-3
--max_grad_norm=1 --noseparate_networks --width=64``.

The reported "return" is ``reward_mean``: the reward per environment step,
averaged over each log interval (the task is one stream without episodes);
``lifetime`` in ``summary.json`` is its mean over the run, so the paper's
lifetime total return is ``lifetime × env_steps``. The meta-parameter plot
marks the colour swaps (every ``--swap_period`` steps) as dashed lines.

Default (README command 1): one seed, 300k steps (3 swaps), about two
minutes on a 2-core CPU; the learned weight rises from 0.10 to 0.28 right
after the swaps at 100k and 200k and falls to 0.03-0.10 before the next
(lifetime reward 0.11 per step)::

  python -m launch.run_two_colors --run_dir=/tmp/two_colors

A screening sweep at equal budgets (one run directory per cell)::

  python -m launch.sweep --launcher=run_two_colors --root=runs/sweep \
      --common="--steps=1000000 --num_seeds=2" \
      --grid="method=fixed context=none entropy_weight=0,0.05,0.1,0.2,0.4" \
      --grid="method=mg,bmg context=reward meta_learning_rate=3e-4,1e-3"

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from absl import app, flags

import tasks
from agents.actor_critic.config import (
  CONTINUE_FROM,
  KL_REDUCTIONS,
  OPTIMIZERS,
  TARGET_MODES,
  TARGET_STEPS,
  ActorCriticConfig,
)
from agents.cores import CORE_NAMES
from launch import common_flags, flag_checks
from launch.actor_critic import Reporting, print_outputs, run_experiment
from launch.loop import RunSettings
from tasks.two_colors import TwoColors

__all__ = ["CONTEXTS", "EXPERIMENT", "METHODS", "RESULTS_LEARNER",
           "TwoColorsConfig",
           "build_config", "main", "make_config", "register_validators",
           "run", "task_name"]

EXPERIMENT = "two_colors"
METHODS: tuple[str, ...] = ("fixed", "mg", "bmg")
CONTEXTS: tuple[str, ...] = ("none", "reward", "rich")
_KW = dict(allow_override=True)
flags.adopt_module_key_flags(common_flags)  # --help lists the shared flags.
_PAPER_SWAP_PERIOD = 100_000  # The registered "TwoColors" task's period.
_LOG_ENV_STEPS = 5_000  # Default log interval, environment steps.
_CHECKPOINT_ENV_STEPS = 200_000  # Default checkpoint interval.
#: The papers' learner (Luketina et al., Table 3): make_config's defaults.
_PAPER_LEARNER = dict(optimizer="sgd", max_grad_norm=0.0,
                      separate_networks=True)
#: The learner of the issue-12 Two-Colors results: the papers' with
#: global-norm clipping at 1 (``--max_grad_norm=1``), as
#: :class:`ActorCriticConfig` fields. The bench scripts time and probe it.
RESULTS_LEARNER = dict(optimizer="sgd", learning_rate=0.1, max_grad_norm=1.0,
                       separate_networks=True, width=256)

METHOD = flags.DEFINE_string(
    "method", "mg", f"Entropy weight: {METHODS}.", **_KW)
CONTEXT = flags.DEFINE_string(
    "context", "reward", f"Context of the meta-learned weight: {CONTEXTS}.",
    **_KW)
CORE = flags.DEFINE_string("core", "mlp", f"Core: {CORE_NAMES}.", **_KW)
STEPS = flags.DEFINE_integer(
    "steps", 300_000, "Environment steps per seed (rounded up to whole "
    "iterations).", **_KW)
SWAP_PERIOD = flags.DEFINE_integer(
    "swap_period", _PAPER_SWAP_PERIOD, "Steps between colour swaps.", **_KW)
NUM_ENVS = flags.DEFINE_integer(
    "num_envs", 1, "Parallel streams (the papers: 1).", **_KW)
UNROLL = flags.DEFINE_integer("unroll_length", 16, "Rollout length.", **_KW)
WIDTH = flags.DEFINE_integer(
    "width", 256, "Network width (the papers: 256).", **_KW)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 0.1, "Inner step size (the papers: SGD 0.1).", **_KW)
OPTIMIZER = flags.DEFINE_string(
    "optimizer", "sgd", f"Inner update rule: {OPTIMIZERS} (the papers: "
    "sgd, learning rate 0.1, no clipping).", **_KW)
MAX_GRAD_NORM = flags.DEFINE_float(
    "max_grad_norm", 0.0, "Inner global-norm gradient clipping (0: none).",
    **_KW)
SEPARATE = flags.DEFINE_bool(
    "separate_networks", True, "Separate policy and value MLPs of two "
    "hidden layers of --width (the papers: 2 x 256); with --core=mlp only "
    "(other cores share a torso unless this flag is given).",
    **_KW)
TARGET_STEP = flags.DEFINE_string(
    "target_step", "inner", f"BMG's final target step: {TARGET_STEPS} "
    "(inner: the inner rule with the learner's state).", **_KW)
TARGET_STEP_SIZE = flags.DEFINE_float(
    "target_step_size", 1.0, "Step size of the sgd / rmsprop target step.",
    **_KW)
TARGET_MODE = flags.DEFINE_string(
    "target_mode", "bootstrap", f"BMG: match to the target or to its "
    f"average-velocity point, or build it with the outer objective's "
    f"rule along the learner's path: {TARGET_MODES}.", **_KW)
KL_REDUCTION = flags.DEFINE_string(
    "kl_reduction", "mean", f"BMG's KL over time: {KL_REDUCTIONS}.", **_KW)
CONTINUE_FROM_FLAG = flags.DEFINE_string(
    "continue_from", "K+L-1", f"BMG: where the learner continues, "
    f"{CONTINUE_FROM}.", **_KW)
META_GRAD_CLIP = flags.DEFINE_float(
    "meta_grad_clip", 0.0, "Global-norm clipping of the meta-gradient "
    "(0: none).", **_KW)
META_EPS = flags.DEFINE_float(
    "meta_eps", 1e-4, "Meta-Adam epsilon (the papers: 1e-4).", **_KW)
CONTEXT_PRETRAIN = flags.DEFINE_bool(
    "context_pretrain", False, "Pre-train the context MLP from a random "
    "start to the initial value on U[-1, 1] contexts (the papers).", **_KW)
ENTROPY = flags.DEFINE_float(
    "entropy_weight", 0.1, "Fixed entropy weight (--method=fixed).", **_KW)
INITIAL_ENTROPY = flags.DEFINE_float(
    "initial_entropy_weight", 0.1, "Starting value of a meta-learned "
    "entropy weight (the papers: 0.5; see the module docstring).", **_KW)
K_STEPS = flags.DEFINE_integer("K", 1, "Differentiable inner steps.", **_KW)
L_STEPS = flags.DEFINE_integer("L", 8, "BMG target length.", **_KW)
META_LR = flags.DEFINE_float(
    "meta_learning_rate", 3e-4, "Meta-Adam step size (eps 1e-4); see the "
    "module docstring for why not the paper's 1e-4.", **_KW)
OUTER_ENTROPY = flags.DEFINE_float(
    "outer_entropy_weight", 0.1, "Entropy weight of the outer objective: "
    "MG's, and BMG's target rule with --target_mode=outer (other BMG "
    "targets: 0).",
    **_KW)
HISTORY = flags.DEFINE_integer(
    "context_history", 10, "H, updates in the context.", **_KW)
HIDDEN = flags.DEFINE_integer(
    "context_hidden", 64, "Width of the 2-layer context MLP.", **_KW)
LAMBDA = flags.DEFINE_float(
    "lambda_", 1.0, "λ of the learner's λ-returns (1: the 16-step "
    "bootstrapped return; 0: the one-step TD target of the public "
    "re-implementations).", **_KW)
VALUE_WEIGHT = flags.DEFINE_float(
    "value_weight", 0.5, "Weight of the critic loss 0.5 (G - v)^2.", **_KW)
VARIANT = flags.DEFINE_string(
    "variant", "", "Label of the run (default <method>-<context>).", **_KW)


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
  if value not in valid:
    raise ValueError(f"Unknown {name} {value!r}; valid choices: {valid}.")


def task_name(swap_period: int) -> str:
  """The registered Two-Colors task with this swap period.

  ``"TwoColors"`` for the paper's 100k; other periods are registered on
  first use as ``"TwoColors-swap<period>"``.

  Raises:
    ValueError: if ``swap_period < 1``.
  """
  if swap_period < 1:
    raise ValueError(f"swap_period must be >= 1, got {swap_period}.")
  if swap_period == _PAPER_SWAP_PERIOD:
    return "TwoColors"
  name = f"TwoColors-swap{swap_period}"
  if name not in tasks.registered():
    tasks.register(name, lambda **kw: TwoColors(
        swap_period=swap_period, **kw))
  return name


@dataclasses.dataclass(frozen=True, kw_only=True)
class TwoColorsConfig:
  """A Two-Colors run: the agent, how it runs, and its label.

  Attributes:
    agent: the actor-critic config (task, method, context, ...).
    settings: seeds, run directory, logging, checkpoints, resume.
    variant: label of the run in RESULTS.md (e.g. ``"bmg-reward"``).
    swap_period: steps between colour swaps (marks in the plots).
  """

  agent: ActorCriticConfig
  settings: RunSettings
  variant: str
  swap_period: int


def _agent_config(*, method: str, context: str, steps: int,
                  **kw: Any) -> ActorCriticConfig:
  """The agent of one variant, sized to at least ``steps`` env steps."""
  if method == "fixed":
    kw.pop("initial_entropy_weight")
    base = dict(kw, method="none", num_updates=1)
  else:
    learned = dict(method=method, learned=("entropy_weight",),
                   entropy_weight=kw.pop("initial_entropy_weight"),
                   context=context != "none",
                   context_stats="rich" if context == "none" else context)
    if method == "bmg" and kw.get("target_mode") != "outer":
      learned["outer_entropy_weight"] = 0.0  # The target has no entropy.
    base = dict(kw, **learned, num_updates=1)
  sized = ActorCriticConfig(**base)
  per_iteration = sized.env_steps
  return dataclasses.replace(sized,
                             num_updates=math.ceil(steps / per_iteration))


def make_config(*, method: str = "mg", context: str = "reward",
                core: str = "mlp", steps: int = 300_000,
                swap_period: int = _PAPER_SWAP_PERIOD, num_envs: int = 1,
                unroll_length: int = 16, width: int = 256,
                learning_rate: float = 0.1, entropy_weight: float = 0.1,
                initial_entropy_weight: float = 0.1, K: int = 1, L: int = 8,
                meta_learning_rate: float = 3e-4,
                outer_entropy_weight: float = 0.1, context_history: int = 10,
                context_hidden: int = 64, variant: str = "",
                settings: RunSettings | None = None,
                **options: Any) -> TwoColorsConfig:
  """A validated :class:`TwoColorsConfig` (see the flags for each field).

  ``options`` are further :class:`ActorCriticConfig` fields (``optimizer``,
  ``max_grad_norm``, ``separate_networks``, ``target_step``, ...); the
  learner defaults to the papers' (SGD 0.1 without clipping, separate
  policy and value MLPs), as the flags do.

  Raises:
    ValueError: for an unknown method, context or core, a context with the
      fixed method, or a non-positive size; the message lists valid choices.
  """
  _check_choice("method", method, METHODS)
  _check_choice("context", context, CONTEXTS)
  _check_choice("core", core, CORE_NAMES)
  if error := flag_checks.fixed_context_error(method, context):
    raise ValueError(error)
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  agent = _agent_config(
      method=method, context=context, steps=steps,
      task=task_name(swap_period), core=core, width=width,
      num_envs=num_envs, unroll_length=unroll_length,
      learning_rate=learning_rate, entropy_weight=entropy_weight,
      initial_entropy_weight=initial_entropy_weight, K=K, L=L,
      meta_learning_rate=meta_learning_rate,
      outer_entropy_weight=outer_entropy_weight,
      context_history=context_history, context_hidden=context_hidden,
      discount=0.99, outer_discount=0.99,
      **{**_PAPER_LEARNER, "lambda_": 1.0, "outer_lambda": 1.0,
         "separate_networks": core == "mlp", **options})
  if not variant:
    variant = "fixed" if method == "fixed" else f"{method}-{context}"
  return TwoColorsConfig(agent=agent, settings=settings or RunSettings(),
                         variant=variant,
                         swap_period=swap_period)


def build_config() -> TwoColorsConfig:
  """Reads the flags into a validated :class:`TwoColorsConfig`."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  config = make_config(
      method=METHOD.value, context=CONTEXT.value, core=CORE.value,
      steps=STEPS.value, swap_period=SWAP_PERIOD.value,
      num_envs=NUM_ENVS.value, unroll_length=UNROLL.value,
      width=WIDTH.value, learning_rate=LEARNING_RATE.value,
      entropy_weight=ENTROPY.value,
      initial_entropy_weight=INITIAL_ENTROPY.value, K=K_STEPS.value,
      L=L_STEPS.value, meta_learning_rate=META_LR.value,
      outer_entropy_weight=OUTER_ENTROPY.value,
      context_history=HISTORY.value, context_hidden=HIDDEN.value,
      variant=VARIANT.value, settings=common_flags.run_settings(),
      optimizer=OPTIMIZER.value, max_grad_norm=MAX_GRAD_NORM.value,
      separate_networks=SEPARATE.value and (
          CORE.value == "mlp" or flags.FLAGS["separate_networks"].present),
      target_step=TARGET_STEP.value,
      target_step_size=TARGET_STEP_SIZE.value,
      target_mode=TARGET_MODE.value,
      kl_reduction=KL_REDUCTION.value,
      continue_from=CONTINUE_FROM_FLAG.value,
      meta_grad_clip=META_GRAD_CLIP.value, meta_eps=META_EPS.value,
      context_pretrain=CONTEXT_PRETRAIN.value,
      lambda_=LAMBDA.value, outer_lambda=LAMBDA.value,
      value_weight=VALUE_WEIGHT.value)
  return dataclasses.replace(
      config, settings=common_flags.default_intervals(
          config.settings,
          env_steps_per_iteration=(config.agent.env_steps
                                   // config.agent.num_updates),
          log_env_steps=_LOG_ENV_STEPS,
          checkpoint_env_steps=_CHECKPOINT_ENV_STEPS))


def run(*, config: TwoColorsConfig) -> dict[str, Any]:
  """Trains the variant into its run directory.

  Args:
    config: from :func:`make_config` or :func:`build_config`.

  Returns:
    The summary of :func:`launch.actor_critic.run_experiment` (``final``
    and ``lifetime`` reward per step for each seed, ``env_steps``, ...).
  """
  reporting = Reporting(return_key="reward_mean",
                        return_label="reward per step",
                        switch_every=config.swap_period)
  return run_experiment(
      experiment=EXPERIMENT, agent=config.agent, settings=config.settings,
      reporting=reporting,
      extra={"variant": config.variant, "swap_period": config.swap_period,
             "return": "reward per environment step"})


def main(argv):
  """Runs the flags' variant and prints where its outputs are."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  common_flags.quiet_logging()
  common_flags.initialize_distributed()
  config = build_config()
  summary = run(config=config)
  lifetime = sum(summary["lifetime"]) / len(summary["lifetime"])
  print_outputs(summary, headline=(
      f"{config.variant}: lifetime reward per step {lifetime:.4f} over "
      f"{summary['env_steps']} steps x {config.settings.num_seeds} seed(s) "
      f"in {summary['wall_s']:.0f} s"))


def _bmg_outer_entropy_error(values) -> str | None:
  """BMG reads --outer_entropy_weight only with --target_mode=outer."""
  if (values["method"] == "bmg" and values["target_mode"] != "outer"
      and flags.FLAGS["outer_entropy_weight"].present):
    return ("--outer_entropy_weight is used by BMG only with "
            "--target_mode=outer (its other targets have no entropy term).")
  return None


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators()
  for name, valid in [("method", METHODS), ("context", CONTEXTS),
                      ("core", CORE_NAMES), ("optimizer", OPTIMIZERS),
                      ("target_step", TARGET_STEPS),
                      ("target_mode", TARGET_MODES),
                      ("kl_reduction", KL_REDUCTIONS),
                      ("continue_from", CONTINUE_FROM)]:
    flag_checks.one_of(name, valid)
  # Flags the chosen method or context ignores first: their message says why.
  flag_checks.refuse_unless(
      ["entropy_weight"], flag="method", values=("fixed",),
      why="a meta-learned weight starts at --initial_entropy_weight.")
  flag_checks.refuse_unless(
      ["initial_entropy_weight", "meta_learning_rate", "meta_eps",
       "meta_grad_clip", "K"], flag="method", values=("mg", "bmg"),
      why="a fixed entropy weight is not meta-learned.")
  flag_checks.refuse_unless(
      ["outer_entropy_weight"], flag="method", values=("mg", "bmg"),
      why="a fixed entropy weight has no outer objective.")
  flag_checks.rule(["method", "target_mode", "outer_entropy_weight"],
                   _bmg_outer_entropy_error)
  flag_checks.refuse_unless(
      ["L", "target_step", "target_step_size", "target_mode",
       "kl_reduction", "continue_from"], flag="method", values=("bmg",),
      why="only BMG has a target.")
  flag_checks.refuse_unless(
      ["context_history", "context_hidden", "context_pretrain"],
      flag="context", values=("reward", "rich"), why="there is no context.")
  flag_checks.at_least(1, "steps", "swap_period", "num_envs",
                       "unroll_length", "width", "K", "L",
                       "context_history", "context_hidden")
  flag_checks.greater_than(0, "learning_rate", "meta_learning_rate",
                           "meta_eps", "target_step_size")
  flag_checks.at_least(0, "max_grad_norm", "meta_grad_clip",
                       "entropy_weight", "outer_entropy_weight",
                       "value_weight")
  flag_checks.within("lambda_", 0, 1)
  flag_checks.within("initial_entropy_weight", 0, 1, closed="()",
                     why=" (a sigmoid)")
  flag_checks.fixed_has_no_context()
  flag_checks.rule(["core", "separate_networks"], lambda v: (
      "separate policy and value networks are MLPs: they need --core=mlp."
      if flags.FLAGS["separate_networks"].present and v["separate_networks"]
      and v["core"] != "mlp" else None))


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


if __name__ == "__main__":
  register_validators()
  app.run(main)
