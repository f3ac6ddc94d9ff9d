r"""Demo: meta-learn Adam's learning rate and β₁ (or weight decay) online.

A small MLP regresses a random teacher network on synthetic data (made with
``jax.random``; no downloads). Adam's learning rate and a second
hyperparameter (``b1``, or ``weight_decay`` with ``optax.adamw``) are learned
while the network trains, by bootstrapped meta-gradients (BMG) through the
drop-in transform :func:`bootstrap_meta.meta_learned`; the outer objective is
the loss on a held-out validation batch. A fixed Adam with the same initial
values sees the same batches, side by side. The learned values and both
losses are printed every ``--log_every`` steps.

Command (the default size takes about 20 s of CPU time, two thirds of it
compilation)::

  python -m launch.run_demo --method=bmg --second=b1 --steps=2000

Other methods: ``--method=mg`` (unrolled, ``K`` steps) or
``--method=optimistic`` (MG with an optimistic meta-update).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from absl import app, flags

import bootstrap_meta as bm
from launch import flag_checks

# Launchers are imported side by side by the tests; flag names that another
# launcher also defines (--seed, --steps, --method, ...) must not raise absl's
# DuplicateFlagError there. Only the launcher run as __main__ parses flags.
_FLAG_KW = dict(allow_override=True)

METHODS = ("bmg", "mg", "optimistic")
SECONDS = ("b1", "weight_decay")

METHOD = flags.DEFINE_enum(
  "method", "bmg", METHODS, "Meta-gradient method.", **_FLAG_KW
)
SECOND = flags.DEFINE_enum(
  "second",
  "b1",
  SECONDS,
  "Second learned hyperparameter: Adam's b1, or AdamW's weight_decay.",
  **_FLAG_KW,
)
STEPS = flags.DEFINE_integer("steps", 2000, "Learner steps.", **_FLAG_KW)
LOG_EVERY = flags.DEFINE_integer(
  "log_every", 250, "Print every N steps.", **_FLAG_KW
)
BATCH_SIZE = flags.DEFINE_integer(
  "batch_size", 64, "Minibatch size.", **_FLAG_KW
)
HIDDEN = flags.DEFINE_integer(
  "hidden", 32, "Width of the two hidden layers.", **_FLAG_KW
)
NUM_TRAIN = flags.DEFINE_integer(
  "num_train", 4096, "Training examples.", **_FLAG_KW
)
LEARNING_RATE = flags.DEFINE_float(
  "learning_rate",
  3e-4,
  "Initial (and fixed-baseline) learning rate.",
  **_FLAG_KW,
)
B1 = flags.DEFINE_float(
  "b1", 0.9, "Initial (and fixed-baseline) b1.", **_FLAG_KW
)
WEIGHT_DECAY = flags.DEFINE_float(
  "weight_decay", 1e-4, "Initial (and fixed-baseline) weight decay.", **_FLAG_KW
)
META_LEARNING_RATE = flags.DEFINE_float(
  "meta_learning_rate",
  3e-3,
  "Adam step size on the raw meta-parameters.",
  **_FLAG_KW,
)
K_STEPS = flags.DEFINE_integer(
  "K", 2, "Differentiable inner steps.", **_FLAG_KW
)
L_STEPS = flags.DEFINE_integer(
  "L", 2, "BMG target bootstrap length.", **_FLAG_KW
)
TARGET_LEARNING_RATE = flags.DEFINE_float(
  "target_learning_rate",
  3e-4,
  "BMG: step size of the RMSProp step that ends the target.",
  **_FLAG_KW,
)
MAX_LEARNING_RATE = flags.DEFINE_float(
  "max_learning_rate",
  0.0,
  "Optional ceiling of the learned learning rate (a scaled sigmoid); 0: "
  "none (BMG's average-velocity target does not ratchet, docs/ratchet.md).",
  **_FLAG_KW,
)
HINT_WEIGHT = flags.DEFINE_float(
  "hint_weight", 0.9, "Optimistic: weight of the hint difference.", **_FLAG_KW
)
SEED = flags.DEFINE_integer(
  "seed", 0, "Random seed (data and init).", **_FLAG_KW
)

_INPUT_DIM = 8
_TEACHER_HIDDEN = 16
_NOISE_STD = 0.05
_NUM_HELDOUT = 1024  # Size of the validation set and of the test set.
_META_ADAM_EPS = 1e-4  # As in the papers' meta-optimisers.


@dataclasses.dataclass(frozen=True)
class DemoConfig:
  """Configuration of the demo (see the flags for the meaning of each)."""

  method: str = "bmg"
  second: str = "b1"
  steps: int = 2000
  log_every: int = 250
  batch_size: int = 64
  hidden: int = 32
  num_train: int = 4096
  learning_rate: float = 3e-4
  b1: float = 0.9
  weight_decay: float = 1e-4
  meta_learning_rate: float = 3e-3
  K: int = 2
  L: int = 2
  target_learning_rate: float = 3e-4
  max_learning_rate: float | None = None
  hint_weight: float = 0.9
  seed: int = 0
  verbose: bool = True

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"Unknown method {self.method!r}; valid: {METHODS}.")
    if self.second not in SECONDS:
      raise ValueError(
        f"Unknown second hyperparameter {self.second!r}; valid: {SECONDS}."
      )
    for name in (
      "steps",
      "log_every",
      "batch_size",
      "hidden",
      "num_train",
      "K",
      "L",
    ):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
    if self.steps % self.log_every:
      raise ValueError(
        f"log_every ({self.log_every}) must divide steps ({self.steps})."
      )
    for name in ("learning_rate", "weight_decay", "target_learning_rate"):
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
    if self.max_learning_rate is not None and not (
        self.max_learning_rate > self.learning_rate):
      raise ValueError(
        f"max_learning_rate ({self.max_learning_rate}) must "
        f"exceed learning_rate ({self.learning_rate})."
      )
    if not 0 < self.b1 < 1:
      raise ValueError(f"b1 must lie in (0, 1), got {self.b1}.")
    if self.meta_learning_rate < 0 or self.hint_weight < 0:
      raise ValueError("meta_learning_rate and hint_weight must be >= 0.")


def build_config() -> DemoConfig:
  """Reads the flags into a :class:`DemoConfig` (validated)."""
  return DemoConfig(
    method=METHOD.value,
    second=SECOND.value,
    steps=STEPS.value,
    log_every=LOG_EVERY.value,
    batch_size=BATCH_SIZE.value,
    hidden=HIDDEN.value,
    num_train=NUM_TRAIN.value,
    learning_rate=LEARNING_RATE.value,
    b1=B1.value,
    weight_decay=WEIGHT_DECAY.value,
    meta_learning_rate=META_LEARNING_RATE.value,
    K=K_STEPS.value,
    L=L_STEPS.value,
    target_learning_rate=TARGET_LEARNING_RATE.value,
    max_learning_rate=MAX_LEARNING_RATE.value or None,
    hint_weight=HINT_WEIGHT.value,
    seed=SEED.value,
  )


class Data(NamedTuple):
  """Inputs ``[N, D]`` and targets ``[N]`` of the three splits."""

  x_train: jax.Array
  y_train: jax.Array
  x_valid: jax.Array
  y_valid: jax.Array
  x_test: jax.Array
  y_test: jax.Array


def make_data(key: jax.Array, *, num_train: int) -> Data:
  """Teacher-network regression data: ``y = tanh(x W₁) w₂ + noise``."""
  k_x, k_w1, k_w2, k_noise = jax.random.split(key, 4)
  n = num_train + 2 * _NUM_HELDOUT
  x = jax.random.normal(k_x, (n, _INPUT_DIM))
  w1 = jax.random.normal(k_w1, (_INPUT_DIM, _TEACHER_HIDDEN))
  w2 = jax.random.normal(k_w2, (_TEACHER_HIDDEN,)) / _TEACHER_HIDDEN**0.5
  y = jnp.tanh(x @ w1 / _INPUT_DIM**0.5) @ w2
  y = y + _NOISE_STD * jax.random.normal(k_noise, (n,))
  a, b = num_train, num_train + _NUM_HELDOUT
  return Data(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def init_mlp(key: jax.Array, *, hidden: int) -> dict[str, jax.Array]:
  """A ``D → hidden → hidden → 1`` ReLU MLP (LeCun-normal weights)."""
  sizes = (_INPUT_DIM, hidden, hidden, 1)
  params = {}
  for i, (k, m, n) in enumerate(
    zip(jax.random.split(key, 3), sizes[:-1], sizes[1:], strict=True)
  ):
    params[f"w{i}"] = jax.random.normal(k, (m, n)) / m**0.5
    params[f"b{i}"] = jnp.zeros((n,))
  return params


def mlp_apply(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
  """Predictions ``[N]`` of :func:`init_mlp`'s network on ``x`` ``[N, D]``."""
  h = jax.nn.relu(x @ params["w0"] + params["b0"][None])
  h = jax.nn.relu(h @ params["w1"] + params["b1"][None])
  return (h @ params["w2"] + params["b2"][None])[:, 0]


def mse(params, x: jax.Array, y: jax.Array) -> jax.Array:
  """Mean squared error of the MLP on ``(x, y)``."""
  return jnp.mean(jnp.square(mlp_apply(params, x) - y))


def _factory_and_values(config: DemoConfig):
  if config.second == "b1":
    return optax.adam, {"learning_rate": config.learning_rate, "b1": config.b1}
  return optax.adamw, {
    "learning_rate": config.learning_rate,
    "weight_decay": config.weight_decay,
  }


def make_method(config: DemoConfig) -> bm.MG | bm.BMG | bm.Optimistic:
  """The meta-gradient method named by ``config.method``."""
  if config.method == "bmg":
    return bm.BMG(
      K=config.K,
      L=config.L,
      target_optimizer=optax.rmsprop(config.target_learning_rate),
    )
  if config.method == "mg":
    return bm.MG(K=config.K)
  return bm.Optimistic(bm.MG(K=config.K), hint_weight=config.hint_weight)


def make_optimizers(config: DemoConfig):
  """``(meta_learned_tx, fixed_tx)``: same factory, same initial values."""
  factory, values = _factory_and_values(config)
  # No ceiling by default: the average-velocity BMG target does not ratchet
  # (docs/ratchet.md). An optional one is a scaled sigmoid.
  lr, cap = values["learning_rate"], config.max_learning_rate
  specs = {"learning_rate": bm.positive(lr) if cap is None
           else bm.interval(lr, low=0.0, high=cap)}
  if config.second == "b1":
    specs["b1"] = bm.unit_interval(config.b1)
  else:
    specs["weight_decay"] = bm.positive(config.weight_decay)
  meta_tx = bm.meta_learned(
    factory,
    learned=specs,
    method=make_method(config),
    meta_optimizer=optax.adam(config.meta_learning_rate, eps=_META_ADAM_EPS),
  )
  # The same eps_root as the meta-learned transform uses by default.
  fixed_tx = factory(**values, eps_root=1e-8)
  return meta_tx, fixed_tx


class Carry(NamedTuple):
  """Both learners' parameters and optimiser states."""

  meta_params: dict[str, jax.Array]
  meta_state: bm.MetaLearnedState
  fixed_params: dict[str, jax.Array]
  fixed_state: optax.OptState


def make_chunk_fn(config: DemoConfig, data: Data, meta_tx, fixed_tx):
  """A jitted ``chunk(carry, keys) -> (carry, metrics)``: one scan of steps."""

  def sample(key, x, y):
    idx = jax.random.randint(key, (config.batch_size,), 0, x.shape[0])
    return x[idx], y[idx]

  def step(carry: Carry, key):
    k_train, k_valid = jax.random.split(key)
    xb, yb = sample(k_train, data.x_train, data.y_train)
    xv, yv = sample(k_valid, data.x_valid, data.y_valid)
    grads = jax.grad(mse)(carry.meta_params, xb, yb)
    u, meta_state = meta_tx.update(
      grads,
      carry.meta_state,
      carry.meta_params,
      value_fn=lambda p: mse(p, xv, yv),
    )
    meta_params = optax.apply_updates(carry.meta_params, u)
    grads = jax.grad(mse)(carry.fixed_params, xb, yb)
    u, fixed_state = fixed_tx.update(
      grads, carry.fixed_state, carry.fixed_params
    )
    fixed_params = optax.apply_updates(carry.fixed_params, u)
    metrics = {
      "meta/train_loss": mse(carry.meta_params, xb, yb),
      "fixed/train_loss": mse(carry.fixed_params, xb, yb),
      **{f"meta/{k}": v for k, v in meta_state.hyperparams.items()},
    }
    return Carry(meta_params, meta_state, fixed_params, fixed_state), metrics

  return jax.jit(lambda carry, keys: jax.lax.scan(step, carry, keys))


def _log(config: DemoConfig, step: int, metrics, elapsed: float) -> None:
  if not config.verbose:
    return
  values = " ".join(
    f"{k}={float(v[-1]):.4g}"
    for k, v in metrics.items()
    if k.startswith("meta/") and "loss" not in k
  )
  meta = float(metrics["meta/train_loss"].mean())
  fixed = float(metrics["fixed/train_loss"].mean())
  print(
    f"step {step:6d}  train loss: meta-learned {meta:.4f}  "
    f"fixed {fixed:.4f}  {values}  ({elapsed:.1f}s)",
    flush=True,
  )


def run(*, config: DemoConfig) -> dict[str, float]:
  """Trains both learners side by side; returns the final metrics.

  Args:
    config: the :class:`DemoConfig`.

  Returns:
    A flat dict of floats: test losses at the start and the end
    (``initial/test_loss``, ``meta/test_loss``, ``fixed/test_loss``), the
    last chunk's mean training losses, the final learned hyperparameter values
    (``meta/learning_rate``, ``meta/b1`` or ``meta/weight_decay``) and
    ``meta/num_skipped`` (skipped non-finite meta-steps).
  """
  k_data, k_init, k_steps = jax.random.split(jax.random.key(config.seed), 3)
  data = make_data(k_data, num_train=config.num_train)
  params = init_mlp(k_init, hidden=config.hidden)
  meta_tx, fixed_tx = make_optimizers(config)
  carry = Carry(params, meta_tx.init(params), params, fixed_tx.init(params))
  chunk = make_chunk_fn(config, data, meta_tx, fixed_tx)
  num_chunks = config.steps // config.log_every
  keys = jax.random.split(k_steps, config.steps).reshape(
    num_chunks, config.log_every
  )
  start = time.perf_counter()
  for i in range(num_chunks):
    carry, metrics = chunk(carry, keys[i])
    _log(
      config, (i + 1) * config.log_every, metrics, time.perf_counter() - start
    )
  out = {
    "initial/test_loss": mse(params, data.x_test, data.y_test),
    "meta/test_loss": mse(carry.meta_params, data.x_test, data.y_test),
    "fixed/test_loss": mse(carry.fixed_params, data.x_test, data.y_test),
    "meta/num_skipped": carry.meta_state.num_skipped,
  }
  out.update({k: v[-1] for k, v in metrics.items()})
  out["meta/train_loss"] = metrics["meta/train_loss"].mean()
  out["fixed/train_loss"] = metrics["fixed/train_loss"].mean()
  return {k: float(v) for k, v in out.items()}


def main(argv):
  """Runs the demo from the command-line flags and prints the summary."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = build_config()
  metrics = run(config=config)
  ratio = metrics["meta/test_loss"] / metrics["fixed/test_loss"]
  print(
    f"final test loss: meta-learned {metrics['meta/test_loss']:.5f}, "
    f"fixed Adam {metrics['fixed/test_loss']:.5f} (ratio {ratio:.2f}); "
    f"learning rate {config.learning_rate:g} -> "
    f"{metrics['meta/learning_rate']:.4g}"
  )
  if not math.isfinite(metrics["meta/test_loss"]):
    raise SystemExit("meta-learned run diverged")


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  flag_checks.at_least(
    1, "steps", "log_every", "batch_size", "hidden", "num_train", "K", "L"
  )
  flag_checks.greater_than(
    0, "learning_rate", "weight_decay", "target_learning_rate"
  )
  flag_checks.at_least(
    0, "meta_learning_rate", "hint_weight", "max_learning_rate"
  )
  flag_checks.within("b1", 0, 1, closed="()")
  flag_checks.rule(
    ["steps", "log_every"],
    lambda v: "--log_every must divide --steps."
    if v["steps"] % v["log_every"]
    else None,
  )
  flag_checks.rule(
    ["max_learning_rate", "learning_rate"],
    lambda v: "--max_learning_rate must be 0 (none) or exceed "
    "--learning_rate."
    if 0 < v["max_learning_rate"] <= v["learning_rate"]
    else None,
  )
  flag_checks.refuse_unless(
    ["L", "target_learning_rate"],
    flag="method",
    values=("bmg",),
    why="only BMG has a target.",
  )
  flag_checks.refuse_unless(
    ["hint_weight"],
    flag="method",
    values=("optimistic",),
    why="only the optimistic method has a hint.",
  )
  flag_checks.refuse_unless(
    ["b1"], flag="second", values=("b1",), why="AdamW keeps its default b1."
  )
  flag_checks.refuse_unless(
    ["weight_decay"],
    flag="second",
    values=("weight_decay",),
    why="Adam has no weight decay.",
  )


if __name__ == "__main__":
  register_validators()
  app.run(main)
