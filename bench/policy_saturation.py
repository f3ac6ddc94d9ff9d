r"""Policy saturation at the last checkpoint of Two-Colors runs.

For each seed of each run directory given, restores the newest checkpoint
and evaluates the policy and critic on 2000 freshly reset environment
states: mean policy entropy (and the share of states below 0.01 nats), the
median and maximum logit spread (max − min over actions), the mean value
and how often each action is the most likely. A spread above ~100 makes
the entropy bonus's gradient vanish in float32, so a collapsed agent
(reward −0.04 per step, value −0.04 / (1 − γ) = −4) cannot recover.

Command::

  python bench/policy_saturation.py /path/to/run_dir [...]

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022 (Table 3:
  the learner, SGD 0.1 on 2 × 256 MLPs).
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import launch.run_two_colors  # noqa: E402, F401  (registers the swap periods)
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402
from agents.actor_critic.training import init_state, make_agent  # noqa: E402
from launch.rundir import RunDir  # noqa: E402


def load(path: str):
  """``(agent, state, num_seeds)`` restored from a run directory."""
  path = pathlib.Path(path)
  saved = json.loads((path / "config.json").read_text())
  fields = dict(saved["agent"], learned=tuple(saved["agent"]["learned"]))
  agent = make_agent(ActorCriticConfig(**fields))
  n = saved["run"]["num_seeds"]
  keys = jax.random.split(jax.random.key(0), n)
  template = jax.vmap(lambda k: init_state(k, agent))(keys)
  _, state = RunDir(str(path), config=saved, resume=True).restore(template)
  return agent, state, n


def seed_report(agent, params, obs) -> dict[str, float]:
  """Saturation statistics of one seed's policy on ``obs [N, D]``."""
  o = obs[None]
  out, values, _ = agent.networks.unroll(
      params, o, jnp.zeros(o.shape[:2], bool),
      agent.networks.initial_state(o.shape[1]))
  p = jax.nn.softmax(out[0])
  ent = -(p * jnp.log(p + 1e-30)).sum(-1)
  spread = out[0].max(-1) - out[0].min(-1)
  return {"entropy": float(ent.mean()),
          "low_entropy_share": float((ent < 0.01).mean()),
          "spread_median": float(jnp.median(spread)),
          "spread_max": float(spread.max()),
          "value_mean": float(values.mean()),
          "argmax_counts": np.bincount(np.asarray(p.argmax(-1)),
                                       minlength=p.shape[-1]).tolist()}


def main(paths: list[str]) -> None:
  for path in paths:
    agent, state, n = load(path)
    keys = jax.random.split(jax.random.key(1), 2000)
    obs, _ = jax.vmap(agent.env.reset, in_axes=(0, None))(
        keys, agent.env_params)
    for s in range(n):
      params = jax.tree.map(lambda x, s=s: x[s], state.learner.params)
      print(json.dumps({"run": path, "seed": s,
                        **seed_report(agent, params, obs)}), flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
