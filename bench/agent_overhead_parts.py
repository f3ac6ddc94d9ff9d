r"""Benchmark: where an MG iteration's time goes, part by part (issue 12).

The programs of ``bench/agent_overhead.py`` (Two-Colors, MLP 2 × 64,
rollouts of 16, ``--seeds`` vmapped seeds, ``--iterations`` iterations in
one jitted ``lax.scan``), cut into parts that are timed side by side,
interleaved, compile excluded:

* ``fixed``: the fixed agent's iteration; ``rollout``: its rollout alone;
  ``step``: its learner step alone (on a rollout made to depend on the
  carry, so that nothing is hoisted out of the loop);
* ``mg``: MG's (``K = 1``, reward context) iteration; ``mg_forward``: its
  online meta-loss without the gradient; ``mg_gradient``: the meta-loss's
  value and gradient without the meta-optimiser; ``mg_no_context``: MG
  learning the raw entropy weight (no context MLP).

So ``mg_forward − fixed`` is the outer loss and the context's forward,
``mg_gradient − mg_forward`` the meta-gradient's backward pass,
``mg − mg_gradient`` the meta-update. Every output is kept alive (folded
into the carry with a zero weight). Each line printed is one JSON object:
``part``, ``us_per_iteration`` (median), ``us_per_iteration_q1`` (first
quartile), ``ratio`` (median ÷ the fixed iteration's), ``load_1m``.

On a shared machine run it pinned to one core, where wall time is CPU
time and the parts add up::

  taskset -c 0 python bench/agent_overhead_parts.py --iterations=32 --repeats=21

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from absl import app

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from agents.actor_critic import online, training  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import agent_overhead  # noqa: E402  (its --iterations, --repeats, --seeds)

CONFIGS = {**agent_overhead.CONFIGS, "mg_no_context": dataclasses.replace(
    agent_overhead.CONFIGS["mg_K1"], context=False)}


def _keep(x, tree):
  """``x`` plus zero times the sum of every numeric leaf of ``tree``."""
  total = sum(jnp.sum(leaf.astype(jnp.float32))
              for leaf in jax.tree.leaves(tree)
              if jnp.issubdtype(leaf.dtype, jnp.number))
  return x + (0 * total).astype(x.dtype)


def _rollout(agent, state):
  actor, traj = training.heal_rollout(agent, state.learner.params,
                                      state.actor)
  return state._replace(actor=actor._replace(
      running_return=_keep(actor.running_return, traj)))


def _step(agent, state):
  """The learner step on ``state.pending``, made to depend on the carry."""
  zero = 0 * jax.tree.leaves(state.learner.params)[0].ravel()[0]
  traj = state.pending._replace(rewards=state.pending.rewards + zero)
  return state._replace(
      learner=agent.step(state.learner, state.meta.params, traj))


def _meta_loss(agent, state, gradient: bool):
  """The online meta-loss, with or without its gradient (no meta-step)."""
  carry = online.OnlineCarry(state.learner, state.actor, state.pending,
                             jnp.zeros([4], jnp.float32))
  args = (state.meta.params, carry, state.meta.target_opt_state)
  if gradient:
    (loss, aux), grads = jax.value_and_grad(agent.meta_loss,
                                            has_aux=True)(*args)
  else:
    (loss, aux), grads = agent.meta_loss(*args), None
  meta = state.meta._replace(skipped=_keep(state.meta.skipped,
                                           (loss, grads)))
  return training.TrainState(aux.next.learner, meta, aux.next.actor,
                             aux.next.traj)


def _iteration(agent, state):
  return training.iteration(agent, state)[0]


PARTS = {  # part: (iteration function, config)
    "fixed": (_iteration, "fixed"),
    "rollout": (_rollout, "fixed"),
    "step": (_step, "fixed"),
    "mg": (_iteration, "mg_K1"),
    "mg_forward": (lambda a, s: _meta_loss(a, s, False), "mg_K1"),
    "mg_gradient": (lambda a, s: _meta_loss(a, s, True), "mg_K1"),
    "mg_no_context": (_iteration, "mg_no_context"),
}


def _compile(fn, config, n: int, seeds: int):
  """``fn`` vmapped over seeds, ``n`` times in a jitted scan; its state.

  For ``_step``, the fixed agent's state gets a pending rollout.
  """
  agent = training.make_agent(dataclasses.replace(config, num_updates=n))
  keys = jax.random.split(jax.random.key(0), seeds)

  def init(key):
    state = training.init_state(key, agent)
    if fn is _step:
      state = state._replace(pending=training.heal_rollout(
          agent, state.learner.params, state.actor)[1])
    return state

  state = jax.jit(jax.vmap(init))(keys)
  step = jax.vmap(lambda s: fn(agent, s))
  run = jax.jit(lambda s: jax.lax.scan(lambda c, _: (step(c), None), s,
                                       None, length=n)[0])
  return run.lower(state).compile(), state


def _time(compiled, n: int, repeats: int) -> dict[str, list[float]]:
  """µs per iteration of each part, timed interleaved in shuffled order."""
  times = {part: [] for part in compiled}
  for c, s in compiled.values():
    jax.block_until_ready(c(s))
  rng = random.Random(0)
  for _ in range(repeats):
    for part in rng.sample(list(compiled), len(compiled)):
      c, s = compiled[part]
      t0 = time.perf_counter()
      jax.block_until_ready(c(s))
      times[part].append(1e6 * (time.perf_counter() - t0) / n)
  return times


def main(argv):
  """Prints one JSON line per part (see the module docstring)."""
  del argv
  n = agent_overhead.ITERATIONS.value
  compiled = {part: _compile(fn, CONFIGS[name], n,
                             agent_overhead.SEEDS.value)
              for part, (fn, name) in PARTS.items()}
  times = _time(compiled, n, agent_overhead.REPEATS.value)
  base = statistics.median(times["fixed"])
  for part, ts in times.items():
    print(json.dumps({
        "part": part, "us_per_iteration": statistics.median(ts),
        "us_per_iteration_q1": sorted(ts)[len(ts) // 4],
        "ratio": statistics.median(ts) / base,
        "load_1m": os.getloadavg()[0]}))


if __name__ == "__main__":
  app.run(main)
