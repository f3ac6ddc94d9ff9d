r"""Q(λ) with a fixed or BMG-meta-learned ε (validation V1, Q-learning).

Peng's Q(λ) (λ = 0.9, γ = 0.99, a 2 × 256 ReLU MLP, Adam with ε = 1e-4) on
one stream of Two-Colors, the Switching MDPs or V5's switching bandit
(``--task=SwitchingBandit``, best arm changing every 2,000 steps; use
``--discount=0`` there), acting ε-greedily with ε
fixed (``--method=fixed``) or meta-learned by update-free BMG (``K = 0``,
``--method=bmg``): the KL from the greedy policy of a target ``L`` learner
updates ahead to the current ε-greedy policy (Luketina et al., A.1). ε is
one learned scalar (``--context=none``) or ``g_ω(sg(c))`` of a 2 × 128 MLP
of the per-step history (H = 100) of the reward (``reward``) or of the
reward, ``q(s, a)`` and TD error (``rich``), tanh-normalised. The learner
updates once per rollout of ``--unroll_length`` steps (see
:mod:`agents.q_lambda`); BMG's target steps are the learner's own updates,
so both agents take the same number of updates per environment step.

The reported return is ``reward_mean``, the reward per environment step
averaged over each log interval; ``lifetime`` in ``summary.json`` is its
mean over the run (the paper's lifetime total return is ``lifetime ×
env_steps``). ``summary.json`` also has, for a meta-learned ε, the mean ε
over the first 10% of each period after a swap and over the last 10%
before the next swap (``epsilon_after_swap`` / ``epsilon_before_swap``).

Smoke size (seconds)::

  python -m launch.run_q_lambda --steps=20000 --run_dir=/tmp/q_lambda

Screening cell (1M steps, 2 seeds as one vmapped program)::

  python -m launch.run_q_lambda --method=bmg --context=reward --L=16 \
      --meta_learning_rate=1e-3 --steps=1000000 --num_seeds=2 \
      --run_dir=/work/runs/q_lambda/bmg-reward

Measured on Two-Colors (``results/q_lambda/README.md``; lifetime reward per
step, mean ± 95% CI, 2M steps × 5 seeds, base seed 10): BMG-reward (L = 16,
meta lr 1e-3, inner lr 1e-3) 0.0390 ± 0.0115, against the best fixed ε
0.0184 ± 0.0114 (ε = 0.5, lr 1e-3; ε = 0.3 at lr 3e-4: 0.0183 ± 0.0092):
2.12× (the 1M-step × 2-seed screening: 1.61×). The learned ε is ≈ 0.49
in the first 10% of each period after a swap and ≈ 0.31 before the next.
About 12k (BMG) to 18k (fixed) env steps/s over 5 vmapped seeds on 2
shared CPU cores.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from absl import app, flags

import tasks
from agents.q_lambda.config import CONTEXTS, METHODS, QLambdaConfig
from agents.q_lambda.training import init_state, iteration, make_agent
from launch import common_flags, flag_checks, plots
from launch.actor_critic import machine, print_outputs, summarize
from launch.loop import LoopSpec, RunSettings, run_loop
from launch.rundir import RunDir, config_to_json, default_run_dir
from tasks.bandits import SwitchingBandit
from tasks.switching_mdp import SwitchingMDP
from tasks.two_colors import TwoColors

__all__ = ["EXPERIMENT", "QLambdaRunConfig", "TASKS", "build_config",
           "default_period",
           "epsilon_around_swaps", "main", "make_config", "make_loop_spec",
           "register_validators", "run", "task_name"]

EXPERIMENT = "q_lambda"
TASKS: tuple[str, ...] = ("TwoColors", "SwitchingMDP", "SwitchingBandit")
_KW = dict(allow_override=True)
_PAPER_PERIOD = 100_000  # Swap / switch period of the registered tasks.
_PAPER_NUM_MDPS = 4
_BANDIT_PERIOD = 2_000  # V5's switching bandit (algorithms.md §7).
_LOG_ENV_STEPS = 5_000
_CHECKPOINT_ENV_STEPS = 250_000

TASK = flags.DEFINE_string("task", "TwoColors", f"Task: {TASKS}.", **_KW)
METHOD = flags.DEFINE_string("method", "bmg", f"ε: {METHODS}.", **_KW)
CONTEXT = flags.DEFINE_string(
    "context", "reward", f"Context of a meta-learned ε: {CONTEXTS}.", **_KW)
STEPS = flags.DEFINE_integer(
    "steps", 300_000, "Environment steps per seed (rounded up to whole "
    "iterations).", **_KW)
SWAP_PERIOD = flags.DEFINE_integer(
    "swap_period", None, f"Steps between colour swaps / MDP switches / "
    f"best-arm changes (default: {_PAPER_PERIOD:,}, the paper's; "
    f"{_BANDIT_PERIOD:,} on SwitchingBandit, V5's).", **_KW)
DISCOUNT = flags.DEFINE_float(
    "discount", 0.99, "γ of Q(λ) (the paper: 0.99; 0 makes a bandit's "
    "q(a) its mean reward).", **_KW)
NUM_MDPS = flags.DEFINE_integer(
    "num_mdps", _PAPER_NUM_MDPS, "SwitchingMDP: size of the MDP set (the "
    "paper: 4 or 1000).", **_KW)
NUM_ENVS = flags.DEFINE_integer(
    "num_envs", 1, "Parallel streams (the paper: 1).", **_KW)
UNROLL = flags.DEFINE_integer(
    "unroll_length", 16, "Steps per rollout = per learner update.", **_KW)
WIDTH = flags.DEFINE_integer("width", 256, "Q-network width.", **_KW)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 3e-4, "Inner Adam step size (eps 1e-4).", **_KW)
EPSILON = flags.DEFINE_float(
    "epsilon", 0.5, "Fixed ε, or the starting ε of a meta-learned one (the "
    "paper: 0.5).", **_KW)
L_STEPS = flags.DEFINE_integer(
    "L", 16, "BMG target length (learner updates per meta-step).", **_KW)
META_LR = flags.DEFINE_float(
    "meta_learning_rate", 1e-3, "Meta-Adam step size (eps 1e-4).", **_KW)
META_CLIP = flags.DEFINE_float(
    "meta_grad_clip", 0.0, "Global-norm clip of the meta-gradient (0: "
    "none).", **_KW)
HISTORY = flags.DEFINE_integer(
    "context_history", 100, "H, steps of statistics in the context.", **_KW)
HIDDEN = flags.DEFINE_integer(
    "context_hidden", 128, "Width of the 2-layer context MLP.", **_KW)
VARIANT = flags.DEFINE_string(
    "variant", "", "Label of the run (default <method>-<context>).", **_KW)
# --help lists the shared flags this launcher honours (it has no sharded
# placement: the multi-device and multi-host flags are refused).
for _name in common_flags.SHARED:
  if _name not in common_flags.MULTI_HOST:
    flags.declare_key_flag(_name)
del _name


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
  if value not in valid:
    raise ValueError(f"Unknown {name} {value!r}; valid choices: {valid}.")


def default_period(task: str) -> int:
  """The swap / switch period of ``task`` when none is given: the paper's
  100,000 steps, or 2,000 on ``"SwitchingBandit"`` (V5)."""
  return _BANDIT_PERIOD if task == "SwitchingBandit" else _PAPER_PERIOD


def _task_factory(task: str, period: int, num_mdps: int):
  """``(name, factory)`` of a task with this period (and MDP set size)."""
  if task == "TwoColors":
    return f"TwoColors-swap{period}", lambda **kw: TwoColors(
        swap_period=period, **kw)
  if task == "SwitchingBandit":
    return f"SwitchingBandit-swap{period}", lambda **kw: SwitchingBandit(
        switch_period=period, **kw)
  return f"SwitchingMDP-n{num_mdps}-swap{period}", (
      lambda **kw: SwitchingMDP(num_mdps=num_mdps, switch_period=period,
                                **kw))


def task_name(task: str, *, period: int | None = None,
              num_mdps: int = _PAPER_NUM_MDPS) -> str:
  """The registered task with this period (and MDP set size).

  The default settings are the registered ``"TwoColors"``,
  ``"SwitchingMDP"`` and ``"SwitchingBandit"`` (period
  :func:`default_period`); others are registered on first use as
  ``"TwoColors-swap<P>"``, ``"SwitchingMDP-n<N>-swap<P>"`` and
  ``"SwitchingBandit-swap<P>"``.

  Raises:
    ValueError: for an unknown task, ``period < 1`` or ``num_mdps < 1``.
  """
  _check_choice("task", task, TASKS)
  period = default_period(task) if period is None else period
  if period < 1:
    raise ValueError(f"swap_period must be >= 1, got {period}.")
  if num_mdps < 1:
    raise ValueError(f"num_mdps must be >= 1, got {num_mdps}.")
  if period == default_period(task) and (
      task != "SwitchingMDP" or num_mdps == _PAPER_NUM_MDPS):
    return task
  name, factory = _task_factory(task, period, num_mdps)
  if name not in tasks.registered():
    tasks.register(name, factory)
  return name


@dataclasses.dataclass(frozen=True, kw_only=True)
class QLambdaRunConfig:
  """A Q(λ) run: the agent, how it runs, its label and the swap period."""

  agent: QLambdaConfig
  settings: RunSettings
  variant: str
  swap_period: int


def make_config(*, task: str = "TwoColors", method: str = "bmg",
                context: str = "reward", steps: int = 300_000,
                swap_period: int | None = None,
                num_mdps: int = _PAPER_NUM_MDPS, num_envs: int = 1,
                unroll_length: int = 16, width: int = 256,
                learning_rate: float = 3e-4, epsilon: float = 0.5,
                L: int = 16, meta_learning_rate: float = 1e-3,
                meta_grad_clip: float = 0.0, context_history: int = 100,
                context_hidden: int = 128, discount: float = 0.99,
                variant: str = "",
                settings: RunSettings | None = None) -> QLambdaRunConfig:
  """A validated :class:`QLambdaRunConfig` (see the flags for each field;
  ``swap_period=None``: :func:`default_period` of the task).

  Raises:
    ValueError: for an unknown task, method or context, a context with a
      fixed ε, or a bad size; the message names the valid choices.
  """
  _check_choice("method", method, METHODS)
  _check_choice("context", context, CONTEXTS)
  if method == "fixed" and context != "none":
    raise ValueError(
        f"--method=fixed has no meta-parameters, so no context; use "
        f"--context=none, or --method=bmg with context {context!r}.")
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  name = task_name(task, period=swap_period, num_mdps=num_mdps)
  if swap_period is None:
    swap_period = default_period(task)
  agent = QLambdaConfig(
      task=name, method=method, context=context, num_envs=num_envs,
      unroll_length=unroll_length, width=width, learning_rate=learning_rate,
      epsilon=epsilon, L=L, meta_learning_rate=meta_learning_rate,
      meta_grad_clip=meta_grad_clip, context_history=context_history,
      context_hidden=context_hidden, discount=discount, num_updates=1)
  agent = dataclasses.replace(
      agent, num_updates=math.ceil(steps / agent.env_steps))
  if not variant:
    variant = "fixed" if method == "fixed" else f"bmg-{context}"
  return QLambdaRunConfig(agent=agent, settings=settings or RunSettings(),
                          variant=variant, swap_period=swap_period)


def build_config() -> QLambdaRunConfig:
  """Reads the flags into a validated :class:`QLambdaRunConfig`."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  config = make_config(
      task=TASK.value, method=METHOD.value, context=CONTEXT.value,
      steps=STEPS.value, swap_period=SWAP_PERIOD.value,
      num_mdps=NUM_MDPS.value, num_envs=NUM_ENVS.value,
      unroll_length=UNROLL.value, width=WIDTH.value,
      learning_rate=LEARNING_RATE.value, epsilon=EPSILON.value,
      L=L_STEPS.value, meta_learning_rate=META_LR.value,
      meta_grad_clip=META_CLIP.value, context_history=HISTORY.value,
      context_hidden=HIDDEN.value, discount=DISCOUNT.value,
      variant=VARIANT.value, settings=common_flags.run_settings())
  return dataclasses.replace(
      config, settings=common_flags.default_intervals(
          config.settings,
          env_steps_per_iteration=(config.agent.env_steps
                                   // config.agent.num_updates),
          log_env_steps=_LOG_ENV_STEPS,
          checkpoint_env_steps=_CHECKPOINT_ENV_STEPS))


def make_loop_spec(agent_config: QLambdaConfig) -> LoopSpec:
  """The vmapped-seed init and chunk functions of an agent config."""
  agent = make_agent(agent_config)
  step = jax.vmap(lambda s: iteration(agent, s))

  def init(keys):
    return jax.vmap(lambda k: init_state(k, agent))(keys)

  def chunk(state, n):
    state, metrics = jax.lax.scan(lambda s, _: step(s), state, None,
                                  length=n)
    return state, jax.tree.map(lambda m: m.T, metrics)  # [n, S] -> [S, n]

  return LoopSpec(init=init, chunk=chunk,
                  num_iterations=agent_config.num_updates,
                  env_steps_per_iteration=(agent_config.env_steps
                                           // agent_config.num_updates),
                  progress_key="reward_mean")


def epsilon_around_swaps(rows: Sequence[Mapping[str, Any]], *, period: int,
                         fraction: float = 0.1) -> dict[str, list[float]]:
  """Per-seed mean ε in the first / last ``fraction`` of swap periods.

  ``after``: log rows ending in ``(kP, kP + fraction·P]`` for swaps
  ``k ≥ 1``; ``before``: rows ending in ``((k+1)P − fraction·P, (k+1)P]``
  of the same periods (the last 10% before the next swap). NaN when the
  run has no full period after a swap.
  """
  steps, values = plots.series(rows, "hp/epsilon")
  if not len(steps):
    return {"after": [], "before": []}
  k = np.floor((steps - 1) / period)  # Period a row's interval ends in.
  offset = steps - k * period
  full = (k >= 1) & ((k + 1) * period <= steps[-1])
  after = full & (offset <= fraction * period)
  before = full & (offset > (1 - fraction) * period)

  def mean(mask):
    if not mask.any():
      return [float("nan")] * values.shape[0]
    return np.nanmean(values[:, mask], axis=1).tolist()

  return {"after": mean(after), "before": mean(before)}


def run(*, config: QLambdaRunConfig) -> dict[str, Any]:
  """Trains the variant into its run directory and returns its summary.

  The summary has ``final`` and ``lifetime`` reward per step for each seed,
  ``env_steps`` (per seed), ``wall_s``, ``steps_per_s`` (all seeds), the
  last ``hp/epsilon`` and, for a meta-learned ε, ``epsilon_after_swap`` and
  ``epsilon_before_swap`` per seed.
  """
  settings, agent = config.settings, config.agent
  run_dir = settings.run_dir or default_run_dir(EXPERIMENT)
  saved = {"experiment": EXPERIMENT, "agent": config_to_json(agent),
           "run": settings.identity(),
           "extra": {"variant": config.variant,
                     "swap_period": config.swap_period,
                     "return": "reward per environment step"}}
  rundir = RunDir(run_dir, config=saved, resume=settings.resume)
  redraw = lambda r: plots.plot_run(  # noqa: E731
      str(r.path), return_key="reward_mean", return_label="reward per step",
      switch_every=config.swap_period)
  spec = dataclasses.replace(make_loop_spec(agent), on_checkpoint=redraw)
  try:
    _, wall = run_loop(spec, run=rundir, settings=settings)
    rows = rundir.rows
    last = [r for r in rows if r["iteration"] == rows[-1]["iteration"]]
    summary = {"run_dir": run_dir, "experiment": EXPERIMENT,
               "variant": config.variant, "return_key": "reward_mean",
               **summarize(rows, key="reward_mean"),
               "num_seeds": settings.num_seeds, "env_steps": agent.env_steps,
               "wall_s": wall,
               "steps_per_s": agent.env_steps * settings.num_seeds / wall,
               "machine": machine(),
               "hp/epsilon": float(np.mean([r["hp/epsilon"] for r in last]))}
    if agent.method == "bmg":
      around = epsilon_around_swaps(rows, period=config.swap_period)
      summary["epsilon_after_swap"] = around["after"]
      summary["epsilon_before_swap"] = around["before"]
    rundir.write_json("summary.json", summary)
  finally:
    rundir.close()
  return summary


def main(argv):
  """Runs the flags' variant and prints where its outputs are."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  common_flags.quiet_logging()
  config = build_config()
  summary = run(config=config)
  lifetime = float(np.mean(summary["lifetime"]))
  print_outputs(summary, headline=(
      f"{config.variant}: lifetime reward per step {lifetime:.4f} over "
      f"{summary['env_steps']} steps x {config.settings.num_seeds} seed(s) "
      f"in {summary['wall_s']:.0f} s ({summary['steps_per_s']:.0f} steps/s)"))


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators(
      ignored=common_flags.MULTI_HOST,
      why="run_q_lambda trains on one device (no sharded placement); run "
      "several seeds with --num_seeds.")
  flag_checks.one_of("task", TASKS)
  flag_checks.one_of("method", METHODS)
  flag_checks.one_of("context", CONTEXTS)
  # Flags the chosen method, context or task ignores first: their message
  # says why.
  flag_checks.refuse_unless(
      ["L", "meta_learning_rate", "meta_grad_clip"], flag="method",
      values=("bmg",), why="a fixed ε is not meta-learned.")
  flag_checks.refuse_unless(
      ["context_history", "context_hidden"], flag="context",
      values=("reward", "rich"), why="there is no context.")
  flag_checks.refuse_unless(["num_mdps"], flag="task",
                            values=("SwitchingMDP",),
                            why="Two-Colors is one grid world.")
  flag_checks.check("swap_period", lambda v: v is None or (
      flag_checks.is_number(v) and v >= 1), "must be >= 1")
  flag_checks.within("discount", 0.0, 1.0)
  flag_checks.at_least(1, "steps", "num_mdps", "num_envs",
                       "unroll_length", "width", "L", "context_history",
                       "context_hidden")
  flag_checks.greater_than(0, "learning_rate", "meta_learning_rate")
  flag_checks.at_least(0, "meta_grad_clip")
  flag_checks.rule(["method", "context"], lambda v: (
      "--method=fixed has no meta-parameters, so no context: use "
      "--context=none, or --method=bmg."
      if v["method"] == "fixed" and v["context"] != "none" else None))
  flag_checks.rule(["method", "epsilon"], lambda v: (
      "a fixed ε must be in [0, 1]." if v["method"] == "fixed"
      and not 0 <= v["epsilon"] <= 1 else
      "a meta-learned ε starts in (0, 1) (a sigmoid)."
      if v["method"] != "fixed" and not 0 < v["epsilon"] < 1 else None))


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


if __name__ == "__main__":
  register_validators()
  app.run(main)
