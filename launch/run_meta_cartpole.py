r"""Randomly projected CartPole, several trials per episode: in-context RL.

Every episode samples a random projection of CartPole's observations and a
random permutation of its actions, then runs ``16`` trials (inner episodes,
restarting from the same start state) under them
(:class:`tasks.control.RandomProjectionMeta`). A recurrent agent that
adapts in context scores more in later trials (V4; Lu et al., 2023,
Fig. 3). The launcher trains the actor-critic agent into a run directory
(:mod:`launch.actor_critic`), then restores the final checkpoint and
evaluates the trained policy for ``--eval_episodes`` whole episodes at each
``--eval_trials`` (e.g. the training 16 and 32, past the training horizon),
writing ``trial_returns.json`` and ``trial_returns.png`` (mean return by
trial index) and adding them to ``summary.json``.

Command (S5, then the GRU baseline, three seeds each)::

  python -m launch.run_meta_cartpole --core=s5 --num_seeds=3 \
      --steps=500000 --run_dir=/work/runs/meta_cartpole/s5
  python -m launch.run_meta_cartpole --core=gru --num_seeds=3 \
      --steps=500000 --run_dir=/work/runs/meta_cartpole/gru

popjaxrl's easier variant (observation-only orthogonal projection, no
action permutation, no reward in the observation;
:class:`tasks.control.ObservationProjectionMeta`) with recurrent PPO, the
best setting measured so far (γ 0.999, popjaxrl's GAE λ 1, stable S5
modes)::

  python -m launch.run_meta_cartpole --task=MetaStatelessCartPolePopjaxrl \
      --core=s5 --width=128 --num_layers=2 --clip_eigs --loss=ppo \
      --num_envs=16 --unroll_length=256 --ppo_epochs=4 --num_minibatches=4 \
      --learning_rate=5e-4 --anneal_lr --adam_eps=1e-5 --max_grad_norm=0.5 \
      --value_weight=1.0 --discount=0.999 --lambda_=1.0 --seed=10 \
      --num_seeds=3 --steps=12000000 --log_every=6 \
      --run_dir=/work/runs/ppo7/mcp-popjaxrl-s5-clipeigs-g999-lam1-12m

Measured (seeds 10-18, three runs of 3 seeds, 3827 s, 2114 s and
3183 s): the return per trial rises over the 16 trained trials, 0.229 in
trials 1-4 to 0.293 in trials 13-16 (every seed up; paired +0.064 ±
0.045), and holds past them (0.291 in trials 29-32 of a 32-trial
evaluation: flat, not still rising); 4.28 per 16-trial episode. With
γ 0.99 the S5 instead learns a timed explore-then-exploit schedule (one
seed of nine does here too), and without ``--clip_eigs`` unstable modes
that make it fall past 16 trials (``results/notes/meta_cartpole.md``;
seeds 13-15 and 16-18: ``--seed=13``, ``--seed=16``).

The paper's network at the same PPO (``--width=256 --num_layers=4
--ssm_size=256 --encoder_sizes=128,256 --nocore_input_projection
--head_sizes=128,128 --head_gain=2.0 --dt_min=0.001 --dt_max=0.1``,
seeds 10-12, 2.9 s per iteration alone) is at its level from the first
trial (0.293 in trial 1) and is flat across the 16 (0.290 in trials 1-4,
0.295 in 13-16), then falls past them (0.234 in trials 29-32); 4.79 per
16-trial episode.

With rollouts as long as the episode (``--unroll_length=1024
--num_minibatches=16``: minibatches of one environment's 1024 steps, the
same size and updates per step; seeds 10-12, 5387 s at load ~5) the S5
balances from trial 1 and does not rise (0.367 in trials 1-4, 0.349 in
13-16, 0.338 in 29-32) but earns the most of any setting, 5.75 per
16-trial episode. The GRU trained the same way (``--core=gru``, a 6M
screen, seeds 10-12) rises over the 16 trials (0.297 to 0.330) and
falls past them (0.242 in 29-32), as the paper says it does; the S5
at the same 6M falls less (0.288 to 0.262) but earns less (4.58
against 5.24 per episode). Trained on 32 trials
(``--task=MetaStatelessCartPolePopjaxrl32Trials --eval_trials=16,32,64``)
it explores for twice as long: 0.08 per trial in trials 1-4, 0.17 by
trial 32, then 0.13 by trial 64 (3.25 per 32-trial episode).

The paper's PPO learner (``--num_envs=64 --unroll_length=1024
--ppo_epochs=30 --num_minibatches=8 --learning_rate=5e-5 --noanneal_lr
--adam_eps=1e-5 --max_grad_norm=0.5 --value_weight=1.0 --discount=0.99
--lambda_=1.0 --entropy_weight=0``) with entropy 0.01 instead of 0 (15M
steps, seeds 10-12, 4861-5577 s each alone) rises over the 16 trials
(0.126 per trial in trials 1-4, 0.292 in 13-16, mean of 3 seeds) and
not past them (0.275 in 29-32; two seeds hold, one falls). With entropy
0, as popjaxrl (7.86M steps, seeds 10-11, ~4700 s each side by side),
it learns about twice as fast and rises less: 0.19 in trials 1-4, 0.29
in 13-16, 0.27 in 29-32.

Measured (the first two commands: MetaStatelessCartPole, 300k steps per seed,
seeds 0-2, 2 CPUs at load average 25-43): neither core learned; the mean
trial return stayed at 0.10-0.13 (about 20-25 steps of 1/200) for every
trial index of 16 and of 32, flat across trials, for S5 and GRU alike
(episode return 1.83 ± 0.14 S5, 1.81 ± 0.07 GRU).

At 20× that budget, ``--unroll_length=256 --num_envs=16 --steps=6000000``
(1464 updates; S5 1060 s, GRU 1045 s, side by side at load 2-7), still
flat: final episode return 1.80 ± 0.03 (S5) and 1.88 ± 0.02 (GRU); mean
return of trials 1-4 vs 13-16 of the 16-trial evaluation 0.111 vs 0.113
(S5) and 0.117 vs 0.115 (GRU). The same A2C agent with an MLP core learns
plain ``CartPole`` (full state, no projection) to a return of ~380 in
250k steps, so it is the in-context task, not the learner, that this
budget does not reach; the paper trains with PPO for far longer.

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import numpy as np
from absl import app, flags

import tasks
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.evaluation import returns_by_trial
from agents.actor_critic.training import make_agent
from launch import common_flags, flag_checks, run_popgym
from launch.actor_critic import (
    RUN_FILES,
    Reporting,
    make_loop_spec,
    print_outputs,
    run_experiment,
)
from launch.loop import RunSettings
from launch.rundir import RunDir

__all__ = ["META_TASKS", "MetaCartPoleConfig", "build_config",
           "episode_returns", "evaluate_run", "register_validators", "run"]

EXPERIMENT = "meta_cartpole"
#: Registered meta-CartPole tasks: every registry name that starts with
#: ``Meta`` and names CartPole (ours: full state, position only, noisy;
#: popjaxrl's observation-only projection of the position-only task, and
#: the same without its trial-done flag, with 8-16 trials drawn per
#: episode, with 32 trials per episode, and with POPGym's observation noise
#: 0.1 / 0.2 / 0.3).
META_TASKS = tuple(name for name in tasks.registered()
                   if name.startswith("Meta") and "CartPole" in name)
_KW = dict(allow_override=True)

_FLAGS = run_popgym.define_agent_flags(
    steps=500_000, num_envs=32, unroll_length=32, discount=0.99,
    learning_rate=1e-3, entropy_weight=1e-2)
TASK = flags.DEFINE_string("task", "MetaStatelessCartPole",
                           f"Meta task, one of {META_TASKS}.", **_KW)
EVAL_TRIALS = flags.DEFINE_list(
    "eval_trials", ["16", "32"], "Trials per evaluation episode.", **_KW)
EVAL_EPISODES = flags.DEFINE_integer(
    "eval_episodes", 64, "Evaluation episodes per seed.", **_KW)
# --help lists the agent flags (defined by run_popgym.define_agent_flags)
# and the shared flags.
for _holder in _FLAGS.values():
  flags.declare_key_flag(_holder)
del _holder
flags.adopt_module_key_flags(common_flags)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetaCartPoleConfig:
  """A meta-CartPole run and its by-trial evaluation.

  Attributes:
    agent: the agent (task from :data:`META_TASKS`).
    settings: how it runs.
    variant: label (default: :func:`launch.run_popgym.default_variant`,
      e.g. ``"MetaStatelessCartPolePopjaxrl-s5-ppo"``).
    eval_trials: trials per episode of each evaluation.
    eval_episodes: evaluation episodes per seed.
  """

  agent: ActorCriticConfig
  settings: RunSettings = RunSettings()
  variant: str = ""
  eval_trials: tuple[int, ...] = (16, 32)
  eval_episodes: int = 64

  def __post_init__(self):
    if self.agent.task not in META_TASKS:
      raise ValueError(f"Unknown meta task {self.agent.task!r}; valid: "
                       f"{META_TASKS}.")
    object.__setattr__(self, "eval_trials", tuple(self.eval_trials))
    if any(n < 1 for n in self.eval_trials) or self.eval_episodes < 1:
      raise ValueError("eval_trials and eval_episodes must be >= 1, got "
                       f"{self.eval_trials} and {self.eval_episodes}.")
    if not self.variant:
      object.__setattr__(self, "variant",
                         run_popgym.default_variant(self.agent))


def build_config() -> MetaCartPoleConfig:
  """Reads the flags into a validated config (no compute)."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  if TASK.value not in META_TASKS:
    raise ValueError(f"Unknown meta task {TASK.value!r}; valid: "
                     f"{META_TASKS}.")
  try:
    trials = tuple(int(n) for n in EVAL_TRIALS.value)
  except ValueError as e:
    raise ValueError(f"--eval_trials must be integers, got "
                     f"{EVAL_TRIALS.value}.") from e
  return MetaCartPoleConfig(
      agent=run_popgym.agent_config(_FLAGS, task=TASK.value),
      settings=common_flags.run_settings(), variant=_FLAGS["variant"].value,
      eval_trials=trials, eval_episodes=EVAL_EPISODES.value)


def _restore_params(config: MetaCartPoleConfig, run_dir: str):
  """Network parameters ``[S, ...]`` of the run's newest checkpoint.

  Only the parameters are restored (they lead the training state), so runs
  written before a change to the rest of the state (e.g. a new field of the
  environment's state) still evaluate; the config's ``extra`` section
  (labels, evaluation settings) may differ from the checkpoint's.
  """
  settings = config.settings
  keys = jax.random.split(jax.random.key(settings.seed), settings.num_seeds)
  template = jax.eval_shape(make_loop_spec(config.agent).init, keys)
  params = template.learner.params
  n = len(jax.tree.leaves(params))
  assert jax.tree.leaves(template)[:n] == jax.tree.leaves(params)
  with open(os.path.join(run_dir, "config.json")) as f:
    saved = json.load(f)
  run = RunDir(run_dir, config=saved, resume=True)
  try:
    _, params = run.restore(params, leading=True, ignore=("extra",))
  finally:
    run.close()
  return params


def _eval_keys(config: MetaCartPoleConfig) -> jax.Array:
  """One evaluation key per seed (independent of the training keys)."""
  return jax.random.split(jax.random.fold_in(
      jax.random.key(config.settings.seed), 1), config.settings.num_seeds)


def _returns_by_trial(agent, params, keys, *, num_trials: int,
                      num_episodes: int):
  """:func:`returns_by_trial` of every seed, on the host."""
  evaluate = jax.jit(jax.vmap(lambda p, k: returns_by_trial(
      agent, p, k, num_episodes=num_episodes, num_trials=num_trials)))
  return jax.device_get(evaluate(params, keys))


def evaluate_run(config: MetaCartPoleConfig,
                 run_dir: str) -> dict[str, Any]:
  """Mean return by trial index of the run's trained policy, per seed.

  Returns:
    ``{str(num_trials): {"per_seed": [S][num_trials], "mean": [num_trials],
    "completed": fraction of episodes finished}}``.
  """
  agent = make_agent(config.agent)
  params = _restore_params(config, run_dir)
  out = {}
  for n in config.eval_trials:
    result = _returns_by_trial(agent, params, _eval_keys(config),
                               num_trials=n,
                               num_episodes=config.eval_episodes)
    per_seed = np.asarray(result.returns).mean(axis=1)  # [S, n]
    out[str(n)] = {"per_seed": per_seed.tolist(),
                   "mean": per_seed.mean(axis=0).tolist(),
                   "completed": float(np.mean(result.completed))}
  return out


def episode_returns(run_dir: str, *, num_trials: int, num_episodes: int,
                    key: jax.Array | None = None,
                    fresh_starts: bool = False) -> np.ndarray:
  """Return of every trial of every evaluation episode of a finished run.

  Rebuilds the run's config from its ``config.json``, restores the newest
  checkpoint and evaluates, by default with the keys of
  :func:`evaluate_run` (so the mean over episodes equals its ``per_seed``
  for the same sizes); with ``key``, with ``split(key, num_seeds)``.

  With ``fresh_starts`` every trial after the first starts from a fresh
  reset of the inner task instead of the episode's start state (a
  diagnostic for tasks that repeat it, e.g. popjaxrl's: does the return
  still rise across trials when a memorised trajectory cannot be replayed?).

  Returns:
    ``[S, num_episodes, num_trials]``.
  """
  with open(os.path.join(run_dir, "config.json")) as f:
    saved = json.load(f)
  agent = ActorCriticConfig(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in saved["agent"].items()})
  config = MetaCartPoleConfig(agent=agent, settings=RunSettings(
      seed=saved["run"]["seed"], num_seeds=saved["run"]["num_seeds"]))
  built = make_agent(agent)
  if fresh_starts:
    built.env.unwrapped.repeat_initial_state = False
  result = _returns_by_trial(
      built, _restore_params(config, run_dir),
      _eval_keys(config) if key is None
      else jax.random.split(key, config.settings.num_seeds),
      num_trials=num_trials, num_episodes=num_episodes)
  return np.asarray(result.returns)


def _plot(path: str, by_trial: dict[str, Any], label: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  seeds = 0
  for n, r in by_trial.items():
    per_seed = np.asarray(r["per_seed"])  # [S, n]
    seeds = per_seed.shape[0]
    trials = np.arange(1, per_seed.shape[1] + 1)
    mean = per_seed.mean(0)
    err = np.stack([mean - per_seed.min(0), per_seed.max(0) - mean])
    ax.errorbar(trials, mean, yerr=err if seeds > 1 else None, marker=".",
                capsize=2, label=f"{n} trials per episode: mean of {seeds} "
                "seeds" + (", bars min–max" if seeds > 1 else ""))
  ax.set(title=f"{EXPERIMENT}: {label}, {seeds} seed"
         f"{'s' if seeds != 1 else ''}, return by trial",
         xlabel="trial within the episode", ylabel="mean trial return")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(path, "trial_returns.png"), dpi=100)
  plt.close(fig)


def run(*, config: MetaCartPoleConfig) -> dict[str, Any]:
  """Trains, then evaluates by trial; returns the summary with
  ``trial_returns`` (see :func:`evaluate_run`)."""
  summary = run_experiment(experiment=EXPERIMENT, agent=config.agent,
                           settings=config.settings, reporting=Reporting(),
                           extra={"variant": config.variant,
                                  "eval_trials": list(config.eval_trials),
                                  "eval_episodes": config.eval_episodes})
  path = summary["run_dir"]
  by_trial = evaluate_run(config, path)
  summary = {**summary, "trial_returns": by_trial}
  for name, payload in [("trial_returns.json", by_trial),
                        ("summary.json", summary)]:
    with open(os.path.join(path, name), "w") as f:
      json.dump(payload, f, indent=2, sort_keys=True)
  _plot(path, by_trial, config.variant)
  return summary


def main(argv):
  """Builds the config from the flags, runs, prints where outputs are."""
  del argv
  common_flags.quiet_logging()
  common_flags.initialize_distributed()
  summary = run(config=build_config())
  for n, r in summary["trial_returns"].items():
    print(f"{n} trials: mean return by trial "
          f"{np.round(r['mean'], 3).tolist()}")
  print_outputs(summary, headline=f"final {summary['return_key']} per seed: "
                f"{summary['final']}",
                files=(*RUN_FILES, "trial_returns.png"))


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators()
  run_popgym.register_agent_validators()
  flag_checks.one_of("task", META_TASKS)
  flag_checks.numbers_in("eval_trials", lambda n: n >= 1, "integers >= 1",
                         kind=int)
  flag_checks.at_least(1, "eval_episodes")


if __name__ == "__main__":
  register_validators()
  app.run(main)
