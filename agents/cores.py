"""Resettable recurrent cores for the agents: S5 stack, LSTM, GRU and MLP.

Every core is an ``hk.RNNCore`` with one interface:

* ``initial_state(batch_size)`` -> a NamedTuple state with leading axis B;
* ``step(x [B, D], reset [B], state) -> (y [B, H], state)``, also reachable
  as ``core((x, reset), state)`` (haiku's ``ResetCore`` input convention, so
  ``hk.dynamic_unroll`` works);
* ``unroll(x [T, B, D], resets [T, B], state) -> (y [T, B, H], state)``.

``reset[k] = 1`` wipes the state to ``initial_state`` BEFORE ``x[k]`` is
absorbed (the PureJaxRL "last done" convention used by Lu et al., 2023), so
the output at a reset step equals that of a fresh start. The S5 core runs its
sequence mode as one scan over all steps and shares its parameters with the
step mode; the maths is in :mod:`agents.s5`.

References:
  Smith, Warrington and Linderman, `Simplified State Space Layers for
  Sequence Modeling <https://arxiv.org/abs/2208.04933>`_, 2023.

  Lu, Schroecker, Gu, Parisotto, Foerster, Singh and Behbahani, `Structured
  State Space Models for In-Context Reinforcement Learning
  <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy

from agents import s5

__all__ = [
  "CORE_NAMES",
  "GRUCore",
  "LSTMCore",
  "MLPCore",
  "MLPState",
  "S5Block",
  "S5Core",
  "S5SSM",
  "S5State",
  "make_core",
]

Activation = Literal["full_glu", "half_glu1", "half_glu2", "gelu"]
LayerNormPlace = Literal["none", "pre", "post"]


class S5State(NamedTuple):
  """State of an :class:`S5Core`.

  Attributes:
    hidden: one complex64 array [B, P] per layer.
  """

  hidden: tuple[jax.Array, ...]


class MLPState(NamedTuple):
  """The (empty) state of an :class:`MLPCore`: it has no memory."""


def _broadcast_reset(reset: jax.Array, like: jax.Array) -> jax.Array:
  """Reshapes ``reset`` [B] to [B, 1, ...] with the rank of ``like``."""
  return jnp.reshape(reset, reset.shape + (1,) * (like.ndim - reset.ndim))


def _reset_state(reset: jax.Array, state: Any, initial: Any) -> Any:
  """``initial`` where ``reset`` is true, ``state`` elsewhere, per leaf."""
  reset = jnp.asarray(reset, bool)
  return jax.tree.map(
    lambda s, i: jnp.where(_broadcast_reset(reset, s), i, s), state, initial
  )


def _rows(fn, x: jax.Array) -> jax.Array:
  """``fn`` (a per-row map, e.g. ``hk.Linear``) on ``x`` [..., D] as [N, D].

  The same numbers; a 2-D dot's weight gradient is faster on CPU than one
  contracting several leading axes (``bench/core_throughput.py``).
  """
  y = fn(x.reshape(-1, x.shape[-1]))
  return y.reshape(x.shape[:-1] + y.shape[-1:])


def _rows_identity(fn, x: jax.Array) -> jax.Array:
  """``fn(x)`` (``x`` is already [B, D] rows)."""
  return fn(x)


def _check_shapes(x: jax.Array, resets: jax.Array, *, sequence: bool) -> None:
  """Raises ValueError unless x is [(T,) B, D] and resets [(T,) B]."""
  rank = 3 if sequence else 2
  want = "x [T, B, D], resets [T, B]" if sequence else "x [B, D], reset [B]"
  if x.ndim != rank or tuple(resets.shape) != tuple(x.shape[:-1]):
    raise ValueError(
      f"Expected {want}; got x {tuple(x.shape)}, resets {tuple(resets.shape)}."
    )


class _Core(hk.RNNCore):
  """Shared plumbing: ``__call__`` forwards ``(x, reset)`` to ``step``."""

  def __call__(self, inputs: tuple[jax.Array, jax.Array], prev_state: Any):
    """One step; ``inputs`` is ``(x [B, D], reset [B])``.

    Returns:
      ``(y [B, H], state)``.
    """
    x, reset = inputs
    return self.step(x, reset, prev_state)

  def step(self, x: jax.Array, reset: jax.Array, state: Any):
    """One step, ``(x [B, D], reset [B], state) -> (y [B, H], state)``."""
    raise NotImplementedError

  def unroll(self, x: jax.Array, resets: jax.Array, state: Any):
    """Sequence mode, ``(x [T, B, D], resets [T, B], state) -> (y, state)``.

    The default runs :meth:`step` under ``hk.dynamic_unroll`` (``lax.scan``).
    """
    _check_shapes(x, resets, sequence=True)
    return hk.dynamic_unroll(self, (x, resets), state)


class _HaikuRNN(_Core):
  """A resettable wrapper of a haiku recurrent cell (LSTM or GRU)."""

  _cell_cls: type[hk.RNNCore]

  def __init__(self, width: int, *, name: str | None = None):
    """Builds the core.

    Args:
      width: hidden size H (the output size).
      name: haiku module name.
    """
    super().__init__(name=name)
    self._width = width
    self._cell = self._cell_cls(width)

  def initial_state(self, batch_size: int | None) -> Any:
    """Zeros, as ``hk.LSTM`` / ``hk.GRU`` (leaves [B, H])."""
    return self._cell.initial_state(batch_size)

  def step(self, x: jax.Array, reset: jax.Array, state: Any):
    """Wipes ``state`` where ``reset`` [B], then applies the cell to ``x``.

    Returns:
      ``(y [B, H], state)``.
    """
    _check_shapes(x, reset, sequence=False)
    initial = self._cell.initial_state(x.shape[0])
    return self._cell(x, _reset_state(reset, state, initial))


class LSTMCore(_HaikuRNN):
  """``hk.LSTM`` with per-step resets; state ``hk.LSTMState`` ([B, H] each).

  References:
    Hochreiter and Schmidhuber, Long Short-Term Memory, 1997.
  """

  _cell_cls = hk.LSTM


class GRUCore(_HaikuRNN):
  """``hk.GRU`` with per-step resets; state an array [B, H].

  References:
    Cho et al., `Learning Phrase Representations using RNN Encoder-Decoder
    <https://arxiv.org/abs/1406.1078>`_, 2014.
  """

  _cell_cls = hk.GRU


class MLPCore(_Core):
  """A memoryless core: ``Linear -> relu -> Linear -> relu`` per step."""

  def __init__(self, width: int, *, name: str | None = None):
    """Builds the core.

    Args:
      width: hidden and output size H.
      name: haiku module name.
    """
    super().__init__(name=name)
    self._mlp = hk.nets.MLP([width, width], activate_final=True)

  def initial_state(self, batch_size: int | None) -> MLPState:
    """The empty placeholder state."""
    del batch_size
    return MLPState()

  def step(self, x: jax.Array, reset: jax.Array, state: MLPState):
    """Applies the MLP to ``x`` [B, D]; ``reset`` has nothing to wipe."""
    _check_shapes(x, reset, sequence=False)
    return self._mlp(x), state

  def unroll(self, x: jax.Array, resets: jax.Array, state: MLPState):
    """Applies the MLP to all of ``x`` [T, B, D] at once."""
    _check_shapes(x, resets, sequence=True)
    return self._mlp(x), state


def _hippo_initializer(part: Literal["re", "im"], lambda_: numpy.ndarray):
  """Constant initialiser from the (float64) HiPPO-N eigenvalues."""
  values = lambda_.real if part == "re" else lambda_.imag

  def init(shape, dtype):
    return jnp.asarray(values, dtype).reshape(shape)

  return init


def _projected_initializer(v: numpy.ndarray, *, side: Literal["b", "c"]):
  """Samples ``V^H B`` (B real) or ``C V`` (C complex), as [..., 2] re/im.

  ``B`` [N, H] is lecun-normal (std ``1/sqrt(H)``, H its fan-in); ``C``
  [H, N] has lecun-normal real and imaginary parts (std ``1/sqrt(N)``), as
  described for the lindermanlab S5 code.
  """
  n, p = v.shape

  def init(shape, dtype):
    key = hk.next_rng_key()
    if side == "b":
      h = shape[1]
      b = jax.random.normal(key, (n, h), jnp.float32) / numpy.sqrt(h)
      z = jnp.asarray(v.conj().T, jnp.complex64) @ b.astype(jnp.complex64)
    else:
      h = shape[0]
      c = jax.random.normal(key, (h, n, 2), jnp.float32) / numpy.sqrt(n)
      c = jax.lax.complex(c[..., 0], c[..., 1])
      z = c @ jnp.asarray(v, jnp.complex64)
    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1).astype(dtype)

  return init


class S5SSM(hk.Module):
  """One S5 state-space map H -> H with per-step resets (step and sequence).

  Parameters (float32): ``lambda_re``, ``lambda_im`` (P,), ``b`` (P, H, 2),
  ``c`` (H, P, 2), ``d`` (H,), ``log_step`` (P,). Initialisation: block HiPPO-N
  for Lambda (:func:`agents.s5.make_block_hippo_n`), ``V^H B`` and ``C V``
  with lecun-normal ``B`` and ``C``, ``D ~ N(0, 1)``, log-uniform steps in
  ``[dt_min, dt_max]``, as in Smith et al. (2023) and popjaxrl.
  """

  def __init__(
    self,
    *,
    state_size: int,
    blocks: int = 1,
    conj_sym: bool = True,
    discretization: Literal["zoh", "bilinear"] = "zoh",
    dt_min: float = 1e-3,
    dt_max: float = 1e-1,
    step_rescale: float = 1.0,
    clip_eigs: bool = False,
    max_timescale: float | None = None,
    scan: Literal["associative", "sequential"] = "sequential",
    name: str | None = None,
  ):
    """Builds the SSM.

    Args:
      state_size: N, the real state size; P = N / 2 with ``conj_sym``.
      blocks: number of HiPPO-N blocks J on the diagonal.
      conj_sym: keep one state per conjugate pair, output ``2 Re(C x)``.
      discretization: ``"zoh"`` or ``"bilinear"``.
      dt_min: smallest initial timescale.
      dt_max: largest initial timescale.
      step_rescale: multiplies the timescales ``exp(log_step)``.
      clip_eigs: clamp ``Re(Lambda) <= -1e-4`` for stability.
      max_timescale: if set, clamp ``Re(Lambda) * Delta <= -1 /
        max_timescale``: every mode forgets with a time constant of at most
        ``max_timescale`` steps (``|lambda_bar| <= exp(-1 / max_timescale)``
        under ZOH), so the state stays in the range it reaches within that
        many steps however long the sequence. Without it training can make
        modes unstable (``Re(Lambda) > 0``) or integrators, whose state grows
        past the training horizon (``results/notes/meta_cartpole.md``).
      scan: sequence-mode scan of :func:`agents.s5.apply_ssm`. The default
        ``"sequential"`` (``lax.scan`` of the elementwise recurrence; the
        matmuls still run over all T steps at once) measured faster on the
        2-core CPU than ``"associative"`` and compiles in seconds instead of
        minutes (``bench/core_throughput.py``).
      name: haiku module name.
    """
    super().__init__(name=name)
    if discretization not in ("zoh", "bilinear"):
      raise ValueError(
        f"Unknown discretization {discretization!r}; use 'zoh', 'bilinear'."
      )
    if scan not in ("associative", "sequential"):
      raise ValueError(
        f"Unknown scan {scan!r}; use 'associative', 'sequential'."
      )
    self._lambda, self._v = s5.make_block_hippo_n(
      state_size, blocks=blocks, conj_sym=conj_sym
    )
    self._conj_sym = conj_sym
    self._discretization = discretization
    self._dt = (dt_min, dt_max)
    self._step_rescale = step_rescale
    if max_timescale is not None and not max_timescale > 0:
      raise ValueError(
        f"max_timescale must be > 0 (or None), got {max_timescale}."
      )
    self._clip_eigs = clip_eigs
    self._max_timescale = max_timescale
    self._scan = scan

  @property
  def num_states(self) -> int:
    """P, the number of complex states (the state is [B, P])."""
    return self._lambda.shape[0]

  def initial_state(self, batch_size: int) -> jax.Array:
    """Zeros, complex64 [B, P]."""
    return jnp.zeros((batch_size, self.num_states), jnp.complex64)

  def _discrete(self, width: int):
    """Parameters -> ``(lambda_bar (P,), b_bar (P, H), c_tilde (H, P), d)``."""
    p = self.num_states
    f32 = jnp.float32
    lam_re = hk.get_parameter(
      "lambda_re", (p,), f32, _hippo_initializer("re", self._lambda)
    )
    lam_im = hk.get_parameter(
      "lambda_im", (p,), f32, _hippo_initializer("im", self._lambda)
    )
    b = hk.get_parameter(
      "b", (p, width, 2), f32, _projected_initializer(self._v, side="b")
    )
    c = hk.get_parameter(
      "c", (width, p, 2), f32, _projected_initializer(self._v, side="c")
    )
    d = hk.get_parameter("d", (width,), f32, hk.initializers.RandomNormal())
    log_step = hk.get_parameter(
      "log_step",
      (p,),
      f32,
      lambda shape, dtype: s5.init_log_step(
        hk.next_rng_key(), shape, dt_min=self._dt[0], dt_max=self._dt[1]
      ).astype(dtype),
    )
    if self._clip_eigs:
      lam_re = jnp.minimum(lam_re, -1e-4)
    step = self._step_rescale * jnp.exp(log_step)
    if self._max_timescale is not None:
      lam_re = jnp.minimum(lam_re, -1.0 / (self._max_timescale * step))
    lambda_bar, b_bar = s5.discretize(
      jax.lax.complex(lam_re, lam_im),
      jax.lax.complex(b[..., 0], b[..., 1]),
      step,
      method=self._discretization,
    )
    return lambda_bar, b_bar, jax.lax.complex(c[..., 0], c[..., 1]), d

  def step(self, u: jax.Array, reset: jax.Array, hidden: jax.Array):
    """One step: ``u`` [B, H], ``reset`` [B], ``hidden`` [B, P].

    Returns:
      ``(y [B, H], hidden [B, P])``.
    """
    weights, d = self.step_weights(u.shape[-1])
    x, y = s5.step_prepared(weights, hidden, u, reset)
    return y + d[None] * u, x

  def step_weights(self, width: int) -> tuple[s5.StepWeights, jax.Array]:
    """The step mode's weights: ``(StepWeights, d (H,))`` of the parameters.

    They depend on the parameters only, so inside a loop of steps with
    fixed parameters (a rollout) XLA computes them once, before the loop.
    """
    lambda_bar, b_bar, c_tilde, d = self._discrete(width)
    weights = s5.step_weights(
      lambda_bar, b_bar, c_tilde, conj_sym=self._conj_sym
    )
    return weights, d

  def unroll(self, u: jax.Array, resets: jax.Array, hidden: jax.Array):
    """Sequence mode: ``u`` [T, B, H], ``resets`` [T, B], ``hidden`` [B, P].

    Returns:
      ``(y [T, B, H], final hidden [B, P])``.
    """
    lambda_bar, b_bar, c_tilde, d = self._discrete(u.shape[-1])
    x, y = s5.apply_ssm(
      lambda_bar,
      b_bar,
      c_tilde,
      hidden,
      u,
      resets,
      conj_sym=self._conj_sym,
      method=self._scan,
    )
    return y + d[None, None] * u, x


class S5Block(hk.Module):
  """An S5 sequence layer: [norm] -> SSM -> activation/GLU -> residual [norm].

  As popjaxrl's ``SequenceLayer`` (without dropout). ``full_glu``:
  ``a = gelu(y)``, out ``= W1 a * sigmoid(W2 a)``; ``half_glu1``:
  ``a * sigmoid(W2 a)``; ``half_glu2``: ``y * sigmoid(W2 a)``; ``gelu``:
  ``a``.
  """

  def __init__(
    self,
    width: int,
    *,
    activation: Activation = "full_glu",
    layer_norm: LayerNormPlace = "none",
    name: str | None = None,
    **ssm_kwargs: Any,
  ):
    """Builds the block.

    Args:
      width: model width H (input and output size).
      activation: ``"full_glu"``, ``"half_glu1"``, ``"half_glu2"``, ``"gelu"``.
      layer_norm: ``"none"``, ``"pre"`` (before the SSM) or ``"post"`` (after
        the residual).
      name: haiku module name.
      **ssm_kwargs: keyword arguments of :class:`S5SSM`.
    """
    super().__init__(name=name)
    if activation not in ("full_glu", "half_glu1", "half_glu2", "gelu"):
      raise ValueError(
        f"Unknown activation {activation!r}; use 'full_glu', 'half_glu1', "
        "'half_glu2', 'gelu'."
      )
    if layer_norm not in ("none", "pre", "post"):
      raise ValueError(
        f"Unknown layer_norm {layer_norm!r}; use 'none', 'pre', 'post'."
      )
    self._activation = activation
    self._layer_norm = layer_norm
    self.ssm = S5SSM(**ssm_kwargs)
    # Built here, not in the methods, so step and unroll share parameters.
    self._norm = hk.LayerNorm(-1, create_scale=True, create_offset=True)
    self._gate = hk.Linear(width, name="gate")
    self._value = hk.Linear(width, name="value")

  def _mix(self, y: jax.Array) -> jax.Array:
    """The activation / gated linear unit on the SSM output y [..., H]."""
    a = jax.nn.gelu(y)
    if self._activation == "gelu":
      return a
    gate = jax.nn.sigmoid(_rows(self._gate, a))
    if self._activation == "full_glu":
      return _rows(self._value, a) * gate
    return (a if self._activation == "half_glu1" else y) * gate

  def _around(self, u: jax.Array, ssm_fn) -> tuple[jax.Array, jax.Array]:
    """Norms, mixing and residual around ``ssm_fn(u) -> (y, hidden)``."""
    z = self._norm(u) if self._layer_norm == "pre" else u
    y, hidden = ssm_fn(z)
    out = u + self._mix(y)
    if self._layer_norm == "post":
      out = self._norm(out)
    return out, hidden

  def step(self, u: jax.Array, reset: jax.Array, hidden: jax.Array):
    """One step, ``u`` [B, H] -> ``(out [B, H], hidden [B, P])``."""
    return self._around(u, lambda z: self.ssm.step(z, reset, hidden))

  def unroll(self, u: jax.Array, resets: jax.Array, hidden: jax.Array):
    """Sequence mode, ``u`` [T, B, H] -> ``(out, final hidden [B, P])``."""
    return self._around(u, lambda z: self.ssm.unroll(z, resets, hidden))


class S5Core(_Core):
  """An input projection to width H followed by a stack of :class:`S5Block`.

  Step mode is the constant-time recurrence; sequence mode (:meth:`unroll`)
  runs each layer's SSM over all T steps with one scan. Both share
  parameters and state.
  """

  def __init__(
    self,
    width: int,
    *,
    num_layers: int = 1,
    state_size: int | None = None,
    input_projection: bool = True,
    name: str | None = None,
    **block_kwargs: Any,
  ):
    """Builds the core.

    Args:
      width: model width H (output size).
      num_layers: number of S5 blocks. One block with ``state_size = H``
        has about the parameters and FLOPs of a GRU of width H (popjaxrl
        uses 4 blocks of width 256).
      state_size: N per layer (P = N / 2 complex states); defaults to H.
      input_projection: a linear map of the input to width H first;
        ``False`` feeds the input to the first block as it is (popjaxrl:
        the encoder's output), so its size must be H.
      name: haiku module name.
      **block_kwargs: keyword arguments of :class:`S5Block` and
        :class:`S5SSM` (``activation``, ``layer_norm``, ``blocks``, ``scan``,
        ``discretization``, ``dt_min``, ...).
    """
    super().__init__(name=name)
    if num_layers < 1:
      raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
    self._width = width
    self._encoder = (hk.Linear(width, name="encoder") if input_projection
                     else None)
    self._blocks = [
      S5Block(
        width,
        state_size=state_size or width,
        name=f"block_{i}",
        **block_kwargs,
      )
      for i in range(num_layers)
    ]

  def _project(self, x: jax.Array, rows) -> jax.Array:
    """The input projection (``rows(fn, x)`` applies it), or ``x`` itself
    when there is none (its size must then be H)."""
    if self._encoder is not None:
      return rows(self._encoder, x)
    if x.shape[-1] != self._width:
      raise ValueError(
        f"S5Core(input_projection=False) needs inputs of its width "
        f"{self._width}, got size {x.shape[-1]}."
      )
    return x

  def initial_state(self, batch_size: int) -> S5State:
    """Zeros: one complex64 [B, P] per layer."""
    return S5State(tuple(b.ssm.initial_state(batch_size) for b in self._blocks))

  def step(self, x: jax.Array, reset: jax.Array, state: S5State):
    """One step, ``x`` [B, D], ``reset`` [B] -> ``(y [B, H], state)``."""
    _check_shapes(x, reset, sequence=False)
    u, hidden = self._project(x, _rows_identity), []
    for block, h in zip(self._blocks, state.hidden, strict=True):
      u, h = block.step(u, reset, h)
      hidden.append(h)
    return u, S5State(tuple(hidden))

  def unroll(self, x: jax.Array, resets: jax.Array, state: S5State):
    """Sequence mode, ``x`` [T, B, D], ``resets`` [T, B] -> ``(y, state)``."""
    _check_shapes(x, resets, sequence=True)
    u, hidden = self._project(x, _rows), []
    for block, h in zip(self._blocks, state.hidden, strict=True):
      u, h = block.unroll(u, resets, h)
      hidden.append(h)
    return u, S5State(tuple(hidden))


_CORES = {"gru": GRUCore, "lstm": LSTMCore, "mlp": MLPCore, "s5": S5Core}
CORE_NAMES: tuple[str, ...] = tuple(sorted(_CORES))


def make_core(kind: str, *, width: int, **kwargs: Any) -> hk.RNNCore:
  """Builds a resettable core by name; call inside ``hk.transform``.

  Args:
    kind: one of :data:`CORE_NAMES` (``"gru"``, ``"lstm"``, ``"mlp"``,
      ``"s5"``).
    width: hidden / output size H.
    **kwargs: further keyword arguments of the core's constructor (for
      ``"s5"``: ``num_layers``, ``state_size``, ``activation``, ...).

  Returns:
    The core, with ``initial_state``, ``step`` and ``unroll``.
  """
  if kind not in _CORES:
    raise ValueError(f"Unknown core {kind!r}; valid names: {CORE_NAMES}.")
  if width < 1:
    raise ValueError(f"width must be >= 1, got {width}.")
  return _CORES[kind](width, **kwargs)
