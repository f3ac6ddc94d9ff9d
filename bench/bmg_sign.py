r"""Analysis: which part of BMG's target pushes the entropy weight up?

A fixed-entropy actor-critic agent (Two-Colors, the papers' learner: SGD
0.1, separate policy and value MLPs) is trained to several points of its
lifetime (``--points``, environment steps; swaps every 100k). At each point,
from ``--samples`` independent continuations (vmapped acting keys), the
BMG meta-gradient with respect to the logit of the entropy weight
(``K = 1``, ``L = --L``, target step with the inner rule, KL matching on
the target rollout's states) is computed for targets built from parts of
the bootstrapped displacement ``x̃ − x⁽ᴷ⁾ = d_boot + d_outer``:

* ``full``: ``x̃`` (BMG as published);
* ``boot``: ``x⁽ᴷ⁾ + d_boot`` (the ``L − 1`` meta-learned steps only);
* ``outer``: ``x⁽ᴷ⁾ + d_outer`` (the final outer step only);
* ``average``: the average-velocity point (``target_mode="average"``);
* ``full_reverse``: ``x̃`` with the reverse KL ``KL(π_x ‖ π_x̃)``;
* ``mg``: the MG meta-gradient of the outer loss after ``K = 1`` step,
  for reference.

Each line printed is one JSON object per point and target: ``up`` = the
fraction of samples whose descent direction *raises* the weight
(``−∂M/∂logit α > 0``), and the mean and median of ``−∂M/∂logit α``.

Command::

  python bench/bmg_sign.py --points=20000,90000,105000,190000 --samples=32

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from agents.actor_critic import learning, losses, online, training  # noqa: E402
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402

POINTS = flags.DEFINE_list(
    "points", ["20000", "90000", "105000", "190000"],
    "Lifetime points (environment steps) to analyse.")
SAMPLES = flags.DEFINE_integer("samples", 32, "Continuations per point.")
L_STEPS = flags.DEFINE_integer("L", 8, "BMG target length.")
ENTROPY = flags.DEFINE_float("entropy_weight", 0.1, "Entropy weight.")
WIDTH = flags.DEFINE_integer("width", 64, "MLP width.")

_T = 16


def _configs(width: int, L: int, entropy: float):
  base = ActorCriticConfig(
      task="TwoColors", core="mlp", width=width, num_envs=1,
      unroll_length=_T, optimizer="sgd", learning_rate=0.1,
      max_grad_norm=0.0, separate_networks=True, discount=0.99, lambda_=1.0,
      outer_lambda=1.0, entropy_weight=entropy)
  bmg = dataclasses.replace(base, method="bmg", learned=("entropy_weight",),
                            K=1, L=L, outer_entropy_weight=0.0)
  return base, bmg


def _reverse_kl(networks):
  def matching(target, params, meta_params, traj):
    del meta_params
    t = losses.replay(networks.unroll, jax.lax.stop_gradient(target),
                      traj)[0][:-1]
    x = losses.replay(networks.unroll, params, traj)[0][:-1]
    lx, lt = jax.nn.log_softmax(x), jax.nn.log_softmax(t)
    return jnp.mean(jnp.sum(jnp.exp(lx) * (lx - lt), -1))
  return matching


def analyse(state, agent, bmg_config: ActorCriticConfig, key):
  """``−∂M/∂logit α`` of every target kind from one continuation."""
  networks = agent.networks
  step = learning.make_step_fn(bmg_config, networks)
  outer = learning.make_outer_fn(bmg_config, networks)
  collect = training.make_collect_fn(agent.rollout, networks, 1)
  w = {"entropy_weight": jnp.log(ENTROPY.value / (1 - ENTROPY.value))}
  actor = state.actor._replace(key=key)
  actor, first = collect(state.learner.params, actor)
  carry = online.OnlineCarry(state.learner, actor, first, jnp.zeros([4]))
  online_step = online.make_online_step(step, collect)
  carry_k, _ = jax.lax.scan(
      lambda c, _: (online_step(c, w, None), None), carry, None, length=1)
  carry_t, _ = jax.lax.scan(
      lambda c, _: (online_step(c, w, None), None), carry_k, None,
      length=bmg_config.L - 1)
  last = carry_t.traj
  full = learning.bmg_target(bmg_config, carry_t, w, last, outer_fn=outer)
  avg = learning.bmg_target(
      dataclasses.replace(bmg_config, target_mode="average"), carry_t, w,
      last, outer_fn=outer, start=state.learner.params)
  xk, xt, xf = carry_k.params, carry_t.params, full.params
  shift = lambda a, b, c: jax.tree.map(  # noqa: E731
      lambda p, q, r: p + q - r, a, b, c)
  targets = {"full": xf, "boot": xt, "outer": shift(xk, xf, xt),
             "average": avg.params}
  kl = learning.make_matching_fn(bmg_config, networks)

  def x_k(w):
    return step(state.learner, w, first).params

  out = {}
  for name, target in targets.items():
    g = jax.grad(lambda w, t=target: kl(t, x_k(w), w, last))(w)
    out[name] = -g["entropy_weight"]
  g = jax.grad(lambda w: _reverse_kl(networks)(xf, x_k(w), w, last))(w)
  out["full_reverse"] = -g["entropy_weight"]
  g = jax.grad(lambda w: outer(x_k(w), carry_k.traj))(w)
  out["mg"] = -g["entropy_weight"]
  return out


def main(argv):
  """Prints one JSON line per lifetime point and target kind."""
  del argv
  base, bmg_config = _configs(WIDTH.value, L_STEPS.value, ENTROPY.value)
  bmg_agent = training.make_agent(bmg_config)
  done = 0
  state = None
  for point in sorted(int(p) for p in POINTS.value):
    n = (point - done) // _T
    config = dataclasses.replace(base, num_updates=max(n, 1))
    agent = training.make_agent(config)
    if state is None:
      state = training.init_state(jax.random.key(0), agent)
    run = jax.jit(lambda s, a=agent, n=n: jax.lax.scan(
        lambda c, _: training.iteration(a, c), s, None, length=n))
    state, metrics = run(state)
    done = point
    keys = jax.random.split(jax.random.key(point), SAMPLES.value)
    fn = jax.jit(jax.vmap(lambda k, s=state: analyse(s, bmg_agent,
                                                     bmg_config, k)))
    result = jax.device_get(fn(keys))
    reward = float(np.mean(metrics["reward_mean"][-500:]))
    for name, values in result.items():
      values = np.asarray(values)
      print(json.dumps({
          "point": point, "target": name, "reward_recent": reward,
          "up": float(np.mean(values > 0)),
          "mean": float(values.mean()), "median": float(np.median(values)),
      }), flush=True)


if __name__ == "__main__":
  app.run(main)
