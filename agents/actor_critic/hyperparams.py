"""Meta-parameters of the actor-critic agent and their context.

Learned hyperparameters are stored unconstrained and mapped by a bijection:
sigmoid for the entropy weight and λ, an affine sigmoid into (0.9, 1) for γ,
``exp`` for the learning rate and the value weight. With a context, each is
``bijection(g_ω(sg(c)))`` of an MLP of the tanh-normalised history of
per-update statistics: the rollout-mean reward only (``context_stats =
"reward"``) or reward, value and TD-error mean and std (``"rich"``).

The context tracker always records all :data:`NUM_STATS` statistics (one
tracker layout for every kind); :func:`select_context` keeps the columns of
the configured kind, so the reward-only MLP reads ``H`` inputs: the
tanh-normalised history of rollout-mean rewards, newest first.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import bootstrap_meta as bm
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.types import Array, MetaParams, PRNGKey

__all__ = [
    "CONTEXT_COLUMNS", "NUM_STATS", "context_dim", "init_meta_params",
    "make_hyperparams_fn", "meta_param_specs", "pretrain_mlp",
    "select_context", "trajectory_stats",
]

NUM_STATS = 6  # Reward, value and TD-error mean and std (Luketina, Table 5).
#: Columns of :func:`trajectory_stats` that each context kind reads
#: (``len`` is the number of statistics per update of that kind).
CONTEXT_COLUMNS: dict[str, tuple[int, ...]] = {
    "reward": (0,),  # Rollout-mean reward.
    "rich": tuple(range(NUM_STATS)),
}


def context_dim(config: ActorCriticConfig) -> int:
  """Input size of the context MLP: ``H`` × statistics of the kind."""
  return config.context_history * len(CONTEXT_COLUMNS[config.context_stats])


def select_context(config: ActorCriticConfig, features: Array) -> Array:
  """The context of the configured kind from the tracker's features.

  Args:
    config: reads ``context_history`` and ``context_stats``.
    features: ``[H * NUM_STATS]``, ``bootstrap_meta.context_features`` of a
      tracker of :func:`trajectory_stats` (newest update first).

  Returns:
    ``[context_dim(config)]``, update-major (``[H, S]`` flattened).
  """
  columns = CONTEXT_COLUMNS[config.context_stats]
  if len(columns) == NUM_STATS:
    return features
  history = features.reshape(config.context_history, NUM_STATS)
  return history[:, jnp.asarray(columns)].reshape(-1)


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
  init = pretrain_mlp if config.context_pretrain else bm.mlp_init
  return {
      name: init(k, in_dim=context_dim(config),
                 hidden=hidden, init_output=raw[name])
      for k, name in zip(keys, sorted(raw), strict=False)
  }


_PRETRAIN_STEPS = 500  # Adam steps of the regression to the start value.
_PRETRAIN_BATCH = 256  # Contexts per step, drawn from U[-1, 1].


def pretrain_mlp(key: PRNGKey, *, in_dim: int, hidden: tuple[int, ...],
                 init_output: float | Array) -> list:
  """A context MLP from a random start, regressed to ``init_output``.

  Every layer (the output layer too) starts random, so that all of them
  get meta-gradient from the start; the network is then fitted to output
  ``init_output`` on contexts drawn uniformly from ``[-1, 1]`` (Luketina et
  al., §3.3: pre-trained to the middle of the range), by Adam (1e-2) on the
  squared error. Deterministic given ``key``.

  Args:
    key: a PRNG key.
    in_dim: context dimension.
    hidden: hidden widths.
    init_output: the raw (unconstrained) output to fit.

  Returns:
    MLP parameters as :func:`bootstrap_meta.mlp_init`.
  """
  init_key, out_key, data_key = jax.random.split(key, 3)
  params = bm.mlp_init(init_key, in_dim=in_dim, hidden=hidden,
                       init_output=init_output)
  w, b = params[-1]
  w = jax.random.normal(out_key, w.shape, w.dtype) / jnp.sqrt(w.shape[0])
  params = [*params[:-1], (w, b)]
  opt = optax.adam(1e-2)

  def step(carry, k):
    p, s = carry
    c = jax.random.uniform(k, (_PRETRAIN_BATCH, in_dim), minval=-1.0,
                           maxval=1.0)
    loss = lambda p: jnp.mean(  # noqa: E731
        (jax.vmap(lambda x: bm.mlp_apply(p, x))(c) - init_output) ** 2)
    u, s = opt.update(jax.grad(loss)(p), s, p)
    return (optax.apply_updates(p, u), s), None

  keys = jax.random.split(data_key, _PRETRAIN_STEPS)
  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys)
  return params


def make_hyperparams_fn(config: ActorCriticConfig) -> Callable:
  """``hyperparams(meta_params, features) -> dict`` of all five values.

  Learned values are ``bijection(w)`` or ``bijection(g_ω(c))`` with ``c =
  select_context(config, features)`` (``features``: the tracker's full
  ``[H * NUM_STATS]`` vector); the others are the config's fixed values.
  """
  specs = meta_param_specs(config)
  fixed = {n: getattr(config, n) for n in
           ("entropy_weight", "discount", "lambda_", "learning_rate",
            "value_weight") if n not in specs}

  def hyperparams(meta_params, features=None):
    if config.context:
      c = select_context(config, features)
      raw = {n: bm.mlp_apply(meta_params[n], c)[0] for n in specs}
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
