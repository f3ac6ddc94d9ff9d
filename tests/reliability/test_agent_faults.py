"""Faults in the actor-critic agent never reach its (meta-)parameters.

NaN / +Inf observations and rewards come from :class:`FaultyEnv` at chosen
environment steps; a non-finite gradient (with a finite loss) from a loss
hook that poisons the backward pass of a rollout carrying a sentinel
reward; a non-finite meta-gradient from the same hook on ``w``. Each case
injects two faults in a 6-iteration run of plain A2C (MLP or S5 core), MG
or BMG with a context (Luketina et al. 2022) and checks: every parameter
and meta-parameter stays finite, the skips are counted in the metrics, the
run is bit-identical to the fault-free run before the first fault, and
the skipped step is exact (the kept state equals the state before it, or the
fault-free run's where the fault cannot touch it).
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from agents.actor_critic import learning, losses, training
from agents.actor_critic.config import ActorCriticConfig
from tests.reliability import _faults

_T = 8  # Rollout length.
_ITERATIONS = 6
_FAULT_ITERATIONS = (2, 4)

_CONFIGS = {
    "a2c": dict(method="none"),
    # A recurrent core with a multiplicative reset: a NaN observation would
    # stay in its state for good unless the rollout heals it.
    "a2c-s5": dict(method="none", core="s5", width=8, num_layers=1),
    "mg": dict(method="mg", K=1, learned=("entropy_weight", "learning_rate")),
    "bmg-context": dict(method="bmg", K=1, L=2, context=True,
                        context_history=2, context_hidden=4,
                        learned=("entropy_weight", "learning_rate")),
}

# (method, fault kind, rollout slot within the iteration, learner steps
#  skipped per fault, meta-steps skipped per fault). Slots: A2C has one
# rollout per iteration; MG K=1 has (inner, outer); BMG K=1 L=2 has
# (inner, target step, final target).
FAULT_CASES = [
    ("a2c", "obs_nan", 0, 1, 0),
    ("a2c", "obs_inf", 0, 1, 0),
    ("a2c", "reward_nan", 0, 1, 0),
    ("a2c", "reward_inf", 0, 1, 0),
    ("a2c", "sentinel", 0, 1, 0),  # NaN gradient, finite loss.
    ("a2c-s5", "obs_nan", 0, 1, 0),
    ("mg", "obs_nan", 0, 1, 0),  # Skipped step: exact zero meta-gradient.
    ("mg", "reward_inf", 0, 1, 0),
    ("mg", "obs_nan", 1, 0, 1),  # NaN outer loss.
    ("mg", "sentinel", 0, 1, 1),  # NaN gradient in the unrolled step.
    ("mg", "sentinel", 1, 0, 1),  # NaN meta-gradient, finite meta-loss.
    ("bmg-context", "obs_nan", 0, 1, 0),
    ("bmg-context", "reward_nan", 1, 1, 0),  # In the target's step.
    ("bmg-context", "obs_inf", 2, 0, 1),  # NaN matching loss.
    ("bmg-context", "sentinel", 2, 0, 1),  # NaN meta-gradient.
]
#: Faults injected by this module (two per case).
NUM_FAULTS = len(FAULT_CASES) * len(_FAULT_ITERATIONS)


def _slots(method: str) -> int:
  return {"a2c": 1, "a2c-s5": 1, "mg": 2, "bmg-context": 3}[method]


@functools.cache
def _agent(method: str):
  """The agent acting in a FaultyEnv, with gradient and meta-gradient hooks
  that fire on rollouts carrying the sentinel reward."""
  kwargs = {"core": "mlp", "width": 16, **_CONFIGS[method]}
  config = ActorCriticConfig(task="RepeatPreviousEasy", num_envs=4,
                             unroll_length=_T, **kwargs)
  agent = training.make_agent(config)
  base = losses.make_a2c_loss(agent.networks.unroll, continuous=False)

  def loss_fn(params, hp, traj):
    return base(_faults.poison(params, _faults.marked(traj)), hp, traj)[0]

  step = learning.make_step_fn(config, agent.networks, loss_fn=loss_fn)
  agent = agent._replace(step=step)
  if config.method != "none":
    meta_loss = learning.make_meta_loss(config, agent.networks,
                                        loss_fn=loss_fn)

    def hooked(w, carry, trajs, last):
      return meta_loss(_faults.poison(w, _faults.marked(last)), carry, trajs,
                       last)

    agent = agent._replace(meta_loss=hooked)
  agent = _faults.with_env(agent, _faults.FaultyEnv(agent.env))
  init = jax.jit(lambda key: training.init_state(key, agent))
  return init, jax.jit(functools.partial(training.iteration, agent))


def _run(method: str, *, at=(), kind="obs_nan"):
  """States (before each iteration, and the last) and metrics per iteration."""
  init, iterate = _agent(method)
  state = init(jax.random.key(0))
  state = _faults.schedule(state, at=at, kind=kind)
  states, metrics = [state], []
  for _ in range(_ITERATIONS):
    state, m = iterate(state)
    states.append(state)
    metrics.append(jax.device_get(m))
  return states, metrics


_clean_run = functools.cache(_run)


def _assert_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _assert_finite(tree):
  for x in jax.tree.leaves(tree):
    assert np.all(np.isfinite(np.asarray(x)))


@pytest.mark.parametrize("method,kind,slot,learner_skips,meta_skips",
                         FAULT_CASES)
def test_fault_is_skipped_counted_and_survived(method, kind, slot,
                                               learner_skips, meta_skips):
  rollouts = _slots(method)
  # Position 3 of the rollout: its observation is input 4 (not the
  # bootstrap observation shared with the next rollout).
  at = [(i * rollouts + slot) * _T + 3 for i in _FAULT_ITERATIONS]
  states, metrics = _run(method, at=tuple(at), kind=kind)
  clean_states, clean_metrics = _clean_run(method)
  first = _FAULT_ITERATIONS[0]
  # Identical to the fault-free run before the first fault.
  _assert_equal(states[first].learner, clean_states[first].learner)
  _assert_equal(states[first].meta, clean_states[first].meta)
  for i in range(first):
    for k, v in metrics[i].items():
      np.testing.assert_array_equal(v, clean_metrics[i][k])
  # Counted, per iteration and cumulatively.
  for i in range(_ITERATIONS):
    hit = i in _FAULT_ITERATIONS
    assert metrics[i]["skipped_updates"] == (learner_skips if hit else 0)
    if not method.startswith("a2c"):
      assert metrics[i]["skipped_meta_updates"] == (meta_skips if hit else 0)
  total = len(_FAULT_ITERATIONS)
  assert int(states[-1].learner.skipped) == learner_skips * total
  assert int(states[-1].meta.skipped) == meta_skips * total
  # Exact skips at the first fault.
  before, after = states[first], states[first + 1]
  clean_after = clean_states[first + 1]
  if learner_skips and method != "bmg-context":
    _assert_equal(after.learner.params, before.learner.params)
    _assert_equal(after.learner.opt_state, before.learner.opt_state)
  if not learner_skips:  # The learner's steps are the fault-free run's.
    _assert_equal(after.learner.params, clean_after.learner.params)
  if meta_skips:
    _assert_equal(after.meta.params, before.meta.params)
    _assert_equal(after.meta.opt_state, before.meta.opt_state)
  if method == "mg" and kind == "obs_nan" and slot == 0:
    # The skipped step is the identity: an exactly zero meta-gradient.
    assert metrics[first]["meta_grad_norm"] == 0.0
  # Nothing non-finite reached the parameters; the run went on learning.
  for s in states:
    _assert_finite((s.learner.params, s.learner.opt_state, s.meta))
  assert not np.array_equal(
      np.asarray(jax.tree.leaves(states[-1].learner.params)[0]),
      np.asarray(jax.tree.leaves(after.learner.params)[0]))
