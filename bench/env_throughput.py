"""Environment throughput against gymnax's CartPole-v1.

Every environment runs ``--n_envs`` copies (vmap) for ``--n_steps`` steps of
uniformly random actions inside one ``lax.scan`` under one ``jit``, through
:class:`tasks.wrappers.AutoReset`; the reference is gymnax 1.0's
``CartPole-v1`` (which resets inside ``step``) timed the same way in the same
run. Compilation is excluded (one warm-up call first) and every call ends in
``block_until_ready``. The reference is re-timed next to each environment
(interleaved repeats), and the ratio uses the fastest repeat of each, which
is robust to other processes loading the machine.

Prints one JSON object per environment with ``env``, ``n_envs``,
``steps_per_s`` (median over repeats), ``best_steps_per_s``,
``ratio_vs_gymnax_cartpole`` (best over best) and ``compile_s``, then a
summary against the targets (our CartPole >= 1.0x, every POPGym task
>= 0.5x) on stderr.

Usage::

  python bench/env_throughput.py                       # every registered env
  python bench/env_throughput.py --envs CartPole,TwoColors --n_envs 256

References:
  Lange, `gymnax: A JAX-based Reinforcement Learning Environment Library
  <https://github.com/RobertTLange/gymnax>`_, 2022.
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import gymnax
import jax
import jax.numpy as jnp

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import tasks  # noqa: E402
from tasks.wrappers import AutoReset  # noqa: E402

_REFERENCE = "gymnax/CartPole-v1"
_POPGYM_PREFIXES = (
    "Autoencode", "Battleship", "Concentration", "CountRecall", "HigherLower",
    "MineSweeper", "Minesweeper", "MultiarmedBandit", "NoisyPositionOnly",
    "NoisyStateless", "PositionOnly", "Repeat", "Stateless",
)


def make_runner(env, params, n_envs: int, n_steps: int):
  """A jitted ``run(key) -> total reward`` of ``n_envs x n_steps`` steps.

  Args:
    env: an environment with gymnax's API (``reset``, ``step``,
      ``action_space``).
    params: its parameters.
    n_envs: number of environments stepped in parallel (vmap).
    n_steps: number of steps (``lax.scan``).

  Returns:
    The jitted function.
  """
  action_space = env.action_space(params)
  reset = jax.vmap(env.reset, in_axes=(0, None))
  step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
  sample = jax.vmap(action_space.sample)

  def body(carry, key):
    state, total = carry
    key_act, key_step = jax.random.split(key)
    actions = sample(jax.random.split(key_act, n_envs))
    _, state, reward, _, _, _ = step(
        jax.random.split(key_step, n_envs), state, actions, params)
    return (state, total + jnp.sum(reward)), None

  @jax.jit
  def run(key):
    key_reset, key_run = jax.random.split(key)
    _, state = reset(jax.random.split(key_reset, n_envs), params)
    (_, total), _ = jax.lax.scan(
        body, (state, jnp.zeros((), jnp.float32)),
        jax.random.split(key_run, n_steps))
    return total

  return run


def _time(run, key) -> float:
  start = time.perf_counter()
  jax.block_until_ready(run(key))
  return time.perf_counter() - start


def _compile(run, key) -> float:
  start = time.perf_counter()
  jax.block_until_ready(run(key))  # warm-up call: trace + compile + run
  return time.perf_counter() - start


def bench_env(name, run, reference, repeats, n_envs, n_steps):
  """Times ``run`` interleaved with ``reference`` and returns one record."""
  key = jax.random.key(0)
  compile_s = _compile(run, key)
  times, ref_times = [], []
  for i in range(repeats):
    ref_times.append(_time(reference, jax.random.key(i)))
    times.append(_time(run, jax.random.key(i)))
  steps = n_envs * n_steps
  return {
      "env": name,
      "n_envs": n_envs,
      "steps_per_s": round(steps / statistics.median(times)),
      "best_steps_per_s": round(steps / min(times)),
      "ratio_vs_gymnax_cartpole": round(min(ref_times) / min(times), 3),
      "compile_s": round(compile_s, 2),
  }


def _targets(records) -> list[str]:
  lines = []
  for r in records:
    if r["env"] == "CartPole":
      target = 1.0
    elif r["env"].startswith(_POPGYM_PREFIXES):
      target = 0.5
    else:
      continue
    ok = "ok" if r["ratio_vs_gymnax_cartpole"] >= target else "BELOW TARGET"
    lines.append(f"{r['env']}: {r['ratio_vs_gymnax_cartpole']:.2f}x "
                 f"(target >= {target}x) {ok}")
  return lines


def main(argv=None) -> None:
  """Parses flags, runs the benchmark, prints JSON lines and a summary."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n_envs", type=int, default=1024)
  parser.add_argument("--n_steps", type=int, default=1000)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--envs", type=str, default="",
                      help="comma-separated names (default: all registered)")
  args = parser.parse_args(argv)
  names = [n for n in args.envs.split(",") if n] or list(tasks.registered())
  unknown = sorted(set(names) - set(tasks.registered()))
  if unknown:
    raise ValueError(f"Unknown environments {unknown}; valid choices: "
                     f"{', '.join(tasks.registered())}.")
  ref_env, ref_params = gymnax.make("CartPole-v1")
  reference = make_runner(ref_env, ref_params, args.n_envs, args.n_steps)
  records = [bench_env(_REFERENCE, reference, reference, args.repeats,
                       args.n_envs, args.n_steps)]
  print(json.dumps(records[0]), flush=True)
  for name in names:
    env, params = tasks.make(name)
    run = make_runner(AutoReset(env), params, args.n_envs, args.n_steps)
    records.append(bench_env(name, run, reference, args.repeats,
                             args.n_envs, args.n_steps))
    print(json.dumps(records[-1]), flush=True)
  for line in _targets(records):
    print(line, file=sys.stderr)


if __name__ == "__main__":
  main()
