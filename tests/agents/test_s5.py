"""Numbers for the S5 maths in `agents.s5` (Smith et al. 2023; Lu et al. 2023).

References are hand derivations, NumPy loops and ``scipy.linalg.expm`` of the
full real system, all in float64.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy
import pytest
import scipy.linalg

from agents import s5

_METHODS = ("associative", "sequential", "reference")


def _crandn(rng, *shape):
  return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def _loop(lambda_bar, b_bar, hidden, u_seq, resets):
  """Python-loop recurrence: wipe on d_k, then absorb u_k."""
  x, xs = hidden, []
  for u, d in zip(u_seq, resets, strict=True):
    x = lambda_bar * (1.0 - d) * x + b_bar @ u
    xs.append(x)
  return numpy.stack(xs)


def test_hippo_legs_matches_hand_values():
  expected = -numpy.array(
    [
      [1.0, 0.0, 0.0],
      [numpy.sqrt(3.0), 2.0, 0.0],
      [numpy.sqrt(5.0), numpy.sqrt(15.0), 3.0],
    ]
  )
  numpy.testing.assert_allclose(s5.make_hippo_legs(3), expected, atol=1e-12)


@pytest.mark.parametrize("n", [2, 8, 64])
def test_hippo_n_real_parts_unitary_and_reconstruction(n):
  hippo = s5.make_dplr_hippo(n)
  numpy.testing.assert_allclose(hippo.lambda_.real, -0.5, atol=1e-10)
  v = hippo.v
  numpy.testing.assert_allclose(v.conj().T @ v, numpy.eye(n), atol=1e-10)
  # LegS = V (Lambda - p p^H) V^H with p in the eigenbasis.
  low_rank = numpy.outer(hippo.p, hippo.p.conj())
  legs = v @ (numpy.diag(hippo.lambda_) - low_rank) @ v.conj().T
  numpy.testing.assert_allclose(legs, s5.make_hippo_legs(n), atol=1e-9)
  q = numpy.sqrt(2.0 * numpy.arange(n) + 1.0)
  numpy.testing.assert_allclose(v @ hippo.b, q, atol=1e-9)
  # Conjugate pairs: eigh sorts ascending, so lambda[k] = conj(lambda[-1-k]).
  numpy.testing.assert_allclose(
    hippo.lambda_, hippo.lambda_[::-1].conj(), atol=1e-9
  )
  assert numpy.all(hippo.lambda_.imag[: n // 2] < 0.0)


def test_block_hippo_n_is_block_diagonal():
  lambda_, v = s5.make_block_hippo_n(16, blocks=2, conj_sym=True)
  assert lambda_.shape == (8,) and v.shape == (16, 8)
  block = s5.make_dplr_hippo(8)
  numpy.testing.assert_allclose(v[:8, :4], block.v[:, :4], atol=1e-12)
  numpy.testing.assert_allclose(v[8:, 4:], block.v[:, :4], atol=1e-12)
  assert numpy.all(v[:8, 4:] == 0.0) and numpy.all(v[8:, :4] == 0.0)
  numpy.testing.assert_allclose(lambda_[4:], block.lambda_[:4], atol=1e-12)
  numpy.testing.assert_allclose(v.conj().T @ v, numpy.eye(8), atol=1e-10)
  lambda_full, v_full = s5.make_block_hippo_n(12, blocks=3, conj_sym=False)
  assert lambda_full.shape == (12,) and v_full.shape == (12, 12)


@pytest.mark.parametrize(
  "size,blocks,conj_sym", [(10, 4, False), (6, 2, True), (0, 1, False)]
)
def test_block_hippo_n_rejects_bad_sizes(size, blocks, conj_sym):
  with pytest.raises(ValueError, match="multiple"):
    s5.make_block_hippo_n(size, blocks=blocks, conj_sym=conj_sym)


def test_init_log_step_is_log_uniform_in_range():
  log_step = s5.init_log_step(jax.random.key(0), (20000,), dt_min=1e-3)
  lo, hi = numpy.log(1e-3), numpy.log(1e-1)
  assert float(log_step.min()) >= lo and float(log_step.max()) <= hi
  # Uniform on [lo, hi]: mean (lo + hi) / 2, std (hi - lo) / sqrt(12).
  numpy.testing.assert_allclose(
    float(log_step.mean()), (lo + hi) / 2, atol=0.05
  )
  numpy.testing.assert_allclose(
    float(log_step.std()), (hi - lo) / numpy.sqrt(12.0), atol=0.05
  )
  with pytest.raises(ValueError, match="dt_min"):
    s5.init_log_step(jax.random.key(0), (3,), dt_min=0.2, dt_max=0.1)


def _full_system(n, h, rng):
  """A random real (A, B, C) with A = HiPPO-N's normal part, and its eigvecs."""
  hippo = s5.make_dplr_hippo(n)
  a = (hippo.v * hippo.lambda_) @ hippo.v.conj().T
  assert numpy.abs(a.imag).max() < 1e-9
  return hippo, a.real, rng.standard_normal((n, h)), rng.standard_normal((h, n))


def test_zoh_matches_matrix_exponential_of_full_system():
  rng = numpy.random.default_rng(0)
  n, h, delta = 8, 3, 0.37
  hippo, a, b, _ = _full_system(n, h, rng)
  # Van Loan: expm([[A, B], [0, 0]] delta) = [[A_bar, B_bar], [0, I]].
  block = numpy.zeros((n + h, n + h))
  block[:n, :n], block[:n, n:] = a, b
  e = scipy.linalg.expm(block * delta)
  with jax.enable_x64(True):
    b_tilde = hippo.v.conj().T @ b
    lambda_bar, b_bar = jax.jit(s5.discretize_zoh)(
      hippo.lambda_, b_tilde, numpy.full(n, delta)
    )
    lambda_bar, b_bar = numpy.asarray(lambda_bar), numpy.asarray(b_bar)
  v = hippo.v
  numpy.testing.assert_allclose(
    (v * lambda_bar) @ v.conj().T, e[:n, :n], atol=1e-10
  )
  numpy.testing.assert_allclose(v @ b_bar, e[:n, n:], atol=1e-10)


def test_bilinear_matches_full_system_formula():
  rng = numpy.random.default_rng(1)
  n, h, delta = 6, 2, 0.2
  hippo, a, b, _ = _full_system(n, h, rng)
  inv = numpy.linalg.inv(numpy.eye(n) - 0.5 * delta * a)
  a_bar = inv @ (numpy.eye(n) + 0.5 * delta * a)
  b_bar_full = inv @ b * delta
  with jax.enable_x64(True):
    lambda_bar, b_bar = s5.discretize(
      hippo.lambda_,
      hippo.v.conj().T @ b,
      numpy.full(n, delta),
      method="bilinear",
    )
  v = hippo.v
  numpy.testing.assert_allclose(
    (v * numpy.asarray(lambda_bar)) @ v.conj().T, a_bar, atol=1e-10
  )
  numpy.testing.assert_allclose(
    v @ numpy.asarray(b_bar), b_bar_full, atol=1e-10
  )
  with pytest.raises(ValueError, match="zoh"):
    s5.discretize(hippo.lambda_, b, numpy.ones(n), method="euler")


@pytest.mark.parametrize("method", _METHODS)
def test_conjugate_symmetric_output_equals_full_real_system(method):
  rng = numpy.random.default_rng(2)
  n, h, t, delta = 8, 3, 12, 0.3
  hippo, a, b, c = _full_system(n, h, rng)
  a_bar = scipy.linalg.expm(a * delta)
  b_bar_full = numpy.linalg.solve(a, (a_bar - numpy.eye(n)) @ b)
  u_seq = rng.standard_normal((t, h))
  x0_full = rng.standard_normal(n)
  resets = numpy.zeros(t)
  resets[5] = 1.0
  ys, x = [], x0_full
  for u, d in zip(u_seq, resets, strict=True):
    x = a_bar @ ((1.0 - d) * x) + b_bar_full @ u
    ys.append(c @ x)
  p = n // 2
  vp = hippo.v[:, :p]
  with jax.enable_x64(True):
    lambda_bar, b_bar = s5.discretize_zoh(
      hippo.lambda_[:p], vp.conj().T @ b, numpy.full(p, delta)
    )
    _, y = s5.apply_ssm(
      lambda_bar,
      b_bar,
      c @ vp,
      vp.conj().T @ x0_full,
      u_seq,
      resets,
      conj_sym=True,
      method=method,
    )
  numpy.testing.assert_allclose(numpy.asarray(y), numpy.stack(ys), atol=1e-9)


def test_reset_operator_is_associative_on_random_triples():
  rng = numpy.random.default_rng(3)
  op = jax.jit(s5.binary_operator_reset)
  with jax.enable_x64(True):
    for flags in itertools.product([0.0, 1.0], repeat=3):
      e = [
        (_crandn(rng, 5), _crandn(rng, 5), numpy.full((1,), f)) for f in flags
      ]
      left = op(op(e[0], e[1]), e[2])
      right = op(e[0], op(e[1], e[2]))
      for lhs, rhs in zip(left, right, strict=True):
        numpy.testing.assert_allclose(lhs, rhs, atol=1e-12, rtol=1e-12)


def test_reset_operator_hand_values():
  e_i = (numpy.array([2.0]), numpy.array([3.0]), numpy.array([1.0]))
  e_j = (numpy.array([5.0]), numpy.array([7.0]), numpy.array([0.0]))
  a, b, d = s5.binary_operator_reset(e_i, e_j)
  assert (float(a[0]), float(b[0]), float(d[0])) == (10.0, 22.0, 1.0)
  a, b, d = s5.binary_operator_reset(e_j, e_i)
  assert (float(a[0]), float(b[0]), float(d[0])) == (2.0, 3.0, 1.0)


@pytest.mark.parametrize("method", _METHODS)
@pytest.mark.parametrize(
  "reset_steps", [(), (0,), (3,), (0, 4, 5, 9), (12,)], ids=str
)
def test_scan_equals_python_loop_with_resets(method, reset_steps):
  rng = numpy.random.default_rng(4)
  p, h, t = 4, 3, 13
  lambda_bar = 0.9 * numpy.exp(1j * rng.uniform(-1.0, 1.0, p))
  b_bar, c_tilde = _crandn(rng, p, h), _crandn(rng, h, p)
  hidden = 5.0 * _crandn(rng, p)  # large, so a missed reset shows
  u_seq = rng.standard_normal((t, h))
  resets = numpy.zeros(t)
  resets[list(reset_steps)] = 1.0
  xs = _loop(lambda_bar, b_bar, hidden, u_seq, resets)
  with jax.enable_x64(True):
    fn = jax.jit(s5.apply_ssm, static_argnames=("conj_sym", "method"))
    x_last, y = fn(
      lambda_bar, b_bar, c_tilde, hidden, u_seq, resets, method=method
    )
  numpy.testing.assert_allclose(x_last, xs[-1], atol=1e-10)
  numpy.testing.assert_allclose(
    y, 2.0 * (xs @ c_tilde.T).real, atol=1e-10, rtol=1e-10
  )


def test_scan_float32_matches_float64_loop():
  rng = numpy.random.default_rng(5)
  p, h, t = 16, 8, 512
  lambda_, _ = s5.make_block_hippo_n(2 * p, blocks=2)
  delta = numpy.exp(rng.uniform(numpy.log(1e-3), numpy.log(1e-1), p))
  lambda_bar = numpy.exp(lambda_ * delta)
  b_bar, c_tilde = 0.3 * _crandn(rng, p, h), 0.3 * _crandn(rng, h, p)
  hidden = _crandn(rng, p)
  u_seq = rng.standard_normal((t, h))
  resets = (rng.uniform(size=t) < 0.01).astype(numpy.float64)
  xs = _loop(lambda_bar, b_bar, hidden, u_seq, resets)
  args = [
    jnp.asarray(v, jnp.complex64) for v in (lambda_bar, b_bar, c_tilde, hidden)
  ]
  x_last, _ = jax.jit(s5.apply_ssm)(*args, jnp.asarray(u_seq), resets)
  scale = numpy.abs(xs).max()
  numpy.testing.assert_allclose(x_last, xs[-1], atol=2e-5 * scale)


def test_step_ssm_repeated_equals_apply_ssm():
  rng = numpy.random.default_rng(6)
  p, h, t = 3, 2, 7
  lambda_bar = 0.8 * numpy.exp(1j * rng.uniform(-1.0, 1.0, p))
  b_bar, c_tilde, hidden = (
    _crandn(rng, p, h),
    _crandn(rng, h, p),
    _crandn(rng, p),
  )
  u_seq = rng.standard_normal((t, h))
  resets = numpy.array([0, 0, 1, 0, 1, 1, 0], dtype=numpy.float64)
  with jax.enable_x64(True):
    x_last, y_seq = s5.apply_ssm(
      lambda_bar, b_bar, c_tilde, hidden, u_seq, resets
    )
    x, ys = hidden, []
    for u, d in zip(u_seq, resets, strict=True):
      x, y = s5.step_ssm(lambda_bar, b_bar, c_tilde, x, u, d)
      ys.append(y)
  numpy.testing.assert_allclose(numpy.stack(ys), y_seq, atol=1e-10)
  numpy.testing.assert_allclose(x, x_last, atol=1e-10)


def test_apply_ssm_rejects_unknown_method():
  z = jnp.zeros((1,), jnp.complex64)
  with pytest.raises(ValueError, match="associative"):
    s5.apply_ssm(
      z, z[:, None], z[None], z, jnp.zeros((2, 1)), jnp.zeros(2), method="x"
    )


@pytest.mark.parametrize("method", _METHODS)
def test_batched_apply_ssm_equals_per_sequence(method):
  rng = numpy.random.default_rng(7)
  p, h, t, batch = 3, 2, 6, 4
  lambda_bar = 0.9 * numpy.exp(1j * rng.uniform(-1.0, 1.0, p))
  b_bar, c_tilde = _crandn(rng, p, h), _crandn(rng, h, p)
  hidden = _crandn(rng, batch, p)
  u_seq = rng.standard_normal((t, batch, h))
  resets = (rng.uniform(size=(t, batch)) < 0.3).astype(numpy.float64)
  with jax.enable_x64(True):
    x_last, y = s5.apply_ssm(
      lambda_bar, b_bar, c_tilde, hidden, u_seq, resets, method=method
    )
    for i in range(batch):
      xs = _loop(lambda_bar, b_bar, hidden[i], u_seq[:, i], resets[:, i])
      numpy.testing.assert_allclose(x_last[i], xs[-1], atol=1e-10)
      numpy.testing.assert_allclose(
        y[:, i], 2.0 * (xs @ c_tilde.T).real, atol=1e-10
      )


@pytest.mark.parametrize("conj_sym", [True, False])
def test_step_prepared_scan_equals_apply_ssm_float32(conj_sym):
  # The acting path: weights computed once, then a jitted lax.scan of steps.
  rng = numpy.random.default_rng(7)
  p, h, t, b = 4, 3, 9, 2
  lambda_bar = 0.9 * numpy.exp(1j * rng.uniform(-1.0, 1.0, p))
  args = [
    jnp.asarray(v, jnp.complex64)
    for v in (lambda_bar, _crandn(rng, p, h), _crandn(rng, h, p))
  ]
  hidden = jnp.asarray(_crandn(rng, b, p), jnp.complex64)
  u_seq = jnp.asarray(rng.standard_normal((t, b, h)), jnp.float32)
  resets = jnp.zeros((t, b)).at[2, 0].set(1.0).at[5].set(1.0)
  weights = s5.step_weights(*args, conj_sym=conj_sym)

  def body(x, inputs):
    x, y = s5.step_prepared(weights, x, *inputs)
    return x, y

  x_step, y_step = jax.jit(lambda x: jax.lax.scan(body, x, (u_seq, resets)))(
    hidden
  )
  x_seq, y_seq = s5.apply_ssm(
    *args, hidden, u_seq, resets, conj_sym=conj_sym, method="sequential"
  )
  numpy.testing.assert_allclose(y_step, y_seq, atol=1e-5, rtol=1e-5)
  numpy.testing.assert_allclose(x_step, x_seq, atol=1e-5, rtol=1e-5)
  x_one, y_one = s5.step_ssm(
    *args, hidden, u_seq[0], resets[0], conj_sym=conj_sym
  )
  numpy.testing.assert_allclose(y_one, y_seq[0], atol=1e-5, rtol=1e-5)
