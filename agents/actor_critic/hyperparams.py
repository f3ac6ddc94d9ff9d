"""Meta-parameters of the actor-critic agent and their context.

Learned hyperparameters are stored unconstrained and mapped by a bijection:
sigmoid for the entropy weight and λ, an affine sigmoid into (0.9, 1) for γ,
``exp`` for the learning rate and the value weight. With a context, each is
``bijection(g_ω(sg(c)))`` of an MLP of the tanh-normalised history of
per-update statistics (reward, value and TD-error mean and std).

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

import bootstrap_meta as bm
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.types import Array, MetaParams, PRNGKey

__all__ = [
    "NUM_STATS", "init_meta_params", "make_hyperparams_fn",
    "meta_param_specs", "trajectory_stats",
]

NUM_STATS = 6  # Reward, value and TD-error mean and std (Luketina, Table 5).


def meta_param_specs(config: ActorCriticConfig) -> dict[str, bm.MetaParam]:
  """Bijections and initial values of the learned hyperparameters."""
  make = {
      "entropy_weight": lambda v: bm.unit_interval(v),
      "discount": lambda v: bm.interval(v, low=0.9, high=1.0),
      "lambda_": lambda v: bm.unit_interval(v),
      "learning_rate": lambda v: bm.positive(v),
      "value_weight": lambda v: bm.positive(v),
  }
  return {n: make[n](getattr(config, n)) for n in config.learned}


def init_meta_params(key: PRNGKey, config: ActorCriticConfig) -> MetaParams:
  """Raw ``w`` (a dict), or one context MLP ``ω`` per learned name."""
  raw = bm.init_meta_params(meta_param_specs(config))
  if not config.context:
    return raw
  keys = jax.random.split(key, max(len(raw), 1))
  hidden = (config.context_hidden,) * 2
  return {
      name: bm.mlp_init(k, in_dim=config.context_history * NUM_STATS,
                        hidden=hidden, init_output=raw[name])
      for k, name in zip(keys, sorted(raw), strict=False)
  }


def make_hyperparams_fn(config: ActorCriticConfig) -> Callable:
  """``hyperparams(meta_params, features) -> dict`` of all five values.

  Learned values are ``bijection(w)`` or ``bijection(g_ω(features))``; the
  others are the config's fixed values.
  """
  specs = meta_param_specs(config)
  fixed = {n: getattr(config, n) for n in
           ("entropy_weight", "discount", "lambda_", "learning_rate",
            "value_weight") if n not in specs}

  def hyperparams(meta_params, features=None):
    if config.context:
      raw = {n: bm.mlp_apply(meta_params[n], features)[0] for n in specs}
    else:
      raw = meta_params
    return {**fixed, **bm.constrain(raw, specs)}

  return hyperparams


def trajectory_stats(traj: Trajectory, *, discount: float) -> Array:
  """``[6]``: reward, value and TD-error mean and std of a rollout."""
  values = traj.values.astype(jnp.float32)
  rewards = traj.rewards.astype(jnp.float32)
  not_done = 1.0 - traj.dones.astype(jnp.float32)
  td = rewards + discount * not_done * values[1:] - values[:-1]
  stats = [rewards.mean(), rewards.std(), values[:-1].mean(),
           values[:-1].std(), td.mean(), td.std()]
  return jax.lax.stop_gradient(jnp.stack(stats))
