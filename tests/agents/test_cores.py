"""Numbers for the resettable cores in `agents.cores` (Lu et al. 2023).

Sequence mode must equal repeated step mode, and a reset at step k must give
exactly the outputs of a fresh start on the suffix (haiku's ``ResetCore``
test, reused for every core).
"""

from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy
import pytest

from agents import cores

_T, _B, _D, _H = 9, 3, 5, 8
_ALL = ("gru", "lstm", "mlp", "s5", "s5_associative")


def _kind_kwargs(name):
  if name == "s5_associative":
    return "s5", {"scan": "associative"}
  if name == "s5":
    return "s5", {"num_layers": 2}
  return name, {}


class _Fns(NamedTuple):
  init: Any
  unroll: Any
  step: Any
  initial_state: Any


def _transformed(name, **extra):
  """Jitted ``init(key, x, r)``, ``unroll``, ``step``, ``initial_state``."""
  kind, kwargs = _kind_kwargs(name)
  kwargs.update(extra)

  def f():
    core = cores.make_core(kind, width=_H, **kwargs)

    def init(x, r):
      return core.unroll(x, r, core.initial_state(x.shape[1]))

    return init, (core.unroll, core.step, core.initial_state)

  fns = hk.without_apply_rng(hk.multi_transform(f))
  unroll, step, initial_state = fns.apply
  return _Fns(
    fns.init,
    jax.jit(unroll),
    jax.jit(step),
    jax.jit(initial_state, static_argnums=1),
  )


def _data(seed):
  rng = numpy.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((_T, _B, _D)), jnp.float32)
  return x


def _warm_state(fns, params, seed):
  """A non-zero state: the final state of an unroll on random inputs."""
  unroll, initial_state = fns.unroll, fns.initial_state
  x = _data(seed + 100)
  _, state = unroll(params, x, jnp.zeros((_T, _B)), initial_state(params, _B))
  return state


def _assert_trees_close(a, b, atol):
  jax.tree.map(
    lambda u, v: numpy.testing.assert_allclose(u, v, atol=atol, rtol=atol),
    a,
    b,
  )


@pytest.mark.parametrize("name", _ALL)
def test_unroll_equals_repeated_step(name):
  fns = _transformed(name)
  x = _data(0)
  resets = jnp.zeros((_T, _B)).at[0, 0].set(1.0).at[4, 1].set(1.0)
  params = fns.init(jax.random.key(0), x, resets)
  unroll, step = fns.unroll, fns.step
  state0 = _warm_state(fns, params, 0)
  y_seq, final_seq = unroll(params, x, resets, state0)
  state, ys = state0, []
  for t in range(_T):
    y, state = step(params, x[t], resets[t], state)
    ys.append(y)
  assert y_seq.shape == (_T, _B, _H)
  numpy.testing.assert_allclose(y_seq, jnp.stack(ys), atol=1e-5, rtol=1e-5)
  _assert_trees_close(final_seq, state, atol=1e-5)


@pytest.mark.parametrize("name", ["gru", "lstm", "s5", "s5_associative"])
def test_mid_sequence_reset_equals_fresh_start(name):
  fns = _transformed(name)
  x = _data(1)
  k = 4
  resets = jnp.zeros((_T, _B), bool).at[k].set(True)  # bool flags work too
  params = fns.init(jax.random.key(1), x, resets)
  unroll, initial_state = fns.unroll, fns.initial_state
  state0 = _warm_state(fns, params, 1)
  y, final = unroll(params, x, resets, state0)
  fresh_y, fresh_final = unroll(
    params, x[k:], jnp.zeros((_T - k, _B)), initial_state(params, _B)
  )
  numpy.testing.assert_allclose(y[k:], fresh_y, atol=1e-5, rtol=1e-5)
  _assert_trees_close(final, fresh_final, atol=1e-5)
  # The test can fail: without the reset, the carried state leaks into y[k].
  leaky_y, _ = unroll(params, x, jnp.zeros((_T, _B)), state0)
  assert float(jnp.abs(leaky_y[k] - fresh_y[0]).max()) > 1e-2
  # And the prefix is untouched by a later reset.
  numpy.testing.assert_allclose(y[:k], leaky_y[:k], atol=1e-6)


@pytest.mark.parametrize("name", ["gru", "lstm", "s5"])
def test_step_reset_equals_step_from_initial_state(name):
  fns = _transformed(name)
  x = _data(2)
  params = fns.init(jax.random.key(2), x, jnp.zeros((_T, _B)))
  step, initial_state = fns.step, fns.initial_state
  state0 = _warm_state(fns, params, 2)
  y_reset, s_reset = step(params, x[0], jnp.ones((_B,)), state0)
  y_fresh, s_fresh = step(
    params, x[0], jnp.zeros((_B,)), initial_state(params, _B)
  )
  numpy.testing.assert_allclose(y_reset, y_fresh, atol=1e-6)
  _assert_trees_close(s_reset, s_fresh, atol=1e-6)


def test_mlp_is_memoryless():
  fns = _transformed("mlp")
  x = _data(3)
  params = fns.init(jax.random.key(3), x, jnp.zeros((_T, _B)))
  unroll, initial_state = fns.unroll, fns.initial_state
  state = initial_state(params, _B)
  assert state == cores.MLPState() and not jax.tree.leaves(state)
  y, _ = unroll(params, x, jnp.zeros((_T, _B)), state)
  y_rev, _ = unroll(params, x[::-1], jnp.ones((_T, _B)), state)
  numpy.testing.assert_allclose(y, y_rev[::-1], atol=1e-6)


def test_s5_parameters_initial_values_and_sharing():
  fns = _transformed("s5", state_size=16, blocks=2)
  x = _data(4)
  params = fns.init(jax.random.key(4), x, jnp.zeros((_T, _B)))
  ssm = params["s5_core/~/block_0/~/s5_ssm"]
  assert ssm["b"].shape == (8, _H, 2) and ssm["c"].shape == (_H, 8, 2)
  numpy.testing.assert_allclose(ssm["lambda_re"], -0.5, atol=1e-6)
  numpy.testing.assert_allclose(ssm["lambda_im"][:4], ssm["lambda_im"][4:])
  log_step = numpy.asarray(ssm["log_step"])
  assert numpy.all(log_step >= numpy.log(1e-3) - 1e-6)
  assert numpy.all(log_step <= numpy.log(1e-1) + 1e-6)
  state = fns.initial_state(params, _B)
  assert [h.shape for h in state.hidden] == [(_B, 8), (_B, 8)]
  assert all(h.dtype == jnp.complex64 for h in state.hidden)
  # Step mode alone creates exactly the same parameters as sequence mode.
  step_params = hk.transform(
    lambda x: cores.make_core(
      "s5", width=_H, num_layers=2, state_size=16, blocks=2
    ).step(
      x, jnp.zeros(_B), cores.S5State((jnp.zeros((_B, 8), jnp.complex64),) * 2)
    )
  ).init(jax.random.key(4), x[0])
  assert jax.tree.structure(step_params) == jax.tree.structure(params)
  _assert_trees_close(step_params, params, atol=0.0)


@pytest.mark.parametrize(
  "extra",
  [
    {"activation": "half_glu1", "layer_norm": "pre"},
    {"activation": "half_glu2", "layer_norm": "post"},
    {"activation": "gelu", "discretization": "bilinear", "conj_sym": False},
  ],
  ids=["half_glu1-pre", "half_glu2-post", "gelu-bilinear-full"],
)
def test_s5_variants_unroll_equals_step(extra):
  fns = _transformed("s5", num_layers=1, **extra)
  x = _data(5)
  resets = jnp.zeros((_T, _B)).at[3].set(1.0)
  params = fns.init(jax.random.key(5), x, resets)
  unroll, step, initial_state = fns.unroll, fns.step, fns.initial_state
  state = initial_state(params, _B)
  y_seq, _ = unroll(params, x, resets, state)
  ys = []
  for t in range(_T):
    y, state = step(params, x[t], resets[t], state)
    ys.append(y)
  numpy.testing.assert_allclose(y_seq, jnp.stack(ys), atol=1e-5, rtol=1e-5)


def test_s5_gradients_are_finite_and_nonzero():
  fns = _transformed("s5")
  x = _data(6)
  resets = jnp.zeros((_T, _B)).at[2].set(1.0)
  params = fns.init(jax.random.key(6), x, resets)
  unroll, initial_state = fns.unroll, fns.initial_state

  def loss(params):
    y, _ = unroll(params, x, resets, initial_state(params, _B))
    return jnp.mean(y**2)

  grads = jax.jit(jax.grad(loss))(params)
  for name, leaf in jax.tree_util.tree_leaves_with_path(grads):
    assert numpy.all(numpy.isfinite(leaf)), name
  ssm_grads = grads["s5_core/~/block_0/~/s5_ssm"]
  for key in ("lambda_re", "lambda_im", "b", "c", "d", "log_step"):
    assert float(jnp.abs(ssm_grads[key]).max()) > 0.0, key


@pytest.mark.parametrize("max_timescale", [None, 20.0])
def test_s5_max_timescale_bounds_every_mode_decay(max_timescale):
  """Impulse response of one layer's state, mode by mode, against the ZOH
  hand value ``|x_k| = |x_0| exp(k min(Re(Lambda) Delta, -1 / tau))``, with
  half the modes made unstable (``Re(Lambda) = +0.3``)."""
  fns = _transformed("s5", num_layers=1, max_timescale=max_timescale)
  x = jnp.zeros((_T, _B, _D)).at[0].set(_data(7)[0])
  resets = jnp.zeros((_T, _B))
  params = fns.init(jax.random.key(7), x, resets)
  name = "s5_core/~/block_0/~/s5_ssm"
  lam_re = params[name]["lambda_re"]
  lam_re = lam_re.at[::2].set(0.3)
  params = {**params, name: {**params[name], "lambda_re": lam_re}}
  state = fns.initial_state(params, _B)
  _, first = fns.unroll(params, x[:1], resets[:1], state)
  _, last = fns.unroll(params, x, resets, state)
  rate = numpy.asarray(lam_re) * numpy.exp(params[name]["log_step"])
  if max_timescale is not None:
    rate = numpy.minimum(rate, -1.0 / max_timescale)
  ratio = numpy.abs(last.hidden[0]) / numpy.abs(first.hidden[0])
  numpy.testing.assert_allclose(
    ratio, numpy.broadcast_to(numpy.exp((_T - 1) * rate), ratio.shape),
    rtol=1e-4)
  grows = ratio[:, ::2] > 1.0
  assert grows.all() if max_timescale is None else not grows.any()


def test_make_core_rejects_unknown_names_and_options():
  def build(kind, **kwargs):
    return hk.transform(lambda: cores.make_core(kind, width=4, **kwargs))

  with pytest.raises(ValueError, match="'gru', 'lstm', 'mlp', 's5'"):
    build("transformer").init(jax.random.key(0))
  with pytest.raises(ValueError, match="width"):
    hk.transform(lambda: cores.make_core("gru", width=0)).init(None)
  with pytest.raises(ValueError, match="full_glu"):
    build("s5", activation="relu").init(jax.random.key(0))
  with pytest.raises(ValueError, match="sequential"):
    build("s5", scan="parallel").init(jax.random.key(0))
  with pytest.raises(ValueError, match="multiple"):
    build("s5", state_size=6, blocks=2).init(jax.random.key(0))
  with pytest.raises(ValueError, match="max_timescale must be > 0"):
    build("s5", max_timescale=0.0).init(jax.random.key(0))


@pytest.mark.parametrize("name", ["gru", "mlp", "s5"])
def test_cores_reject_misshaped_inputs(name):
  kind, kwargs = _kind_kwargs(name)

  def unroll(x, r):
    core = cores.make_core(kind, width=_H, **kwargs)
    return core.unroll(x, r, core.initial_state(_B))

  def step(x, r):
    core = cores.make_core(kind, width=_H, **kwargs)
    return core.step(x, r, core.initial_state(_B))

  x = _data(7)
  with pytest.raises(ValueError, match=r"x \[T, B, D\], resets \[T, B\]"):
    hk.transform(unroll).init(jax.random.key(0), x, jnp.zeros((_T, _B + 1)))
  with pytest.raises(ValueError, match=r"x \[B, D\], reset \[B\]"):
    hk.transform(step).init(jax.random.key(0), x[0], jnp.zeros((_T,)))
