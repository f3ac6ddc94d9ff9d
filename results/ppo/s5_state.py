"""Why a recurrent core falls past its training horizon: its state's growth.

Restores the final checkpoint of ``launch.run_meta_cartpole`` run
directories and, per seed:

* for an S5, each layer's per-step log-magnitude ``Re(Λ)·Δ`` of every mode
  (:func:`mode_rates`; ``> 0``: an unstable mode, whose state grows
  geometrically; near 0: an integrator);
* evaluates ``--episodes`` whole episodes of ``--trials`` trials and records
  the mean square of every state entry in each trial (:func:`rollouts`);
* evaluates the same episodes again with each entry's magnitude clamped,
  from trial ``--clamp_from`` + 1 on, to the largest it reached in the
  trials before (a causal test: if the return then holds, the state's
  growth past the training horizon is what made it fall).

It prints one row per run: unstable modes per layer, the state's RMS in
trials 29–32 ÷ 13–16 per layer (stable and unstable S5 modes apart), and
the mean return per trial in 13–16, 29–32 and 29–32 clamped (mean over
seeds, then per seed)::

  python results/ppo/s5_state.py "S5 12M=/work/runs/…/s5" "GRU=/work/runs/…/gru"

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023 (Fig. 3).
  Smith, Warrington and Linderman, `Simplified State Space Layers for
  Sequence Modeling <https://arxiv.org/abs/2208.04933>`_, 2023.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from agents.actor_critic import acting  # noqa: E402
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402
from agents.actor_critic.evaluation import (  # noqa: E402
    _meta_env,
    _trial_limit,
    step_episodes,
)
from agents.actor_critic.training import make_agent  # noqa: E402
from launch import run_meta_cartpole as rmc  # noqa: E402
from launch.loop import RunSettings  # noqa: E402
from tasks.wrappers import PrevActionObs  # noqa: E402


def mode_rates(params: dict[str, Any], *,
               max_timescale: float = 0.0,
               clip_eigs: bool = False) -> list[np.ndarray]:
  """Per S5 layer (in name order), ``Re(Λ)·Δ`` of every mode, ``[..., P]``.

  Under ZOH ``|λ̄| = exp(Re(Λ)·Δ)``: the mode's state is multiplied by
  that every step. ``clip_eigs`` and ``max_timescale`` apply the core's
  clamps (:class:`agents.cores.S5SSM`).
  """
  rates = []
  for name in sorted(k for k in params if "lambda_re" in params[k]):
    lam_re = np.asarray(params[name]["lambda_re"], np.float64)
    if clip_eigs:
      lam_re = np.minimum(lam_re, -1e-4)
    step = np.exp(np.asarray(params[name]["log_step"], np.float64))
    if max_timescale:
      lam_re = np.minimum(lam_re, -1.0 / (max_timescale * step))
    rates.append(lam_re * step)
  return rates


def _rollout(agent, params, key, caps, *, num_trials: int, num_episodes: int,
             clamp_from: int | None):
  """One seed: per-trial returns [E, n], per-trial mean squares and the
  per-entry maximum magnitude in trials before ``clamp_from``; with
  ``caps``, magnitudes are clamped to them from trial ``clamp_from`` on."""
  env = PrevActionObs(_meta_env(agent))
  env_params = dataclasses.replace(agent.env_params, num_trials=num_trials,
                                   min_trials=0)
  n, e = num_trials, num_episodes
  max_steps = n * _trial_limit(env_params.inner)
  reset_key, key = jax.random.split(key)
  obs, state = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(reset_key, e), env_params)
  core = agent.networks.initial_state(e)
  zeros = [jnp.zeros(x.shape[1:], jnp.float32) for x in jax.tree.leaves(core)]
  carry = (jnp.int32(0), obs, jnp.ones((e,), bool), core, state,
           jnp.ones((e,), bool), jnp.zeros((e,), jnp.int32),
           jnp.zeros((e, n)), [jnp.zeros((n,) + z.shape) for z in zeros],
           jnp.zeros((n,)), zeros, key)

  def clamp(core, trial):
    late = (trial >= clamp_from)[:, None]
    def one(x, cap):
      mag, cap = jnp.abs(x), cap[None]
      scale = jnp.where(late & (mag > cap), cap / jnp.maximum(mag, 1e-30),
                        1.0)
      return x * scale.astype(x.dtype)

    return jax.tree.map(one, core, jax.tree.unflatten(
        jax.tree.structure(core), caps))

  def body(c):
    t, obs, reset, core, state, alive, trial, totals, sq, count, top, key = c
    out, _, core = agent.networks.step(params, obs, reset, core)
    if caps is not None:
      core = clamp(core, trial)
    live = jax.nn.one_hot(trial, n) * alive[:, None]  # [E, n]
    mags = [jnp.abs(x).astype(jnp.float32) for x in jax.tree.leaves(core)]
    sq = [s + jnp.einsum("en,e...->n...", live, m ** 2)
          for s, m in zip(sq, mags, strict=True)]
    if clamp_from is not None:
      early = (alive & (trial < clamp_from))[:, None]
      top = [jnp.maximum(tp, jnp.max(jnp.where(early, m, 0.0), axis=0))
             for tp, m in zip(top, mags, strict=True)]
    key, act_key, env_key = jax.random.split(key, 3)
    action = acting.sample(act_key, out, continuous=False)
    obs, state, gain, still, now = step_episodes(
        env, env_params, state, action, env_key, alive, n)
    return (t + 1, obs, jnp.zeros_like(reset), core, state, still, now,
            totals + gain, sq, count + live.sum(0), top, key)

  c = jax.lax.while_loop(
      lambda c: (c[0] < max_steps) & jnp.any(c[5]), body, carry)
  mean_sq = [s / jnp.maximum(c[9], 1.0).reshape((n,) + (1,) * (s.ndim - 1))
             for s in c[8]]
  return c[7], mean_sq, c[10]


def _load(run_dir: str):
  """``(agent config, agent, params [S, ...], evaluation keys [S])``."""
  with open(os.path.join(run_dir, "config.json")) as f:
    saved = json.load(f)
  agent = ActorCriticConfig(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in saved["agent"].items()})
  config = rmc.MetaCartPoleConfig(agent=agent, settings=RunSettings(
      seed=saved["run"]["seed"], num_seeds=saved["run"]["num_seeds"]))
  return (agent, make_agent(agent), rmc._restore_params(config, run_dir),
          rmc._eval_keys(config))


def rollouts(run_dir: str, *, num_trials: int, num_episodes: int,
             clamp_from: int | None = None) -> dict[str, Any]:
  """Evaluation episodes of a finished run, plain and (optionally) clamped.

  Uses :func:`launch.run_meta_cartpole.evaluate_run`'s keys, so
  ``returns`` equals :func:`launch.run_meta_cartpole.episode_returns`.

  Returns:
    ``{"returns": [S, E, n], "mean_sq": per state leaf [S, n, ...] (the
    mean square of each entry in each trial), "rates": :func:`mode_rates`
    of the run's parameters}`` and, with ``clamp_from``,
    ``"clamped": [S, E, n]``, the same episodes with every state entry's
    magnitude clamped from trial ``clamp_from`` on to the largest it had
    (over episodes) in the trials before.
  """
  config, agent, params, keys = _load(run_dir)
  sizes = dict(num_trials=num_trials, num_episodes=num_episodes,
               clamp_from=clamp_from)
  plain = jax.jit(jax.vmap(lambda p, k: _rollout(agent, p, k, None,
                                                 **sizes)))
  returns, mean_sq, top = jax.device_get(plain(params, keys))
  out = {"returns": np.asarray(returns),
         "mean_sq": [np.asarray(m) for m in mean_sq],
         "rates": mode_rates(jax.device_get(params),
                             max_timescale=config.max_timescale,
                             clip_eigs=config.clip_eigs)}
  if clamp_from is not None:
    clamped = jax.jit(jax.vmap(lambda p, k, caps: _rollout(
        agent, p, k, caps, **sizes)[0]))
    out["clamped"] = np.asarray(clamped(params, keys, top))
  return out


def _growth(mean_sq: np.ndarray, late: slice, base: slice) -> np.ndarray:
  """RMS over entries of trials ``late`` ÷ of trials ``base``, per seed."""
  flat = mean_sq.reshape(mean_sq.shape[:2] + (-1,))
  return np.sqrt(flat[:, late].mean((1, 2)) / flat[:, base].mean((1, 2)))


def summary_row(label: str, out: dict[str, Any]) -> str:
  """The markdown row of one run (see the module docstring)."""
  base, late = slice(12, 16), slice(28, 32)
  unstable = " / ".join(f"{np.mean((r > 0).sum(-1)):.1f}"
                        for r in out["rates"]) or "–"
  growth = []
  for i, m in enumerate(out["mean_sq"]):
    if out["rates"]:
      up = out["rates"][i] > 0  # [S, P]
      parts = [np.mean([_growth(m[s:s + 1][..., sel[s]], late, base)
                        for s in range(m.shape[0]) if sel[s].any()])
               if sel.any() else np.nan for sel in (~up, up)]
      growth.append(" / ".join("–" if np.isnan(x) else f"{x:.2f}"
                               for x in parts))
    else:
      growth.append(f"{np.mean(_growth(m, late, base)):.2f}")

  def trials(r, s):
    per_seed = r[:, :, s].mean((1, 2))
    return (f"{per_seed.mean():.3f} ("
            + ", ".join(f"{x:.3f}" for x in per_seed) + ")")

  cells = [label, unstable, "; ".join(growth),
           trials(out["returns"], base), trials(out["returns"], late),
           trials(out["clamped"], late) if "clamped" in out else "–"]
  return "| " + " | ".join(cells) + " |"


HEADER = ("| run | unstable modes per layer | state RMS 29–32 ÷ 13–16 per "
          "layer (stable / unstable modes) | return 13–16 | 29–32 | "
          "29–32, state clamped |\n| --- | --- | --- | --- | --- | --- |")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("runs", nargs="+", help="LABEL=run_dir")
  parser.add_argument("--trials", type=int, default=32)
  parser.add_argument("--episodes", type=int, default=64)
  parser.add_argument("--clamp_from", type=int, default=16)
  args = parser.parse_args(argv)
  if args.trials < 32:
    parser.error("--trials must be >= 32 (the row compares trials 29-32).")
  print(HEADER)
  for spec in args.runs:
    label, _, path = spec.rpartition("=")
    out = rollouts(path, num_trials=args.trials, num_episodes=args.episodes,
                   clamp_from=args.clamp_from)
    print(summary_row(label or path, out), flush=True)


if __name__ == "__main__":
  main()
