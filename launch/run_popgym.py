r"""Actor-critic (A2C, optionally MG/BMG-meta-learned) on a POPGym task.

Trains the agent of :mod:`agents.actor_critic` with a resettable S5 (or GRU,
LSTM, MLP) core on a JAX POPGym memory task (any registered task) into a
run directory (:mod:`launch.actor_critic`): config, metrics, TensorBoard,
orbax checkpoints (``--resume`` continues exactly), ``returns.png`` and a
``summary.json`` of final (last 10% of log rows) and lifetime returns per
seed. Seeds run as one vmapped program. A memoryless MLP core cannot solve
RepeatPrevious; the S5 core can (V3 of the validation plan).

Command (the reported RepeatPreviousEasy run; a few minutes on 2 CPUs)::

  python -m launch.run_popgym --task=RepeatPreviousEasy --core=s5 \
      --steps=600000 --run_dir=/work/runs/popgym/easy-s5-s0

V3(b), RepeatPreviousMedium, three seeds in one program (each rollout one
whole 104-step episode, so the answer and the card 32 steps back always
fall in one truncated-BPTT window; ``T = 32`` never connects them)::

  python -m launch.run_popgym --task=RepeatPreviousMedium --core=s5 \
      --unroll_length=104 --num_envs=16 --num_seeds=3 --steps=5000000 \
      --run_dir=/work/runs/popgym/medium-s5-u104

Measured with that command (and ``--core=gru``), seeds 0-2 vmapped, the two
cores side by side on 2 CPUs (load 6-7): neither learned in 5M steps per
seed (3004 updates); final return -0.498 ± 0.008 (S5, 2216 s) and
-0.499 ± 0.006 (GRU, 1971 s), mean ± 95% CI over seeds, i.e. chance
(-0.5). Both policies stayed so close to uniform that the two cores drew
the same actions from the same keys (equal returns to 3 decimals at every
log row). With ``T = 32`` (600k steps) both were also at chance. The
paper's gap (Hard: S5 0.91, GRU -0.46) comes from 15M steps of PPO with
30 epochs per rollout, a 4-layer S5 of width 256 and a GRU of 256.

Measured before the move to run directories (2-core CPU shared with other
jobs, jit included): S5 reaches 0.999 mean episodic return over the last
10% of 600k steps on RepeatPreviousEasy (seeds 0 and 1, 128-146 s); the
memoryless MLP stays at -0.50 (89 s). The popjaxrl S5 timescales
``dt in [0.001, 0.1]`` did not learn at all in 300k steps here;
``[0.01, 1.0]`` (the defaults of these flags) did. Learning sets in
between 292 learner updates (-0.50 at 300k steps) and 585 (0.999).
At 600k steps, ``--method=bmg`` (K=1, L=2: 390 updates) reached -0.30 and
``--method=mg`` (K=1: 292 updates) -0.50, learning entropy weight and λ;
both meta-parameters hardly moved (a fresh Adam inner step is nearly
sign-like, so loss weights get tiny meta-gradients). BMG learning the
learning rate and entropy weight for 900k steps (584 updates) reached
0.999 (223 s); the learning rate went from 3e-3 to 3.03e-3.

Recurrent PPO (``--loss=ppo``: epochs × minibatches of whole environment
sequences from the stored core state; ``results/ppo/README.md``), S5 2 ×
128 on RepeatPreviousMedium, three seeds::

  python -m launch.run_popgym --task=RepeatPreviousMedium --core=s5 \
      --width=128 --num_layers=2 --loss=ppo --num_envs=16 \
      --unroll_length=256 --ppo_epochs=4 --num_minibatches=4 \
      --learning_rate=5e-4 --anneal_lr --adam_eps=1e-5 --max_grad_norm=0.5 \
      --value_weight=1.0 --num_seeds=3 --steps=2000000 \
      --run_dir=/work/runs/ppo/medium-ppo-s5-2x128

Measured (load 15-16, 1802 s): mean episode return ≥ 0.9 after 365k ±
98k env steps, final 0.996 ± 0.0004, MMER 1.0 (mean ± 95% CI over seeds
0-2). On RepeatPreviousEasy (S5 2 × 64, 16 × 128, lr 1e-3) PPO reaches
0.9 after 41k steps, the one-step learner above after 509k ± 82k.

MG through PPO's minibatch steps (:mod:`agents.actor_critic.meta_ppo`):
each window of ``--K`` differentiable minibatch steps is scored by PPO's
loss with the outer values (``--outer_entropy_weight``,
``--outer_discount``, ``--outer_lambda``) on the following minibatch::

  python -m launch.run_popgym --task=RepeatPreviousEasy --core=s5 \
      --loss=ppo --num_envs=16 --unroll_length=128 --ppo_epochs=4 \
      --num_minibatches=4 --learning_rate=1e-3 --method=mg \
      --learned=entropy_weight --entropy_weight=0.01 --K=1 \
      --outer_discount=0.5 --num_seeds=2 --steps=200000 \
      --run_dir=/work/runs/meta_ppo/easy-mg-ew0.01

Meta-learn the entropy weight and λ by BMG instead::

  python -m launch.run_popgym --method=bmg --learned=entropy_weight,lambda_

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from absl import app, flags

import tasks
from agents.actor_critic.config import (
  LEARNABLE,
  LOSSES,
  METHODS,
  ActorCriticConfig,
  ppo_meta_error,
)
from agents.actor_critic.networks import ACTIVATIONS
from agents.cores import CORE_NAMES
from launch import common_flags, flag_checks
from launch.actor_critic import Reporting, print_outputs, run_experiment
from launch.loop import RunSettings

__all__ = ["LEARNING_SIZE", "PPO_LEARNING_SIZE", "PopgymConfig",
           "agent_config", "build_config", "check_task", "default_variant",
           "define_agent_flags", "num_updates_for",
           "register_agent_validators", "register_validators", "run"]

EXPERIMENT = "popgym"
_KW = dict(allow_override=True)


def define_agent_flags(**defaults: Any) -> dict[str, flags.FlagHolder]:
  """Defines the agent flags shared by the memory launchers.

  Args:
    **defaults: per-launcher default values (flag name -> value).

  Returns:
    ``{flag name: holder}``; read them with :func:`agent_config`.
  """
  d = {"core": "s5", "method": "none", "steps": 1_000_000, "num_envs": 32,
       "unroll_length": 32, "width": 64, "num_layers": 2,
       "learning_rate": 3e-3, "discount": 0.5, "lambda_": 0.95,
       "entropy_weight": 1e-3, "dt_min": 0.01, "dt_max": 1.0, **defaults}
  f = {"core": flags.DEFINE_string("core", d["core"],
                                   f"Recurrent core, one of {CORE_NAMES}.",
                                   **_KW),
       "method": flags.DEFINE_string(
           "method", d["method"], f"Meta-gradient method, one of {METHODS}.",
           **_KW),
       "learned": flags.DEFINE_list(
           "learned", [], f"Meta-learned hyperparameters, from {LEARNABLE}.",
           **_KW),
       "K": flags.DEFINE_integer("K", 1, "MG/BMG inner steps.", **_KW),
       "L": flags.DEFINE_integer("L", 2, "BMG target length.", **_KW),
       "steps": flags.DEFINE_integer("steps", d["steps"],
                                     "Environment steps per seed.", **_KW),
       "variant": flags.DEFINE_string(
           "variant", "", "Short label of the run (default from the "
           "task and core).", **_KW)}
  for name, help_ in [("num_envs", "Parallel environments B."),
                      ("unroll_length", "Rollout length T."),
                      ("width", "Network width."),
                      ("num_layers", "S5 layers.")]:
    f[name] = flags.DEFINE_integer(name, d[name], help_, **_KW)
  for name, help_ in [("learning_rate", "Adam step size."),
                      ("discount", "Discount γ (initial)."),
                      ("lambda_", "λ of the λ-returns (initial)."),
                      ("entropy_weight", "Entropy weight (initial)."),
                      ("dt_min", "S5 smallest initial timescale."),
                      ("dt_max", "S5 largest initial timescale.")]:
    f[name] = flags.DEFINE_float(name, d[name], help_, **_KW)
  f.update(_define_ppo_flags(d))
  f.update(_define_meta_flags())
  f.update(_define_network_flags())
  return f


#: Defaults of the meta-learning flags (the config's).
_META_DEFAULTS = {"meta_learning_rate": 1e-3, "outer_entropy_weight": 0.0,
                  "outer_discount": 0.99, "outer_lambda": 0.95}


def _define_meta_flags() -> dict[str, flags.FlagHolder]:
  """The meta-optimiser's step size and the outer objective's values
  (MG / BMG only)."""
  helps = {"meta_learning_rate": "Meta-Adam step size (MG / BMG).",
           "outer_entropy_weight": "Entropy weight of the outer objective.",
           "outer_discount": "γ of the outer objective.",
           "outer_lambda": "λ of the outer objective (PPO: of the outer "
           "minibatches' GAE)."}
  return {name: flags.DEFINE_float(name, value, helps[name], **_KW)
          for name, value in _META_DEFAULTS.items()}


def _define_network_flags() -> dict[str, flags.FlagHolder]:
  """The network options of Lu et al. (2023) and the no-reset ablation."""
  f = {name: flags.DEFINE_list(name, [], help_, **_KW) for name, help_ in [
      ("encoder_sizes", "Encoder layer sizes (empty: width, width; the "
       "paper: 128,256)."),
      ("head_sizes", "Hidden sizes of each head (empty: width; the paper: "
       "128,128).")]}
  f["activation"] = flags.DEFINE_string(
      "activation", "leaky_relu", "Encoder and head activation, one of "
      f"{tuple(ACTIVATIONS)}.", **_KW)
  f["hidden_gain"] = flags.DEFINE_float(
      "hidden_gain", 2.0 ** 0.5, "Orthogonal-init gain of the encoder "
      "(and head) layers.", **_KW)
  f["head_gain"] = flags.DEFINE_float(
      "head_gain", 0.0, "Orthogonal-init gain of the head hidden layers "
      "(0: --hidden_gain; the paper: 2).", **_KW)
  f["ssm_size"] = flags.DEFINE_integer(
      "ssm_size", 0, "S5 state size N per layer (0: width).", **_KW)
  f["core_input_projection"] = flags.DEFINE_bool(
      "core_input_projection", True, "S5: project the encoder output to "
      "width first (the paper: no; then the last encoder size is width).",
      **_KW)
  f["clip_eigs"] = flags.DEFINE_bool(
      "clip_eigs", False, "S5: keep Re(Lambda) <= -1e-4 (stable modes).",
      **_KW)
  f["max_timescale"] = flags.DEFINE_float(
      "max_timescale", 0.0, "S5: every mode forgets within this many steps "
      "(0: no bound).", **_KW)
  f["no_reset"] = flags.DEFINE_bool(
      "no_reset", False, "Ablation: never wipe the core at episode "
      "starts.", **_KW)
  return f


#: Defaults of the learner flags (the config's), see _define_ppo_flags.
_PPO_DEFAULTS = {"loss": "a2c", "ppo_epochs": 4, "num_minibatches": 1,
                 "ppo_clip": 0.2, "clip_value": True,
                 "normalize_advantages": True, "anneal_lr": False,
                 "adam_eps": 1e-8, "value_weight": 0.5,
                 "max_grad_norm": 1.0}


def _define_ppo_flags(defaults: Mapping[str, Any]
                      ) -> dict[str, flags.FlagHolder]:
  """The learner flags: loss, PPO's settings, value weight, Adam eps."""
  d = {**_PPO_DEFAULTS, **defaults}
  f = {"loss": flags.DEFINE_string(
      "loss", d["loss"], f"Inner loss, one of {LOSSES}: 'ppo' is recurrent "
      "PPO (epochs x minibatches of whole environment sequences).", **_KW)}
  for name, help_ in [("ppo_epochs", "PPO passes over each rollout."),
                      ("num_minibatches", "PPO minibatches per pass (of "
                       "num_envs / num_minibatches environments each).")]:
    f[name] = flags.DEFINE_integer(name, d[name], help_, **_KW)
  for name, help_ in [("ppo_clip", "PPO ratio (and value) clip ε."),
                      ("adam_eps", "ε of the inner Adam."),
                      ("value_weight", "Weight of the value loss."),
                      ("max_grad_norm", "Global-norm gradient clip (0: "
                       "none).")]:
    f[name] = flags.DEFINE_float(name, d[name], help_, **_KW)
  for name, help_ in [("clip_value", "PPO: clip the value prediction to "
                       "±ppo_clip of the behaviour value."),
                      ("normalize_advantages", "PPO: standardise the "
                       "advantages per minibatch."),
                      ("anneal_lr", "PPO: learning rate falls linearly to "
                       "0 over the run.")]:
    f[name] = flags.DEFINE_bool(name, d[name], help_, **_KW)
  f["gae_lambda"] = flags.DEFINE_float(
      "gae_lambda", None, "λ of PPO's GAE: another name for --lambda_ "
      "(give one of them).", **_KW)
  return f


def register_agent_validators(*, min_unroll_length: int = 1,
                              task_flag: bool = True) -> None:
  """absl validators of :func:`define_agent_flags`' flags (see
  :mod:`launch.flag_checks`; a launcher's ``register_validators()`` calls
  it when the launcher runs as a program).

  Args:
    min_unroll_length: the smallest ``--unroll_length`` (0 where it means
      automatic).
    task_flag: the launcher reads ``--task`` (then an unknown task, or BMG
      on continuous actions, is refused).
  """
  flag_checks.one_of("core", CORE_NAMES)
  flag_checks.one_of("method", METHODS)
  flag_checks.one_of("learned", LEARNABLE)
  # Flags the chosen method ignores first: their message says why.
  flag_checks.refuse_unless(["K"], flag="method", values=("mg", "bmg"),
                            why="--method=none learns nothing.")
  flag_checks.refuse_unless(["L"], flag="method", values=("bmg",),
                            why="only BMG has a target.")
  flag_checks.refuse_unless(list(_META_DEFAULTS), flag="method",
                            values=("mg", "bmg"),
                            why="--method=none has no outer objective.")
  flag_checks.at_least(1, "steps", "num_envs", "width", "num_layers", "K",
                       "L")
  flag_checks.at_least(min_unroll_length, "unroll_length")
  flag_checks.greater_than(0, "learning_rate", "dt_min", "dt_max")
  flag_checks.within("discount", 0, 1)
  flag_checks.within("lambda_", 0, 1)
  flag_checks.at_least(0, "entropy_weight", "max_timescale")
  flag_checks.rule(["dt_min", "dt_max"], lambda v: (
      "--dt_min must not exceed --dt_max." if v["dt_min"] > v["dt_max"]
      else None))
  flag_checks.rule(["method", "learned"], _learned_error)
  flag_checks.greater_than(0, "meta_learning_rate")
  flag_checks.within("outer_discount", 0, 1)
  flag_checks.within("outer_lambda", 0, 1)
  flag_checks.at_least(0, "outer_entropy_weight")
  flag_checks.rule(["loss", "method", "learned", "K", "ppo_epochs",
                    "num_minibatches"], _ppo_meta_flag_error)
  flag_checks.rule(["learned", "discount", "lambda_", "entropy_weight"],
                   _start_error)
  if task_flag:
    flag_checks.rule(["task", "method"], _task_error)


def _learned_error(v: Mapping[str, Any]) -> str | None:
  if v["method"] == "none" and v["learned"]:
    return (f"--method=none learns nothing: use --method=mg or bmg to "
            f"meta-learn {','.join(v['learned'])}.")
  if v["method"] != "none" and not v["learned"]:
    return (f"--method={v['method']} needs --learned, from {LEARNABLE}.")
  if len(set(v["learned"])) != len(v["learned"]):
    return "--learned names a hyperparameter twice."
  return None


def _ppo_meta_flag_error(v: Mapping[str, Any]) -> str | None:
  if v["loss"] != "ppo":
    return None
  return ppo_meta_error(method=v["method"], learned=v["learned"],
                        context=False, K=v["K"], ppo_epochs=v["ppo_epochs"],
                        num_minibatches=v["num_minibatches"])


def _start_error(v: Mapping[str, Any]) -> str | None:
  for name in ("lambda_", "entropy_weight"):
    if name in v["learned"] and not 0 < v[name] < 1:
      return f"a learned --{name} starts in (0, 1) (a sigmoid)."
  if "discount" in v["learned"] and not 0.9 < v["discount"] < 1:
    return "a learned --discount starts in (0.9, 1) (an affine sigmoid)."
  return None


def _task_error(v: Mapping[str, Any]) -> str | None:
  try:
    check_task(v["task"], v["method"])
  except ValueError as e:
    return str(e)
  return None


_FLAGS = define_agent_flags()
TASK = flags.DEFINE_string("task", "RepeatPreviousMedium",
                           "Registered task (tasks.registered()).", **_KW)
flags.adopt_module_key_flags(common_flags)  # --help lists the shared flags.

#: The size of the reported one-step (A2C) RepeatPreviousEasy run: S5 at
#: 0.999 after 600k steps (``results/ppo/README.md``, ``easy-a2c-s5``).
LEARNING_SIZE = ActorCriticConfig(
    task="RepeatPreviousEasy", core="s5", width=64, num_envs=32,
    unroll_length=32, num_updates=585, learning_rate=3e-3, discount=0.5,
    entropy_weight=1e-3, dt_min=0.01, dt_max=1.0)
#: Recurrent PPO on RepeatPreviousEasy, 200k env steps: the ``easy-ppo-s5``
#: setting of ``results/ppo/README.md`` (0.9 at 41k steps in 3 of 3 seeds);
#: the slow test and the in-context notebook use it.
PPO_LEARNING_SIZE = dataclasses.replace(
    LEARNING_SIZE, num_envs=16, unroll_length=128, learning_rate=1e-3,
    loss="ppo", ppo_epochs=4, num_minibatches=4, num_updates=98)


def check_task(task: str, method: str = "none") -> None:
  """Raises ValueError for an unknown task or BMG with continuous actions."""
  if task not in tasks.registered():
    raise ValueError(f"Unknown task {task!r}; valid: {tasks.registered()}.")
  env, params = tasks.make(task)
  if method == "bmg" and isinstance(env.action_space(params), tasks.Box):
    raise ValueError(f"BMG's KL matching needs Discrete actions; {task} has "
                     f"a Box action space. Valid methods: ('none', 'mg').")


def num_updates_for(steps: int, config: ActorCriticConfig) -> int:
  """Iterations that spend about ``steps`` environment steps (at least 1)."""
  per = (config.rollouts_per_iteration * config.unroll_length
         * config.num_envs)
  return max(1, steps // per)


def agent_config(holders: Mapping[str, flags.FlagHolder], *,
                 task: str, **overrides: Any) -> ActorCriticConfig:
  """The validated agent config of the flags in ``holders``.

  Args:
    holders: from :func:`define_agent_flags`.
    task: the task name.
    **overrides: fields replacing the flag values (e.g. ``unroll_length``).

  Raises:
    ValueError: unknown core, method, loss, learned name or task, bad sizes,
      PPO with BMG, with a learned name other than
      :data:`agents.actor_critic.config.PPO_LEARNABLE` or with ``K`` not
      below ``ppo_epochs × num_minibatches``, ``num_envs`` not a multiple
      of ``num_minibatches``, ``--gae_lambda`` and ``--lambda_`` that
      differ.
  """
  v = {k: h.value for k, h in holders.items()}
  if v["steps"] < 1:
    raise ValueError(f"--steps must be >= 1, got {v['steps']}.")
  check_task(task, v["method"])
  fields = {k: v[k] for k in ("core", "method", "K", "num_envs",
                              "unroll_length", "width", "num_layers",
                              "learning_rate", "discount", "lambda_",
                              "entropy_weight", "dt_min", "dt_max",
                              "activation", "hidden_gain", "head_gain",
                              "ssm_size", "core_input_projection",
                              "clip_eigs", "max_timescale", "no_reset",
                              *_PPO_DEFAULTS, *_META_DEFAULTS)}
  for name in ("encoder_sizes", "head_sizes"):
    try:
      fields[name] = tuple(int(n) for n in v[name])
    except ValueError as e:
      raise ValueError(f"--{name} must be integers, got {v[name]}.") from e
  if v["gae_lambda"] is not None:
    if holders["lambda_"].present and v["lambda_"] != v["gae_lambda"]:
      raise ValueError(
          f"--gae_lambda={v['gae_lambda']} and --lambda_={v['lambda_']} "
          "name the same λ; give one of them.")
    fields["lambda_"] = v["gae_lambda"]
  fields.update(learned=tuple(v["learned"]), task=task,
                L=v["L"] if v["method"] == "bmg" else 1, **overrides)
  agent = ActorCriticConfig(**fields)
  return dataclasses.replace(agent,
                             num_updates=num_updates_for(v["steps"], agent))


def default_variant(agent: ActorCriticConfig) -> str:
  """The default row label of a memory launcher's run: task and core, then
  ``-ppo`` (PPO and A2C runs are not pooled) and ``-noreset`` (the
  ablation is named in its row) where they apply, e.g.
  ``"RepeatPreviousHard-s5-ppo"``."""
  label = f"{agent.task}-{agent.core}"
  if agent.loss != "a2c":
    label += f"-{agent.loss}"
  if agent.no_reset:
    label += "-noreset"
  return label


@dataclasses.dataclass(frozen=True, kw_only=True)
class PopgymConfig:
  """A POPGym run: the agent, how it runs, and its variant label."""

  agent: ActorCriticConfig
  settings: RunSettings = RunSettings()
  variant: str = ""

  def __post_init__(self):
    check_task(self.agent.task, self.agent.method)
    if not self.variant:
      object.__setattr__(self, "variant", default_variant(self.agent))


def build_config() -> PopgymConfig:
  """Reads the flags into a validated :class:`PopgymConfig` (no compute)."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  return PopgymConfig(agent=agent_config(_FLAGS, task=TASK.value),
                      settings=common_flags.run_settings(),
                      variant=_FLAGS["variant"].value)


def run(*, config: PopgymConfig) -> dict[str, Any]:
  """Trains into the run directory; returns the summary (see
  :func:`launch.actor_critic.run_experiment`)."""
  return run_experiment(experiment=EXPERIMENT, agent=config.agent,
                        settings=config.settings, reporting=Reporting(),
                        extra={"variant": config.variant})


def main(argv):
  """Builds the config from the flags, runs, prints where outputs are."""
  del argv
  common_flags.quiet_logging()
  common_flags.initialize_distributed()
  config = build_config()
  summary = run(config=config)
  print_outputs(summary, headline=f"final {summary['return_key']} per seed: "
                f"{summary['final']}; MMER per seed: {summary['mmer']}")


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators()
  register_agent_validators()


if __name__ == "__main__":
  register_validators()
  app.run(main)
