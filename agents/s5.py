"""Resettable S5 state-space maths as pure functions.

The simplified state-space layer (S5) of Smith et al. (2023) runs one
multi-input, multi-output linear SSM with a diagonal state matrix,

.. math::

  x_k = \\bar\\Lambda \\odot x_{k-1} + \\bar B u_k, \\qquad
  y_k = 2\\,\\mathrm{Re}(\\tilde C x_k),

over a sequence with ``jax.lax.associative_scan``. Lu et al. (2023) add a
per-step reset flag ``d_k`` to the scan's binary operator so that one scan
covers many episodes: ``d_k = 1`` wipes the state *before* input ``k`` is
absorbed, i.e. ``x_k = \\bar B u_k``.

Shapes: ``N`` is the full (real) state size, ``P`` the number of complex
states kept (``N / 2`` with conjugate symmetry), ``H`` the model width, ``T``
the sequence length. Every function here is jittable; the initialisers return
NumPy (float64 / complex128) arrays, computed once.

References:
  Smith, Warrington and Linderman, `Simplified State Space Layers for
  Sequence Modeling <https://arxiv.org/abs/2208.04933>`_, 2023.

  Lu, Schroecker, Gu, Parisotto, Foerster, Singh and Behbahani, `Structured
  State Space Models for In-Context Reinforcement Learning
  <https://arxiv.org/abs/2303.03982>`_, 2023.

  Gu, Johnson, Timalsina, Rudra and Re, `How to Train Your HiPPO
  <https://arxiv.org/abs/2206.12037>`_, 2022.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy

__all__ = [
  "DPLRHippo",
  "apply_ssm",
  "binary_operator",
  "binary_operator_reset",
  "discretize",
  "discretize_bilinear",
  "discretize_zoh",
  "init_log_step",
  "make_block_hippo_n",
  "make_dplr_hippo",
  "make_hippo_legs",
  "StepWeights",
  "ssm_output",
  "step_prepared",
  "step_ssm",
  "step_weights",
]

ScanElement = tuple[jax.Array, ...]


class DPLRHippo(NamedTuple):
  """HiPPO-LegS as normal plus low rank, in the eigenbasis of its normal part.

  ``LegS = V diag(lambda_) V^H - p p^T``. All arrays are NumPy complex128.

  Attributes:
    lambda_: eigenvalues of the normal part ``S``, real parts ``-1/2``. (N,)
    p: low-rank term ``V^H p`` in the eigenbasis. (N,)
    b: HiPPO-LegS input vector ``V^H sqrt(2n + 1)`` in the eigenbasis. (N,)
    v: unitary eigenvectors of ``S`` (``V^H V = I``). (N, N)
  """

  lambda_: numpy.ndarray
  p: numpy.ndarray
  b: numpy.ndarray
  v: numpy.ndarray


def make_hippo_legs(state_size: int) -> numpy.ndarray:
  """The HiPPO-LegS state matrix ``A``, float64.

  ``A[n, k] = -sqrt(2n + 1) sqrt(2k + 1)`` below the diagonal, ``-(n + 1)``
  on it and 0 above.

  Args:
    state_size: ``N``, a positive integer.

  Returns:
    ``A``, shape (N, N).
  """
  if state_size < 1:
    raise ValueError(f"state_size must be >= 1, got {state_size}.")
  q = numpy.sqrt(2.0 * numpy.arange(state_size) + 1.0)
  a = numpy.tril(q[:, None] * q[None, :]) - numpy.diag(numpy.arange(state_size))
  return -a


def make_dplr_hippo(state_size: int) -> DPLRHippo:
  """HiPPO-N: the normal part of HiPPO-LegS and its eigendecomposition.

  ``S = LegS + p p^T`` with ``p_n = sqrt(n + 1/2)`` equals ``-I/2 + K`` with
  ``K`` real skew-symmetric, so ``S`` is normal: its eigenvalues are
  ``-1/2 + i w`` where ``(w, V) = eigh(-i K)`` (ascending ``w``), and ``V`` is
  unitary.

  Args:
    state_size: ``N``, a positive integer.

  Returns:
    A :class:`DPLRHippo` (complex128 NumPy arrays).

  References:
    Gu et al., `How to Train Your HiPPO <https://arxiv.org/abs/2206.12037>`_,
    2022; Smith et al., `S5 <https://arxiv.org/abs/2208.04933>`_, 2023.
  """
  legs = make_hippo_legs(state_size)
  p = numpy.sqrt(numpy.arange(state_size) + 0.5)
  b = numpy.sqrt(2.0 * numpy.arange(state_size) + 1.0)
  normal = legs + p[:, None] * p[None, :]
  real = numpy.mean(numpy.diagonal(normal))  # -1/2 exactly, up to rounding.
  skew = normal - real * numpy.eye(state_size)
  imag, v = numpy.linalg.eigh(-1j * skew)
  lambda_ = real + 1j * imag
  vh = v.conj().T
  return DPLRHippo(lambda_=lambda_, p=vh @ p, b=vh @ b, v=v)


def make_block_hippo_n(
  state_size: int, *, blocks: int = 1, conj_sym: bool = True
) -> tuple[numpy.ndarray, numpy.ndarray]:
  """Block-diagonal HiPPO-N initialisation of S5's ``Lambda`` and ``V``.

  Each of ``blocks`` diagonal blocks is HiPPO-N of size ``N / blocks``. With
  conjugate symmetry each block keeps its first half of eigenpairs (``eigh``
  sorts ascending, so one member of each conjugate pair), as in the
  lindermanlab S5 code.

  Args:
    state_size: ``N``; divisible by ``blocks`` (and by ``2 * blocks`` with
      ``conj_sym``).
    blocks: ``J``, the number of diagonal blocks.
    conj_sym: keep ``P = N / 2`` states whose outputs are read as
      ``2 Re(C x)``.

  Returns:
    ``(lambda_, v)``: complex128 eigenvalues, shape (P,), and block-diagonal
    eigenvectors, shape (N, P); ``P = N / 2`` if ``conj_sym`` else ``N``.
  """
  unit = 2 * blocks if conj_sym else blocks
  if blocks < 1 or state_size < unit or state_size % unit:
    raise ValueError(
      f"state_size={state_size} must be a positive multiple of "
      f"{'2 * ' if conj_sym else ''}blocks={blocks}."
    )
  size = state_size // blocks
  hippo = make_dplr_hippo(size)
  keep = size // 2 if conj_sym else size
  lambda_ = numpy.tile(hippo.lambda_[:keep], blocks)
  v = numpy.zeros((state_size, keep * blocks), dtype=numpy.complex128)
  for j in range(blocks):
    v[j * size : (j + 1) * size, j * keep : (j + 1) * keep] = hippo.v[:, :keep]
  return lambda_, v


def init_log_step(
  key: jax.Array,
  shape: tuple[int, ...],
  *,
  dt_min: float = 1e-3,
  dt_max: float = 1e-1,
  dtype: jnp.dtype = jnp.float32,
) -> jax.Array:
  """Log-timescales ``log(Delta)``, uniform in ``[log dt_min, log dt_max]``.

  Args:
    key: a typed PRNG key.
    shape: output shape, usually (P,).
    dt_min: smallest initial timescale, positive.
    dt_max: largest initial timescale, ``>= dt_min``.
    dtype: float dtype of the result.

  Returns:
    ``log(Delta)``, shape ``shape``.
  """
  if not 0.0 < dt_min <= dt_max:
    raise ValueError(f"Need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}.")
  u = jax.random.uniform(key, shape, dtype=dtype)
  return u * (numpy.log(dt_max) - numpy.log(dt_min)) + numpy.log(dt_min)


def discretize_zoh(
  lambda_: jax.Array, b_tilde: jax.Array, delta: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Zero-order-hold discretisation of a diagonal continuous SSM.

  ``lambda_bar = exp(lambda_ delta)`` and
  ``b_bar = ((lambda_bar - 1) / lambda_) b_tilde`` row-wise.

  Args:
    lambda_: complex diagonal state matrix, (P,); no zero entries.
    b_tilde: complex input matrix in the eigenbasis, (P, H).
    delta: positive timescales, (P,).

  Returns:
    ``(lambda_bar (P,), b_bar (P, H))``.
  """
  lambda_bar = jnp.exp(lambda_ * delta)
  b_bar = ((lambda_bar - 1.0) / lambda_)[:, None] * b_tilde
  return lambda_bar, b_bar


def discretize_bilinear(
  lambda_: jax.Array, b_tilde: jax.Array, delta: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """Bilinear (Tustin) discretisation of a diagonal continuous SSM.

  ``lambda_bar = (1 - delta lambda_ / 2)^-1 (1 + delta lambda_ / 2)`` and
  ``b_bar = (1 - delta lambda_ / 2)^-1 delta b_tilde`` row-wise.

  Args:
    lambda_: complex diagonal state matrix, (P,).
    b_tilde: complex input matrix in the eigenbasis, (P, H).
    delta: positive timescales, (P,).

  Returns:
    ``(lambda_bar (P,), b_bar (P, H))``.
  """
  inv = 1.0 / (1.0 - 0.5 * delta * lambda_)
  lambda_bar = inv * (1.0 + 0.5 * delta * lambda_)
  b_bar = (inv * delta)[:, None] * b_tilde
  return lambda_bar, b_bar


def discretize(
  lambda_: jax.Array,
  b_tilde: jax.Array,
  delta: jax.Array,
  *,
  method: Literal["zoh", "bilinear"] = "zoh",
) -> tuple[jax.Array, jax.Array]:
  """Dispatches to :func:`discretize_zoh` or :func:`discretize_bilinear`.

  Args:
    lambda_: complex diagonal state matrix, (P,).
    b_tilde: complex input matrix, (P, H).
    delta: positive timescales, (P,).
    method: ``"zoh"`` or ``"bilinear"``.

  Returns:
    ``(lambda_bar (P,), b_bar (P, H))``.
  """
  if method == "zoh":
    return discretize_zoh(lambda_, b_tilde, delta)
  if method == "bilinear":
    return discretize_bilinear(lambda_, b_tilde, delta)
  raise ValueError(f"Unknown discretisation {method!r}; use 'zoh', 'bilinear'.")


def binary_operator_reset(e_i: ScanElement, e_j: ScanElement) -> ScanElement:
  """The resettable S5 scan operator ``e_i (+) e_j`` (Lu et al., 2023, eq. 6).

  ``(a_j a_i, a_j b_i + b_j, d_i)`` if ``d_j = 0`` else ``(a_j, b_j, d_j)``,
  computed branch-free. ``e_i`` is the earlier element. It is associative
  (Lu et al., Appendix A).

  Args:
    e_i: ``(a, b, d)`` with ``a``, ``b`` (..., P) and ``d`` in {0, 1} of the
      same rank (e.g. (..., 1)), float.
    e_j: the later element, same structure.

  Returns:
    The combined element ``(a, b, d)``.
  """
  a_i, b_i, d_i = e_i
  a_j, b_j, d_j = e_j
  keep = 1.0 - d_j
  a = a_j * a_i * keep + a_j * d_j
  b = (a_j * b_i + b_j) * keep + b_j * d_j
  d = d_i * keep + d_j
  return a, b, d


def binary_operator(e_i: ScanElement, e_j: ScanElement) -> ScanElement:
  """The plain linear-recurrence operator ``(a_j a_i, a_j b_i + b_j)``.

  With ``a_k = lambda_bar (1 - d_k)`` (the reset folded into the transition)
  its scan gives the same states as :func:`binary_operator_reset`.

  Args:
    e_i: ``(a, b)``, each (..., P), the earlier element.
    e_j: the later element, same structure.

  Returns:
    The combined element ``(a, b)``.
  """
  a_i, b_i = e_i
  a_j, b_j = e_j
  return a_j * a_i, a_j * b_i + b_j


def ssm_output(
  c_tilde: jax.Array, x: jax.Array, *, conj_sym: bool = True
) -> jax.Array:
  """Reads the SSM output ``2 Re(C x)`` (or ``Re(C x)`` without conj_sym).

  Args:
    c_tilde: complex output matrix, (H, P).
    x: complex states, (..., P).
    conj_sym: whether each kept state stands for a conjugate pair.

  Returns:
    Real outputs, (..., H).
  """
  return _read_out(c_tilde, jnp.real(x), jnp.imag(x), conj_sym=conj_sym)


class StepWeights(NamedTuple):
  """The step mode's real weights, computed once per parameter set.

  Everything in :func:`step_ssm` that does not depend on the state or the
  input, so a rollout pays for the discretisation and the complex-to-real
  split once instead of at every step (:func:`step_weights`).

  Attributes:
    lambda_re: ``Re(lambda_bar)``, (P,).
    lambda_im: ``Im(lambda_bar)``, (P,).
    w_in: ``[Re(b_bar); Im(b_bar)]^T``, (H, 2P): ``u @ w_in`` is
      ``b_bar u`` as (re, im).
    w_out: ``[Re(c_tilde), -Im(c_tilde)]^T`` (times 2 with conjugate
      symmetry), (2P, H): ``[x_re, x_im] @ w_out`` is the output.
  """

  lambda_re: jax.Array
  lambda_im: jax.Array
  w_in: jax.Array
  w_out: jax.Array


def step_weights(
  lambda_bar: jax.Array,
  b_bar: jax.Array,
  c_tilde: jax.Array,
  *,
  conj_sym: bool = True,
) -> StepWeights:
  """The discretised SSM as the real arrays of :class:`StepWeights`.

  Args:
    lambda_bar: (P,) complex.
    b_bar: (P, H) complex.
    c_tilde: (H, P) complex.
    conj_sym: fold the factor 2 of ``2 Re(C x)`` into ``w_out``.

  Returns:
    :class:`StepWeights`.

  References:
    Smith et al., `S5 <https://arxiv.org/abs/2208.04933>`_, 2023.
  """
  w_in = jnp.concatenate([jnp.real(b_bar), jnp.imag(b_bar)], axis=0).T
  w_out = jnp.concatenate([jnp.real(c_tilde), -jnp.imag(c_tilde)], axis=1).T
  scale = 2.0 if conj_sym else 1.0
  return StepWeights(
    jnp.real(lambda_bar), jnp.imag(lambda_bar), w_in, scale * w_out
  )


def step_prepared(
  weights: StepWeights, hidden: jax.Array, u: jax.Array, reset: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """:func:`step_ssm` from precomputed :class:`StepWeights`.

  ``x = lambda_bar (1 - reset) hidden + b_bar u`` and ``y = w_out [x]``:
  one elementwise complex multiply on (re, im) pairs and two real matmuls.

  Args:
    weights: from :func:`step_weights`.
    hidden: previous states, (..., P) complex.
    u: inputs, (..., H) real.
    reset: flags in {0, 1}, shape (...); 1 wipes ``hidden`` before ``u``.

  Returns:
    ``(x (..., P) complex, y (..., H) real)``.

  References:
    Lu et al., `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """
  keep = 1.0 - jnp.asarray(reset, u.dtype)[..., None]  # [B, 1]
  bu_re, bu_im = jnp.split(_matmul_2d(u, weights.w_in), 2, axis=-1)
  h_re, h_im = jnp.real(hidden) * keep, jnp.imag(hidden) * keep
  lead = (1,) * (h_re.ndim - 1)  # rank-promotion safe broadcast of (P,)
  lam_re = weights.lambda_re.reshape(lead + weights.lambda_re.shape)
  lam_im = weights.lambda_im.reshape(lead + weights.lambda_im.shape)
  x_re, x_im = _cmul(lam_re, lam_im, h_re, h_im)
  x_re, x_im = x_re + bu_re, x_im + bu_im
  y = _matmul_2d(jnp.concatenate([x_re, x_im], -1), weights.w_out)
  return jax.lax.complex(x_re, x_im), y


def step_ssm(
  lambda_bar: jax.Array,
  b_bar: jax.Array,
  c_tilde: jax.Array,
  hidden: jax.Array,
  u: jax.Array,
  reset: jax.Array,
  *,
  conj_sym: bool = True,
) -> tuple[jax.Array, jax.Array]:
  """One step of the resettable recurrence (the constant-time acting mode).

  ``x = lambda_bar (1 - reset) hidden + b_bar u``; ``y = 2 Re(c_tilde x)``.
  The same as :func:`step_prepared` of :func:`step_weights`; a loop of
  steps with fixed parameters should compute the weights once, outside it.

  Args:
    lambda_bar: (P,) complex.
    b_bar: (P, H) complex.
    c_tilde: (H, P) complex.
    hidden: previous states, (..., P) complex.
    u: inputs, (..., H) real.
    reset: flags in {0, 1}, shape (...); 1 wipes ``hidden`` before ``u``.
    conj_sym: read outputs as ``2 Re(C x)``.

  Returns:
    ``(x (..., P) complex, y (..., H) real)``.
  """
  weights = step_weights(lambda_bar, b_bar, c_tilde, conj_sym=conj_sym)
  return step_prepared(weights, hidden, u, reset)


def apply_ssm(
  lambda_bar: jax.Array,
  b_bar: jax.Array,
  c_tilde: jax.Array,
  hidden: jax.Array,
  u_seq: jax.Array,
  resets: jax.Array,
  *,
  conj_sym: bool = True,
  method: Literal["associative", "sequential", "reference"] = "associative",
) -> tuple[jax.Array, jax.Array]:
  """Runs the resettable diagonal SSM over a sequence from an initial state.

  ``x_k = lambda_bar (1 - d_k) x_{k-1} + b_bar u_k`` with ``x_0 = hidden``,
  ``y_k = 2 Re(c_tilde x_k)``. Time is the leading axis; any batch axes
  follow it (time-major ``[T, B, ...]``).

  ``"associative"`` folds each reset into its transition
  (``a_k = lambda_bar (1 - d_k)``) and the initial state into the first
  input, then runs ``jax.lax.associative_scan`` with
  :func:`binary_operator` on real (re, im) pairs. ``"reference"`` is the
  paper's form: prepend ``(1, hidden, 0)`` and scan with
  :func:`binary_operator_reset` in complex arithmetic. ``"sequential"`` is a
  ``jax.lax.scan`` of the same recurrence on real pairs (fastest on CPU, and
  by far the quickest to compile). All three give the same states; the
  input and output projections are dense real matmuls over all steps.

  Args:
    lambda_bar: (P,) complex.
    b_bar: (P, H) complex.
    c_tilde: (H, P) complex.
    hidden: initial states ``x_0``, (..., P) complex.
    u_seq: inputs, (T, ..., H) real.
    resets: flags ``d_k`` in {0, 1}, (T, ...); ``d_k = 1`` wipes the state
      before ``u_k`` is absorbed.
    conj_sym: read outputs as ``2 Re(C x)``.
    method: ``"associative"``, ``"sequential"`` or ``"reference"``.

  Returns:
    ``(x_T (..., P) complex, y_seq (T, ..., H) real)``.
  """
  if method not in _SCANS:
    raise ValueError(f"Unknown method {method!r}; use one of {sorted(_SCANS)}.")
  keep = 1.0 - jnp.asarray(resets, u_seq.dtype)[..., None]  # [T, ..., 1]
  lam = _transition(lambda_bar, jnp.ones_like(keep[:1]))  # 2 x [1, ..., P]
  b = _project_in(b_bar, u_seq)  # 2 x [T, ..., P]
  h = (jnp.real(hidden).astype(b[0].dtype), jnp.imag(hidden).astype(b[0].dtype))
  x_re, x_im = _SCANS[method](lam, keep, b, h)
  y = _read_out(c_tilde, x_re, x_im, conj_sym=conj_sym)
  return jax.lax.complex(x_re[-1], x_im[-1]), y


def _cmul(a_re, a_im, b_re, b_im):
  """Complex product on real pairs."""
  return a_re * b_re - a_im * b_im, a_re * b_im + a_im * b_re


def _transition(lambda_bar, keep):
  """``lambda_bar * keep`` as a real pair, (..., P); ``keep`` is (..., 1)."""
  lam = lambda_bar.reshape((1,) * (keep.ndim - 1) + lambda_bar.shape)
  return jnp.real(lam) * keep, jnp.imag(lam) * keep


def _project_in(b_bar, u):
  """``b_bar u`` as a real pair, one real matmul: (..., H) -> 2 x (..., P)."""
  w = jnp.concatenate([jnp.real(b_bar), jnp.imag(b_bar)], axis=0)  # [2P, H]
  z = _matmul_2d(u.astype(w.dtype), w.T)
  return jnp.split(z, 2, axis=-1)


def _read_out(c_tilde, x_re, x_im, *, conj_sym):
  """``Re(c_tilde x)`` (times 2 with conj_sym), one real matmul."""
  w = jnp.concatenate([jnp.real(c_tilde), -jnp.imag(c_tilde)], axis=1)
  y = _matmul_2d(jnp.concatenate([x_re, x_im], -1), w.T)
  return 2.0 * y if conj_sym else y


def _matmul_2d(x, w):
  """``x [..., K] @ w [K, M]`` as one 2-D matmul over the flattened rows.

  Same numbers as ``x @ w``; on CPU the backward pass of a 2-D dot (the
  weight gradient contracts one long axis) is markedly faster than that of a
  dot with several leading batch axes.
  """
  y = jnp.dot(x.reshape(-1, x.shape[-1]), w)
  return y.reshape(x.shape[:-1] + (w.shape[-1],))


def _scan_associative(lam, keep, b, h):
  """Resets folded into ``a``, ``x_0`` into ``b_1``; associative scan."""
  a = (lam[0] * keep, lam[1] * keep)  # [T, ..., P]
  first = _cmul(a[0][0], a[1][0], *h)
  b = (b[0].at[0].add(first[0]), b[1].at[0].add(first[1]))
  _, x = jax.lax.associative_scan(_real_operator, (a, b))
  return x


def _real_operator(e_i, e_j):
  """:func:`binary_operator` on ``((a_re, a_im), (b_re, b_im))`` pairs."""
  a_i, b_i = e_i
  a_j, b_j = e_j
  ab = _cmul(*a_j, *b_i)
  return _cmul(*a_j, *a_i), (ab[0] + b_j[0], ab[1] + b_j[1])


def _scan_sequential(lam, keep, b, h):
  """``jax.lax.scan`` of ``x_k = lambda_bar (1 - d_k) x_{k-1} + b_k``."""

  def body(x, inputs):
    keep_k, b_re, b_im = inputs
    x_re, x_im = _cmul(lam[0][0] * keep_k, lam[1][0] * keep_k, *x)
    x = (x_re + b_re, x_im + b_im)
    return x, x

  _, x = jax.lax.scan(body, h, (keep, *b))
  return x


def _scan_reference(lam, keep, b, h):
  """Paper form, complex: prepend ``(1, x_0, 0)``, scan, drop index 0."""
  b_c = jax.lax.complex(*b)
  a_c = jnp.broadcast_to(jax.lax.complex(*lam), b_c.shape)
  d = jnp.broadcast_to(1.0 - keep, b_c.shape[:-1] + (1,))
  a_c = jnp.concatenate([jnp.ones_like(a_c[:1]), a_c])
  b_c = jnp.concatenate([jax.lax.complex(*h)[None], b_c])
  d = jnp.concatenate([jnp.zeros_like(d[:1]), d])
  _, x, _ = jax.lax.associative_scan(binary_operator_reset, (a_c, b_c, d))
  return jnp.real(x[1:]), jnp.imag(x[1:])


_SCANS = {
  "associative": _scan_associative,
  "reference": _scan_reference,
  "sequential": _scan_sequential,
}
