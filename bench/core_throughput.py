"""Training throughput of the recurrent cores (S5 vs GRU, LSTM, MLP).

Times a jitted forward+backward pass of a small actor-critic-like loss
(policy-gradient + value + entropy terms on heads over the core's outputs)
through ``core.unroll`` on time-major ``[T, B]`` data with ~1% resets and a
non-zero initial state, as in the S5 experiments of Lu et al. (2023). Prints
one JSON object per (core, T):

* ``train_steps_per_s``: transitions (T x B) per second of one
  forward+backward pass, median over repeats, compile excluded;
* ``best_steps_per_s``: the same from the fastest repeat (robust to load
  from other processes on the machine);
* ``ratio_vs_gru``: ``train_steps_per_s`` over the GRU's at the same T;
* ``cpu_s_per_pass``: process CPU seconds (all threads) of one pass, median;
* ``cpu_ratio_vs_gru``: the GRU's CPU seconds per pass over this core's
  (throughput per CPU-second, robust when other processes share the cores);
* ``compile_s``: lowering + XLA compilation of the pass;
* ``params``: number of parameters of the core and heads.

Usage::

  python bench/core_throughput.py                     # the default table
  python bench/core_throughput.py --cores s5,gru --lengths 1024 --repeats 5

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import haiku as hk
import jax
import jax.numpy as jnp

from agents import cores

_OBS, _ACTIONS = 32, 4
# Bench variants: name -> (core kind, constructor kwargs given the width).
_VARIANTS = {
  "gru": ("gru", lambda w: {}),
  "lstm": ("lstm", lambda w: {}),
  "mlp": ("mlp", lambda w: {}),
  "s5": ("s5", lambda w: {}),
  "s5_2layer": ("s5", lambda w: {"num_layers": 2}),
  "s5_lite": (
    "s5",
    lambda w: {"activation": "half_glu1", "state_size": w // 2},
  ),
  "s5_associative": ("s5", lambda w: {"scan": "associative"}),
}


def make_loss(kind: str, *, width: int, **kwargs):
  """A pure ``loss(params, batch)`` and ``init(key, batch)`` for one core."""

  def forward(batch):
    obs, resets, actions, returns = batch
    core = cores.make_core(kind, width=width, **kwargs)
    state = core.initial_state(obs.shape[1])
    # A non-zero carried state, as in truncated BPTT across rollouts.
    state = jax.tree.map(lambda s: s + jnp.ones_like(s) * 0.1, state)
    y, _ = core.unroll(obs, resets, state)  # [T, B, H]
    logits = hk.Linear(_ACTIONS, name="policy")(y)
    value = hk.Linear(1, name="value")(y)[..., 0]
    log_pi = jax.nn.log_softmax(logits)
    adv = jax.lax.stop_gradient(returns - value)
    log_pi_a = jnp.take_along_axis(log_pi, actions[..., None], -1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, -1)
    pg = -jnp.mean(log_pi_a * adv)
    return pg + 0.5 * jnp.mean((returns - value) ** 2) - 0.01 * entropy.mean()

  return hk.without_apply_rng(hk.transform(forward))


def make_batch(key: jax.Array, *, length: int, batch: int):
  """Random observations, ~1% resets, actions and returns, time-major."""
  k_obs, k_reset, k_act, k_ret = jax.random.split(key, 4)
  obs = jax.random.normal(k_obs, (length, batch, _OBS))
  resets = (jax.random.uniform(k_reset, (length, batch)) < 0.01).astype(
    jnp.float32
  )
  actions = jax.random.randint(k_act, (length, batch), 0, _ACTIONS)
  returns = jax.random.normal(k_ret, (length, batch))
  return obs, resets, actions, returns


def measure(name: str, *, length: int, batch: int, width: int, repeats: int):
  """Compile time and per-repeat seconds of one forward+backward pass."""
  kind, kwargs = _VARIANTS[name]
  model = make_loss(kind, width=width, **kwargs(width))
  data = make_batch(jax.random.key(0), length=length, batch=batch)
  params = jax.jit(model.init)(jax.random.key(1), data)
  step = jax.jit(jax.value_and_grad(model.apply))
  start = time.perf_counter()
  compiled = step.lower(params, data).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(params, data))  # warm-up
  times, cpu_times = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(params, data))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  n_params = sum(x.size for x in jax.tree.leaves(params))
  return compile_s, times, cpu_times, n_params


def main() -> None:
  """Runs the table and prints one JSON object per (core, T)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cores", default="gru,lstm,mlp,s5,s5_lite,s5_2layer")
  parser.add_argument("--lengths", default="64,256,1024")
  parser.add_argument("--width", type=int, default=128)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args()
  names = args.cores.split(",")
  unknown = sorted(set(names) - set(_VARIANTS))
  if unknown:
    raise ValueError(f"Unknown cores {unknown}; valid: {sorted(_VARIANTS)}.")
  names = ["gru"] + [n for n in names if n != "gru"]  # GRU first: the ratio.
  for length in [int(t) for t in args.lengths.split(",")]:
    gru_rate = gru_cpu = None
    for name in names:
      compile_s, times, cpu_times, n_params = measure(
        name,
        length=length,
        batch=args.batch,
        width=args.width,
        repeats=args.repeats,
      )
      rate = length * args.batch / statistics.median(times)
      cpu = statistics.median(cpu_times)
      if name == "gru":
        gru_rate, gru_cpu = rate, cpu
      record = {
        "core": name,
        "T": length,
        "train_steps_per_s": round(rate, 1),
        "best_steps_per_s": round(length * args.batch / min(times), 1),
        "ratio_vs_gru": round(rate / gru_rate, 3),
        "cpu_s_per_pass": round(cpu, 4),
        "cpu_ratio_vs_gru": round(gru_cpu / cpu, 3),
        "compile_s": round(compile_s, 2),
        "params": int(n_params),
        "width": args.width,
        "batch": args.batch,
        "load_avg_1m": round(os.getloadavg()[0], 2),
      }
      print(json.dumps(record), flush=True)


if __name__ == "__main__":
  main()
