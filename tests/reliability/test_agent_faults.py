"""Faults in the actor-critic agent never reach its (meta-)parameters.

NaN / +Inf observations and rewards come from :class:`FaultyEnv` at chosen
environment steps; a non-finite gradient (with a finite loss) from a loss
hook that poisons the backward pass of a rollout carrying the gradient
sentinel reward; a non-finite meta-gradient (with a finite meta-loss) from
a hook on ``w`` that fires when the pending rollout the iteration starts
from (``carry.traj``, known when the meta-loss is called) carries the
meta-gradient sentinel. Each case injects two faults into a 7-iteration
run of plain A2C (MLP or S5 core), MG or BMG with a context (Luketina et
al. 2022) and checks: every parameter and meta-parameter stays finite, the
skips are counted exactly (per iteration and cumulatively), the run is
bit-identical to the fault-free run before the first fault, each skipped
step is exact (the kept state equals the state before it), the learner is
the fault-free run's where the fault cannot touch it, and training goes on.

Every rollout trains the learner exactly once, and with MG or BMG the last
rollout an iteration collects is trained on by the next one, so a fault in
it shows in two consecutive iterations: iteration ``f`` collects it (MG:
the outer loss; BMG: the final target step and the matching) and
iteration ``f + 1`` steps the learner on it. Iteration ``f`` of a case is
the one that collects its faulty rollout: A2C collects one rollout per
iteration; MG K=1 one (the outer rollout, the next inner rollout); BMG K=1
L=2 two (0: the target's bootstrapped step, the learner's own; 1: the
final target step, the matching, the next inner rollout). MG and BMG
collect one more rollout in ``init_state``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np
import pytest

from agents.actor_critic import learning, losses, training
from agents.actor_critic.config import ActorCriticConfig
from tests.reliability import _faults

_T = 8  # Rollout length.
_ITERATIONS = 7
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
#: Rollouts collected per iteration, and before the first (init_state).
_ROLLOUTS = {"a2c": (1, 0), "a2c-s5": (1, 0), "mg": (1, 1),
             "bmg-context": (2, 1)}


class Case(NamedTuple):
  """A fault case.

  Attributes:
    agent: a key of ``_CONFIGS``.
    kind: a fault kind of ``_faults.KINDS``.
    rollout: which of the rollouts iteration ``f`` collects is faulty.
    skips: ``(learner steps, meta-steps)`` skipped in iteration ``f``
      and in ``f + 1``; none in any other iteration.
    zero_meta_grad: iteration ``f + 1``'s only differentiable step (on the
      faulty rollout) is skipped: its meta-gradient is exactly zero.
  """

  agent: str
  kind: str
  rollout: int
  skips: tuple[tuple[int, int], tuple[int, int]]
  zero_meta_grad: bool = False


_A2C = ((1, 0), (0, 0))  # Its only step, on the rollout it collected.
_OUTER = ((0, 1), (1, 0))  # Non-finite (outer / target) loss, then step.
FAULT_CASES = [
    Case("a2c", "obs_nan", 0, _A2C),
    Case("a2c", "obs_inf", 0, _A2C),
    Case("a2c", "reward_nan", 0, _A2C),
    Case("a2c", "reward_inf", 0, _A2C),
    Case("a2c", "grad_sentinel", 0, _A2C),  # NaN gradient, finite loss.
    Case("a2c-s5", "obs_nan", 0, _A2C),
    Case("mg", "obs_nan", 0, _OUTER, zero_meta_grad=True),
    Case("mg", "obs_inf", 0, _OUTER, zero_meta_grad=True),
    Case("mg", "reward_inf", 0, _OUTER, zero_meta_grad=True),
    # Finite outer loss; the NaN gradient of the unrolled step makes the
    # meta-gradient NaN too.
    Case("mg", "grad_sentinel", 0, ((0, 0), (1, 1))),
    Case("mg", "meta_sentinel", 0, ((0, 0), (0, 1))),  # Finite meta-loss.
    # The target's bootstrapped step (stop-gradient on w): skipped, the
    # meta-gradient stays finite.
    Case("bmg-context", "obs_nan", 0, _A2C),
    Case("bmg-context", "reward_nan", 0, _A2C),
    Case("bmg-context", "grad_sentinel", 0, _A2C),
    # The final target step and the matching, then the next inner step.
    Case("bmg-context", "obs_inf", 1, _OUTER, zero_meta_grad=True),
    Case("bmg-context", "reward_nan", 1, _OUTER, zero_meta_grad=True),
    Case("bmg-context", "grad_sentinel", 1, ((0, 0), (1, 1))),
    Case("bmg-context", "meta_sentinel", 1, ((0, 0), (0, 1))),
]
#: Faults injected by this module (two per case).
NUM_FAULTS = len(FAULT_CASES) * len(_FAULT_ITERATIONS)


def _case_id(case: Case) -> str:
  return f"{case.agent}-{case.kind}-{case.rollout}"


def _expected_skips(case: Case) -> list[tuple[int, int]]:
  """``(learner, meta)`` skips expected in each iteration of the run."""
  expected = [(0, 0)] * _ITERATIONS
  for f in _FAULT_ITERATIONS:
    expected[f], expected[f + 1] = case.skips
  return expected


#: Per agent: ``(carry_K, next)`` learner states of each meta-loss call,
#: recorded from inside the jitted iteration (``aux`` is not returned).
_AUX: dict[str, list] = {}


@functools.cache
def _agent(method: str):
  """The agent acting in a FaultyEnv, with a gradient hook that fires on
  rollouts carrying ``_faults.SENTINEL`` and a meta-gradient hook that
  fires when the pending rollout carries ``_faults.META_SENTINEL``."""
  kwargs = {"core": "mlp", "width": 16, **_CONFIGS[method]}
  config = ActorCriticConfig(task="RepeatPreviousEasy", num_envs=4,
                             unroll_length=_T, **kwargs)
  agent = training.make_agent(config)
  base = losses.make_a2c_loss(agent.networks.unroll, continuous=False)

  def loss_fn(params, hp, traj):
    return base(_faults.poison(params, _faults.marked(traj)), hp, traj)[0]

  step = learning.make_step_fn(config, agent.networks, loss_fn=loss_fn)
  agent = _faults.with_env(agent._replace(step=step),
                           _faults.FaultyEnv(agent.env), loss_fn=loss_fn)
  if config.method != "none":
    meta_loss = agent.meta_loss
    records = _AUX.setdefault(method, [])

    def record(carry_k, nxt):
      records.append(jax.tree.map(np.asarray, (carry_k, nxt)))

    def hooked(w, carry, target_opt_state):
      flag = _faults.marked(carry.traj, _faults.META_SENTINEL)
      loss, aux = meta_loss(_faults.poison(w, flag), carry, target_opt_state)
      jax.debug.callback(record, aux.carry_k.learner, aux.next.learner)
      return loss, aux

    agent = agent._replace(meta_loss=hooked)
  init = jax.jit(lambda key: training.init_state(key, agent))
  return init, jax.jit(functools.partial(training.iteration, agent))


def _run(method: str, *, at=(), kind="obs_nan"):
  """States (before each iteration, and the last), metrics and (with
  meta-learning) the meta-loss's ``(carry_K, next)`` per iteration."""
  init, iterate = _agent(method)
  records = _AUX.get(method, [])
  state = init(jax.random.key(0))
  state = _faults.schedule(state, at=at, kind=kind)
  states, metrics, auxes = [state], [], []
  for _ in range(_ITERATIONS):
    records.clear()
    state, m = iterate(state)
    states.append(state)
    metrics.append(jax.device_get(m))
    jax.effects_barrier()
    if method in _AUX:
      assert len(records) == 1  # One meta-loss call per iteration.
      auxes.append(records.pop())
  return states, metrics, auxes


_clean_run = functools.cache(_run)


def _assert_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _assert_finite(tree):
  for x in jax.tree.leaves(tree):
    assert np.all(np.isfinite(np.asarray(x)))


def _kept(learner):
  """What a skipped learner step keeps."""
  return learner.params, learner.opt_state, learner.context


def _meta_kept(meta):
  """What a skipped meta-step keeps."""
  return meta.params, meta.opt_state, meta.target_opt_state


@pytest.mark.parametrize("case", FAULT_CASES, ids=_case_id)
def test_fault_is_skipped_counted_and_survived(case):
  meta_learning = _CONFIGS[case.agent]["method"] != "none"
  per_iteration, before_first = _ROLLOUTS[case.agent]
  # Position 3 of the rollout: its observation is input 4 (not the
  # bootstrap observation shared with the next rollout).
  at = [(before_first + f * per_iteration + case.rollout) * _T + 3
        for f in _FAULT_ITERATIONS]
  states, metrics, auxes = _run(case.agent, at=tuple(at), kind=case.kind)
  clean_states, clean_metrics, _ = _clean_run(case.agent)
  first = _FAULT_ITERATIONS[0]
  # Identical to the fault-free run before the first fault.
  _assert_equal(states[first].learner, clean_states[first].learner)
  _assert_equal(states[first].meta, clean_states[first].meta)
  _assert_equal(states[first].pending, clean_states[first].pending)
  for i in range(first):
    assert metrics[i].keys() == clean_metrics[i].keys()
    for k, v in metrics[i].items():
      np.testing.assert_array_equal(v, clean_metrics[i][k])
  # Counted, per iteration and cumulatively.
  expected = _expected_skips(case)
  for i, (learner_skips, meta_skips) in enumerate(expected):
    assert metrics[i]["skipped_updates"] == learner_skips, i
    if meta_learning:
      assert metrics[i]["skipped_meta_updates"] == meta_skips, i
  assert int(states[-1].learner.skipped) == sum(e[0] for e in expected)
  assert int(states[-1].meta.skipped) == sum(e[1] for e in expected)
  # Exact skips at the first fault (both iterations it shows in).
  for d, (learner_skips, meta_skips) in enumerate(case.skips):
    i = first + d
    before, after = states[i], states[i + 1]
    if meta_skips:
      _assert_equal(_meta_kept(after.meta), _meta_kept(before.meta))
    if learner_skips and case.agent != "bmg-context":
      # The iteration's only learner step.
      _assert_equal(_kept(after.learner), _kept(before.learner))
    elif learner_skips:  # BMG: the inner step, then the target's step.
      carry_k, nxt = auxes[i]
      _assert_equal(_kept(nxt), _kept(after.learner))
      if d == 0:  # The target's step on the rollout it collected.
        _assert_equal(_kept(nxt), _kept(carry_k))
      else:  # The inner step on the pending rollout.
        _assert_equal(_kept(carry_k), _kept(before.learner))
  if not case.skips[0][0]:
    # Iteration f steps the learner on rollouts collected before the
    # fault: its learner is the fault-free run's.
    _assert_equal(_kept(states[first + 1].learner),
                  _kept(clean_states[first + 1].learner))
  # The meta-gradient of an iteration whose only differentiable step was
  # skipped on the faulty rollout is that of the identity: exactly zero.
  # Every other meta-step that was taken had a nonzero meta-gradient.
  zero = {f + 1 for f in _FAULT_ITERATIONS} if case.zero_meta_grad else set()
  for i in range(_ITERATIONS if meta_learning else 0):
    if i in zero:
      assert metrics[i]["meta_grad_norm"] == 0.0, i
    elif not expected[i][1]:
      assert metrics[i]["meta_grad_norm"] > 0.0, i
  # Nothing non-finite reached the parameters; the run went on learning
  # (the last iteration has no fault).
  for s in states:
    _assert_finite((s.learner.params, s.learner.opt_state,
                    s.learner.context, s.meta))
  after_first = states[first + 2]
  assert not np.array_equal(
      np.asarray(jax.tree.leaves(states[-1].learner.params)[0]),
      np.asarray(jax.tree.leaves(after_first.learner.params)[0]))
  if meta_learning:  # (A step of w's entropy weight is below one ulp.)
    assert not all(np.array_equal(x, y) for x, y in zip(
        jax.tree.leaves(states[-1].meta.params),
        jax.tree.leaves(after_first.meta.params), strict=True))
