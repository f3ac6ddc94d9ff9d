"""Classic control in JAX, and randomly projected control for meta-RL.

* :class:`CartPole`: CartPole-v1 (Barto, Sutton and Anderson, 1983) with the
  dynamics, reward and limits of gym's ``CartPole-v1`` and gymnax's port.
* :class:`Pendulum`: gym's ``Pendulum-v1`` swing-up.
* :class:`RandomProjectionMeta`: the meta-RL setting of Lu et al. (2023),
  §4.5 / Algorithm 1. Every meta-episode samples a random linear projection of
  the observations and of the actions of an inner control task and runs
  ``num_trials`` inner episodes (trials) under that same projection; the
  observation carries the previous action, reward and trial-done flag.
* :class:`ObservationProjectionMeta`: the easier variant in the paper's
  released code (popjaxrl): only the observation is projected (orthogonal,
  into 4 dimensions), no action permutation, no reward in the observation.

Registered names: ``"CartPole"``, ``"Pendulum"``, ``"MetaCartPole"``,
``"MetaPendulum"`` (the position-only and noisy meta variants are registered
by :mod:`tasks.popgym.stateless_control`, with popjaxrl's variant
``"MetaStatelessCartPolePopjaxrl"``).

References:
  Barto, Sutton and Anderson, `Neuronlike adaptive elements that can solve
  difficult learning control problems
  <https://doi.org/10.1109/TSMC.1983.6313077>`_, 1983.

  Brockman et al, `OpenAI Gym <https://arxiv.org/abs/1606.01540>`_, 2016.

  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register

__all__ = [
    "CartPole",
    "CartPoleParams",
    "CartPoleState",
    "MetaControlParams",
    "MetaControlState",
    "ObservationProjectionMeta",
    "Pendulum",
    "PendulumParams",
    "PendulumState",
    "RandomProjectionMeta",
    "angle_normalize",
]


def _check_positive(name: str, value: int) -> None:
  if int(value) < 1:
    raise ValueError(f"{name} must be a positive integer, got {value}.")


# ----------------------------------------------------------------- CartPole


@pytree_dataclass
class CartPoleParams:
  """Physical constants and limits of CartPole-v1 (gym's values)."""

  gravity: Any = 9.8
  masscart: Any = 1.0
  masspole: Any = 0.1
  length: Any = 0.5  # half the pole's length
  force_mag: Any = 10.0
  tau: Any = 0.02  # seconds per step (explicit Euler)
  theta_threshold_radians: Any = 12 * 2 * math.pi / 360
  x_threshold: Any = 2.4
  max_steps_in_episode: Any = 500


@pytree_dataclass
class CartPoleState:
  """Cart position and velocity, pole angle and angular velocity, time."""

  x: jax.Array  # () float32
  x_dot: jax.Array  # () float32
  theta: jax.Array  # () float32
  theta_dot: jax.Array  # () float32
  time: jax.Array  # () int32, steps taken in the episode


class CartPole(Environment[CartPoleState, CartPoleParams]):
  """CartPole-v1: keep a pole upright by pushing the cart left (0) or right (1).

  Reward is 1 per step (0 when stepping from an already terminal state, as in
  gymnax); the episode terminates when ``|x| > 2.4`` or ``|θ| > 12°`` and is
  truncated after ``max_steps_in_episode`` steps. Observation
  ``[x, ẋ, θ, θ̇]`` (float32); the start state is uniform in ``[-0.05, 0.05]⁴``.

  Args:
    max_steps_in_episode: default episode length limit (gym: 500).

  References:
    Barto, Sutton and Anderson, `Neuronlike adaptive elements that can solve
    difficult learning control problems
    <https://doi.org/10.1109/TSMC.1983.6313077>`_, 1983.
  """

  def __init__(self, *, max_steps_in_episode: int = 500):
    _check_positive("max_steps_in_episode", max_steps_in_episode)
    self._max_steps = int(max_steps_in_episode)

  @property
  def default_params(self) -> CartPoleParams:
    """gym's CartPole-v1 constants with this env's episode limit."""
    return CartPoleParams(max_steps_in_episode=self._max_steps)

  def reset(self, key, params):
    """Samples ``[x, ẋ, θ, θ̇] ~ U[-0.05, 0.05]⁴``; returns ``(obs, state)``."""
    del params
    s = jax.random.uniform(key, (4,), jnp.float32, -0.05, 0.05)
    state = CartPoleState(s[0], s[1], s[2], s[3], jnp.int32(0))
    return self.observe(state), state

  def step(self, key, state, action, params):
    """Euler step of the cart-pole equations of motion (gym's formulas)."""
    del key
    prev_terminal = self.is_terminal(state, params)
    force = jnp.where(action == 1, params.force_mag, -params.force_mag)
    cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
    total_mass = params.masspole + params.masscart
    polemass_length = params.masspole * params.length
    temp = (force + polemass_length * state.theta_dot**2 * sin) / total_mass
    thetaacc = (params.gravity * sin - cos * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * cos**2 / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    new = CartPoleState(
        x=state.x + params.tau * state.x_dot,
        x_dot=state.x_dot + params.tau * xacc,
        theta=state.theta + params.tau * state.theta_dot,
        theta_dot=state.theta_dot + params.tau * thetaacc,
        time=state.time + 1,
    )
    reward = (1.0 - prev_terminal).astype(jnp.float32)
    terminated = self.is_terminal(new, params)
    truncated = new.time >= params.max_steps_in_episode
    return self.observe(new), new, reward, terminated, truncated, {}

  def observe(self, state: CartPoleState) -> jax.Array:
    """The full state ``[x, ẋ, θ, θ̇]`` as float32, shape ``(4,)``."""
    obs = jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot])
    return obs.astype(jnp.float32)

  def is_terminal(self, state: CartPoleState, params) -> jax.Array:
    """Whether the cart left the track or the pole fell past the threshold."""
    out_x = jnp.abs(state.x) > params.x_threshold
    out_theta = jnp.abs(state.theta) > params.theta_threshold_radians
    return jnp.logical_or(out_x, out_theta)

  def observation_space(self, params):
    """``Box`` with gym's bounds (±4.8, ±inf, ±24°, ±inf)."""
    high = jnp.array(
        [
            2 * params.x_threshold,
            jnp.finfo(jnp.float32).max,
            2 * params.theta_threshold_radians,
            jnp.finfo(jnp.float32).max,
        ],
        jnp.float32,
    )
    return Box(-high, high, (4,), jnp.float32)

  def action_space(self, params):
    """``Discrete(2)``: 0 pushes left, 1 pushes right."""
    del params
    return Discrete(2)


# ----------------------------------------------------------------- Pendulum


def angle_normalize(x: jax.Array) -> jax.Array:
  """Wraps an angle to ``[-π, π)``."""
  return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


@pytree_dataclass
class PendulumParams:
  """Constants of gym's Pendulum-v1."""

  max_speed: Any = 8.0
  max_torque: Any = 2.0
  dt: Any = 0.05
  g: Any = 10.0
  m: Any = 1.0
  l: Any = 1.0  # noqa: E741
  max_steps_in_episode: Any = 200


@pytree_dataclass
class PendulumState:
  """Pendulum angle (0 = upright), angular velocity and time."""

  theta: jax.Array  # () float32
  theta_dot: jax.Array  # () float32
  time: jax.Array  # () int32


class Pendulum(Environment[PendulumState, PendulumParams]):
  """Pendulum-v1: swing a torque-limited pendulum up and hold it upright.

  Reward ``-(angle_normalize(θ)² + 0.1 θ̇² + 0.001 u²)`` from the state before
  the step and the clipped torque ``u``; never terminates, truncated after
  ``max_steps_in_episode`` steps. Observation ``[cos θ, sin θ, θ̇]``; start
  state ``θ ~ U[-π, π]``, ``θ̇ ~ U[-1, 1]``. Action ``Box(-2, 2, (1,))``.

  Args:
    max_steps_in_episode: default episode length limit (gym: 200).

  References:
    Brockman et al, `OpenAI Gym <https://arxiv.org/abs/1606.01540>`_, 2016.
  """

  def __init__(self, *, max_steps_in_episode: int = 200):
    _check_positive("max_steps_in_episode", max_steps_in_episode)
    self._max_steps = int(max_steps_in_episode)

  @property
  def default_params(self) -> PendulumParams:
    """gym's Pendulum-v1 constants with this env's episode limit."""
    return PendulumParams(max_steps_in_episode=self._max_steps)

  def reset(self, key, params):
    """Samples ``θ ~ U[-π, π]``, ``θ̇ ~ U[-1, 1]``; returns ``(obs, state)``."""
    del params
    high = jnp.array([jnp.pi, 1.0], jnp.float32)
    s = jax.random.uniform(key, (2,), jnp.float32, -high, high)
    state = PendulumState(s[0], s[1], jnp.int32(0))
    return self.observe(state), state

  def step(self, key, state, action, params):
    """Semi-implicit Euler step of the pendulum (gym's formulas)."""
    del key
    u = jnp.clip(
        jnp.reshape(action, ()), -params.max_torque, params.max_torque
    )
    th, thdot = state.theta, state.theta_dot
    cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
    newthdot = thdot + (
        3 * params.g / (2 * params.l) * jnp.sin(th)
        + 3.0 / (params.m * params.l**2) * u
    ) * params.dt
    newthdot = jnp.clip(newthdot, -params.max_speed, params.max_speed)
    new = PendulumState(
        theta=(th + newthdot * params.dt).astype(jnp.float32),
        theta_dot=newthdot.astype(jnp.float32),
        time=state.time + 1,
    )
    truncated = new.time >= params.max_steps_in_episode
    reward = (-cost).astype(jnp.float32)
    return self.observe(new), new, reward, jnp.array(False), truncated, {}

  def observe(self, state: PendulumState) -> jax.Array:
    """``[cos θ, sin θ, θ̇]`` as float32, shape ``(3,)``."""
    obs = jnp.stack(
        [jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]
    )
    return obs.astype(jnp.float32)

  def observation_space(self, params):
    """``Box([-1, -1, -8], [1, 1, 8])``."""
    high = jnp.array([1.0, 1.0, params.max_speed], jnp.float32)
    return Box(-high, high, (3,), jnp.float32)

  def action_space(self, params):
    """``Box(-max_torque, max_torque, (1,))``."""
    return Box(-params.max_torque, params.max_torque, (1,), jnp.float32)


# ------------------------------------------------- randomly projected meta-RL


@pytree_dataclass
class MetaControlParams:
  """Parameters of the inner task and the number of trials per meta-episode.

  With ``min_trials > 0`` each meta-episode draws its number of trials
  uniformly from ``min_trials, …, num_trials`` at reset (the agent is not
  told it); with 0 every meta-episode has ``num_trials``.
  """

  inner: Any  # the inner environment's params
  num_trials: Any = 16
  min_trials: Any = 0


@pytree_dataclass
class MetaControlState:
  """Inner state, the meta-episode's projections and trial counter."""

  inner: Any  # inner environment state
  initial_inner: Any  # inner state each trial restarts from (if repeated)
  initial_obs: jax.Array  # [inner_obs_dim] inner obs at that start
  obs_projection: jax.Array  # [obs_dim, inner_obs_dim]
  action_projection: jax.Array  # [n] permutation, or [inner_act, action_dim]
  trial: jax.Array  # () int32, trials completed
  time: jax.Array  # () int32, steps in the meta-episode
  num_trials: jax.Array  # () int32, trials this meta-episode ends after


class RandomProjectionMeta(Environment[MetaControlState, MetaControlParams]):
  """Randomly projected control: an in-context (meta-RL) task.

  At reset a projection is sampled and kept for the whole meta-episode:

  * observations: ``o = M_o · o_inner`` with ``M_o ∈ R^{obs_dim × d}`` and
    entries i.i.d. ``N(0, 1/d)``, ``d`` the inner observation size;
  * continuous inner actions (``Box``): the agent acts in
    ``[-1, 1]^{action_dim}``; ``M_a ∈ R^{k × action_dim}`` with entries
    ``N(0, 1/action_dim)`` maps it to ``[-1, 1]^k`` (before clipping), which is
    rescaled affinely to the inner bounds and clipped;
  * discrete inner actions (``Discrete(n)``): a uniformly random permutation of
    the ``n`` actions (the linear maps that send one-hot actions to one-hot
    actions), so the agent keeps a ``Discrete(n)`` action space.

  Each trial is one inner episode; when it terminates or is truncated the
  inner task restarts (from the meta-episode's first start state if
  ``repeat_initial_state``, else from a fresh reset) and the trial counter
  increments. The meta-episode terminates when ``num_trials`` trials are done.
  Observation: ``[M_o o_inner (obs_dim), previous action (one-hot n, or the
  raw action_dim vector), previous reward, previous trial-done]``; reset
  appends zeros (Algorithm 1 of Lu et al.).

  Choices, and why: the paper's multi-environment setup projects
  observations to size 12 and a size-2 action to the task's action space
  (defaults ``obs_dim=12``, ``action_dim=2``); 16 trials per episode is the
  paper's randomly projected CartPole setting (``num_trials=16``), and its
  released code (popjaxrl ``NoisyStatelessMetaCartPole``) restarts every trial
  from the same start state and observation (``repeat_initial_state=True``;
  with a noisy inner task the first observation's noise repeats too) and
  projects the observation only (here actions are projected too, as in the
  paper). The full paper text was not available to us (these numbers come
  from its abstract-level summaries and the released code), so the
  projection distribution is our choice: ``N(0, 1/fan_in)`` keeps projected
  entries at the inner scale (popjaxrl uses an orthogonal ``√2``-gain dense
  layer with zero bias for the observation; that variant is
  :class:`ObservationProjectionMeta`).

  Args:
    inner: the inner control environment (e.g. :class:`CartPole`).
    obs_dim: size of the projected observation.
    action_dim: size of the agent's action for a continuous inner task.
    repeat_initial_state: restart every trial from the same start state.
    num_trials: default number of trials per meta-episode.
    min_trials: if > 0, the default params draw each meta-episode's number
      of trials uniformly from ``min_trials, …, num_trials`` (an ablation:
      the agent cannot time its behaviour by the end of the episode).

  Raises:
    ValueError: a non-positive size or ``num_trials``, or ``min_trials``
      outside ``0, …, num_trials``.

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """

  def __init__(
      self,
      inner: Environment,
      *,
      obs_dim: int = 12,
      action_dim: int = 2,
      repeat_initial_state: bool = True,
      num_trials: int = 16,
      min_trials: int = 0,
  ):
    for name, value in [
        ("obs_dim", obs_dim),
        ("action_dim", action_dim),
        ("num_trials", num_trials),
    ]:
      _check_positive(name, value)
    if not 0 <= int(min_trials) <= int(num_trials):
      raise ValueError(f"min_trials must be in [0, num_trials={num_trials}]"
                       f", got {min_trials}.")
    self.inner = inner
    self.obs_dim = int(obs_dim)
    self.action_dim = int(action_dim)
    self.repeat_initial_state = bool(repeat_initial_state)
    self._num_trials = int(num_trials)
    self._min_trials = int(min_trials)
    inner_params = inner.default_params
    self._inner_obs_dim = inner.observation_space(inner_params).shape[0]
    self._inner_actions = inner.action_space(inner_params)

  @property
  def name(self) -> str:
    """``"Meta"`` + the inner environment's name."""
    return "Meta" + self.inner.name

  @property
  def _discrete(self) -> bool:
    return isinstance(self._inner_actions, Discrete)

  @property
  def default_params(self) -> MetaControlParams:
    """The inner default params and this env's number of trials."""
    return MetaControlParams(self.inner.default_params, self._num_trials,
                             self._min_trials)

  def _sample_projections(self, key):
    k_obs, k_act = jax.random.split(key)
    d = self._inner_obs_dim
    obs_proj = jax.random.normal(k_obs, (self.obs_dim, d)) / math.sqrt(d)
    if self._discrete:
      act_proj = jax.random.permutation(k_act, self._inner_actions.n)
    else:
      shape = (self._inner_actions.shape[0], self.action_dim)
      act_proj = jax.random.normal(k_act, shape) / math.sqrt(self.action_dim)
    return obs_proj, act_proj

  def reset(self, key, params):
    """Samples the projections and the first inner episode."""
    k_proj, k_inner = jax.random.split(key)
    obs_proj, act_proj = self._sample_projections(k_proj)
    inner_obs, inner_state = self.inner.reset(k_inner, params.inner)
    drawn = jax.random.randint(jax.random.fold_in(key, 1), (),
                               params.min_trials, params.num_trials + 1)
    num_trials = jnp.where(params.min_trials > 0, drawn, params.num_trials)
    state = MetaControlState(
        inner=inner_state,
        initial_inner=inner_state,
        initial_obs=inner_obs,
        obs_projection=obs_proj,
        action_projection=act_proj,
        trial=jnp.int32(0),
        time=jnp.int32(0),
        num_trials=jnp.asarray(num_trials, jnp.int32),
    )
    return self._first_observation(state, inner_obs), state

  def _first_observation(self, state: MetaControlState, inner_obs):
    """Reset observation: the projected inner observation, then zeros."""
    zeros = jnp.zeros((self._action_size + 2,), jnp.float32)
    return jnp.concatenate([state.obs_projection @ inner_obs, zeros])

  def _step_observation(self, state: MetaControlState, inner_obs, action,
                        reward, trial_done):
    """Step observation: projection, previous action, reward, trial-done."""
    return jnp.concatenate([
        state.obs_projection @ inner_obs,
        self._encode_action(action),
        jnp.stack([reward, trial_done.astype(jnp.float32)]),
    ])

  @property
  def _action_size(self) -> int:
    return self._inner_actions.n if self._discrete else self.action_dim

  def inner_action(self, state: MetaControlState, action, params):
    """Maps the agent's action to the inner task's action."""
    if self._discrete:
      return state.action_projection[action]
    space = self.inner.action_space(params.inner)
    z = state.action_projection @ jnp.clip(action, -1.0, 1.0)
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    return jnp.clip(low + (z + 1.0) * (high - low) / 2.0, low, high)

  def _encode_action(self, action) -> jax.Array:
    if self._discrete:
      return jax.nn.one_hot(action, self._inner_actions.n)
    return jnp.clip(action, -1.0, 1.0).astype(jnp.float32)

  def step(self, key, state, action, params):
    """Steps the inner task; restarts it when a trial ends."""
    k_step, k_reset = jax.random.split(key)
    inner_act = self.inner_action(state, action, params)
    obs, inner_state, reward, term, trunc, _ = self.inner.step(
        k_step, state.inner, inner_act, params.inner
    )
    trial_done = jnp.logical_or(term, trunc)
    restart_obs, restart = self._restart_point(k_reset, state, params)
    inner_state = jax.tree.map(
        lambda r, s: jnp.where(trial_done, r, s), restart, inner_state
    )
    obs = jnp.where(trial_done, restart_obs, obs)
    trial = state.trial + trial_done.astype(jnp.int32)
    new = MetaControlState(
        inner=inner_state,
        initial_inner=state.initial_inner,
        initial_obs=state.initial_obs,
        obs_projection=state.obs_projection,
        action_projection=state.action_projection,
        trial=trial,
        time=state.time + 1,
        num_trials=state.num_trials,
    )
    meta_obs = self._step_observation(state, obs, action, reward, trial_done)
    terminated = trial >= state.num_trials
    info = {"trial": trial, "trial_done": trial_done}
    return meta_obs, new, reward, terminated, jnp.array(False), info

  def _restart_point(self, key, state: MetaControlState, params):
    """``(inner obs, inner state)`` the next trial starts from."""
    if self.repeat_initial_state:
      return state.initial_obs, state.initial_inner
    return self.inner.reset(key, params.inner)

  def observation_space(self, params):
    """Unbounded ``Box`` of size ``obs_dim + |action encoding| + 2``."""
    del params
    size = self.obs_dim + self._action_size + 2
    return Box(-jnp.inf, jnp.inf, (size,), jnp.float32)

  def action_space(self, params):
    """``Discrete(n)`` for a discrete inner task, else ``Box(-1, 1)``."""
    del params
    if self._discrete:
      return Discrete(self._inner_actions.n)
    return Box(-1.0, 1.0, (self.action_dim,), jnp.float32)


class ObservationProjectionMeta(RandomProjectionMeta):
  """popjaxrl's meta-control: only the observation is projected.

  The variant of :class:`RandomProjectionMeta` in the S5 paper's released
  code (popjaxrl ``NoisyStatelessMetaCartPole``, noise 0, with a 200-step
  position-only CartPole inside). Per meta-episode it samples one start
  state and one projection ``M ∈ R^{obs_dim × d}`` with orthonormal columns
  scaled by ``gain`` (``Mᵀ M = gain² I``; an orthogonally initialised dense
  layer with zero bias, popjaxrl's ``Dense(4)`` with ``orthogonal(√2)``).
  Every trial restarts from that start state; after ``num_trials`` trials
  the meta-episode terminates. Observation, ``obs_dim + 3`` floats:
  ``[M o_inner, a_{t-1}, trial-done, first-step]`` where ``a_{t-1}`` is the
  previous action as a number (0 or 1), ``trial-done`` is 1 on the step
  whose observation is the restart of a new trial, and ``first-step`` is 1
  only on the reset observation (which is ``[M o_0, 0, 0, 1]``).

  How it differs from :class:`RandomProjectionMeta` (our harder default):

  * actions are not permuted: the agent's action is the inner action;
  * the previous reward is not in the observation;
  * the projection is orthogonal with gain ``√2`` into 4 dimensions
    instead of Gaussian ``N(0, 1/d)`` into 12;
  * the previous action is one number, not a one-hot, and there is a
    first-step flag. (The agent's :class:`tasks.wrappers.PrevActionObs`
    appends a one-hot previous action and a first-step flag as well, as
    popjaxrl's ``AliasPrevActionV2`` does, so the agent sees both copies,
    10 numbers in all for CartPole, as in popjaxrl.)

  Discrete inner actions only (popjaxrl has only CartPole).

  With ``trial_done_flag=False`` (an ablation, not popjaxrl's task) the
  trial-done entry is always 0, so the agent can tell that a trial ended
  only from the projected observation jumping back to the start state:
  counting trials is harder, the observation's size is unchanged.

  Args:
    inner: the inner control environment with ``Discrete`` actions.
    obs_dim: size of the projected observation (popjaxrl: 4).
    gain: scale of the orthogonal projection (popjaxrl: ``√2``).
    num_trials: default number of trials per meta-episode (popjaxrl: 16).
    min_trials: as in :class:`RandomProjectionMeta` (popjaxrl: 0, fixed).
    trial_done_flag: whether the trial-done entry is set (popjaxrl: yes).

  Raises:
    ValueError: a continuous inner task, or a non-positive size or gain.

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.

    Saxe, McClelland and Ganguli, `Exact solutions to the nonlinear dynamics
    of learning in deep linear neural networks
    <https://arxiv.org/abs/1312.6120>`_, 2014 (orthogonal initialisation).
  """

  def __init__(self, inner: Environment, *, obs_dim: int = 4,
               gain: float = math.sqrt(2.0), num_trials: int = 16,
               min_trials: int = 0, trial_done_flag: bool = True):
    super().__init__(inner, obs_dim=obs_dim, repeat_initial_state=True,
                     num_trials=num_trials, min_trials=min_trials)
    self.trial_done_flag = bool(trial_done_flag)
    if not self._discrete:
      raise ValueError("ObservationProjectionMeta needs Discrete inner "
                       f"actions, got {self._inner_actions}.")
    if not float(gain) > 0:
      raise ValueError(f"gain must be > 0, got {gain}.")
    self.gain = float(gain)

  def _sample_projections(self, key):
    """Orthogonal ``M`` (times ``gain``) and the identity action map."""
    init = jax.nn.initializers.orthogonal(scale=self.gain)
    obs_proj = init(key, (self.obs_dim, self._inner_obs_dim), jnp.float32)
    return obs_proj, jnp.arange(self._inner_actions.n)

  def _first_observation(self, state: MetaControlState, inner_obs):
    """``[M o_0, 0, 0, 1]``."""
    flags = jnp.array([0.0, 0.0, 1.0], jnp.float32)
    return jnp.concatenate([state.obs_projection @ inner_obs, flags])

  def _step_observation(self, state: MetaControlState, inner_obs, action,
                        reward, trial_done):
    """``[M o, a_{t-1}, trial-done, 0]``; the reward is left out."""
    del reward
    done = trial_done.astype(jnp.float32) * float(self.trial_done_flag)
    flags = jnp.stack([jnp.asarray(action, jnp.float32), done,
                       jnp.float32(0.0)])
    return jnp.concatenate([state.obs_projection @ inner_obs, flags])

  def observation_space(self, params):
    """Unbounded ``Box`` of size ``obs_dim + 3``."""
    del params
    return Box(-jnp.inf, jnp.inf, (self.obs_dim + 3,), jnp.float32)


register("CartPole", lambda **kw: CartPole(**kw))
register("Pendulum", lambda **kw: Pendulum(**kw))
register(
    "MetaCartPole",
    lambda **kw: RandomProjectionMeta(
        CartPole(max_steps_in_episode=200), **kw
    ),
)
register("MetaPendulum", lambda **kw: RandomProjectionMeta(Pendulum(), **kw))
