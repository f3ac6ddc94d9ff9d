"""POPGym stateless control, Minesweeper and Battleship against popgym 1.0.7.

popgym is a test-only reference. For every task and level: the same spaces
(POPGym's ``MultiDiscrete([r, c])`` actions are our row-major
``Discrete(r·c)``) and episode lengths; and the mean return (and length) of a
scripted privileged policy and of the uniform random policy agree with
popgym's within ``_Z = 4.5`` standard errors of the difference of the two
Monte-Carlo means (plus 1e-4 for float32 sums), with the episode counts given
at each test. Deterministic outcomes (a perfect game returns exactly 1) are
checked exactly.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import popgym.envs as pg
import pytest

import tasks
from tasks.popgym.minesweeper import MinesweeperState, neighbour_counts

_Z = 4.5
_LEVELS = ("Easy", "Medium", "Hard")


def _assert_means_close(ours, theirs, what):
  ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
  se = np.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
  diff = abs(ours.mean() - theirs.mean())
  assert diff <= _Z * se + 1e-4, (what, ours.mean(), theirs.mean(), se)


@functools.cache
def _episodes_fn(env, privileged, max_steps):
  """Jitted ``(keys [N], use_privileged [N], params) -> per-episode stats``.

  One compilation per env serves both policies and every params value.
  """
  space = env.action_space(env.default_params)

  def episode(key, use_privileged, params):
    key_reset, key_run = jax.random.split(key)
    obs, state = env.reset(key_reset, params)

    def body(carry, key):
      state, ret, length, done, term_end = carry
      k_act, k_step = jax.random.split(key)
      action = jnp.where(use_privileged, privileged(state),
                         space.sample(k_act))
      _, state, reward, term, trunc, _ = env.step(
          k_step, state, action, params)
      live = ~done
      ret = ret + jnp.where(live, reward, 0.0)
      length = length + live.astype(jnp.int32)
      term_end = jnp.where(live, term, term_end)
      return (state, ret, length, done | term | trunc, term_end), None

    init = (state, jnp.float32(0), jnp.int32(0), jnp.array(False),
            jnp.array(False))
    (_, ret, length, done, term_end), _ = jax.lax.scan(
        body, init, jax.random.split(key_run, max_steps))
    return ret, length, done, term_end

  return jax.jit(jax.vmap(episode, in_axes=(0, 0, None)))


def _run_ours(env, params, privileged, n_privileged, n_random, max_steps):
  """``((ret_p, ret_r), (len_p, len_r), (term_p, term_r))`` per policy."""
  n = n_privileged + n_random
  keys = jax.random.split(jax.random.key(n), n)
  flags = jnp.arange(n) < n_privileged
  run = _episodes_fn(env, privileged, max_steps)
  out = run(keys, flags, params)
  # Deterministic under fixed keys (the second call reuses the compilation).
  jax.tree.map(np.testing.assert_array_equal, out, run(keys, flags, params))
  ret, length, done, term_end = (np.asarray(x) for x in out)
  assert done.all()  # every episode ended within max_steps
  return tuple((x[:n_privileged], x[n_privileged:])
               for x in (ret, length, term_end))


def _run_popgym(env, policy, num_episodes, seed=0):
  env.reset(seed=seed)
  env.action_space.seed(seed)
  rets, lengths, terms = [], [], []
  for _ in range(num_episodes):
    env.reset()
    ret, n = 0.0, 0
    while True:
      _, reward, term, trunc, _ = env.step(policy(env))
      ret, n = ret + reward, n + 1
      if term or trunc:
        break
    rets.append(ret)
    lengths.append(n)
    terms.append(term)
  return np.array(rets), np.array(lengths), np.array(terms)


def _random_popgym(env):
  return env.action_space.sample()


# ---------------------------------------------------------- stateless control

_CONTROL = [
    (f"{prefix}{kind}{level}", f"{their}{kind}{level}")
    for prefix, their in [("Stateless", "PositionOnly"),
                          ("NoisyStateless", "NoisyPositionOnly")]
    for kind in ("CartPole", "Pendulum")
    for level in _LEVELS
]


def _cartpole_ours(s):
  u = 0.5 * s.x + s.x_dot + 10.0 * s.theta + 2.0 * s.theta_dot
  return (u > 0).astype(jnp.int32)


def _cartpole_popgym(env):
  x, x_dot, theta, theta_dot = env.state
  return int(0.5 * x + x_dot + 10.0 * theta + 2.0 * theta_dot > 0)


def _pendulum_torque(theta, theta_dot, xp):
  """Energy-pumping swing-up, PD control near the top (privileged)."""
  th = (theta + np.pi) % (2 * np.pi) - np.pi
  energy = 0.5 * theta_dot**2 + 15.0 * xp.cos(th)
  pump = 2.0 * xp.where(theta_dot * (15.0 - energy) >= 0, 1.0, -1.0)
  u = xp.where(xp.cos(th) > 0.85, -10.0 * th - 2.0 * theta_dot, pump)
  return xp.clip(u, -2.0, 2.0)


def _pendulum_ours(s):
  return _pendulum_torque(s.theta, s.theta_dot, jnp)[None]


def _pendulum_popgym(env):
  th, thd = env.state
  return np.array([_pendulum_torque(th, thd, np)], np.float32)


@pytest.mark.parametrize("ours_name, their_name", _CONTROL)
def test_control_spaces_and_episode_length(ours_name, their_name):
  env, params = tasks.make(ours_name)
  assert tasks.make(their_name)[0].default_params == params
  ref = getattr(pg, their_name)()
  space = env.observation_space(params)
  assert space.shape == ref.observation_space.shape
  np.testing.assert_allclose(space.low, ref.observation_space.low, atol=1e-6)
  np.testing.assert_allclose(space.high, ref.observation_space.high,
                             atol=1e-6)
  act = env.action_space(params)
  if "CartPole" in ours_name:
    assert act.n == ref.action_space.n
  else:
    assert act.shape == ref.action_space.shape
    np.testing.assert_allclose(act.low, ref.action_space.low)
    np.testing.assert_allclose(act.high, ref.action_space.high)
  # Episode length L: a privileged controller keeps the episode to the end.
  assert int(params.control.max_steps_in_episode) == ref.max_episode_length
  if "Noisy" in ours_name:
    assert float(params.noise_sigma) == float(ref.noise_sigma[0])
  else:
    assert float(params.noise_sigma) == 0.0


# One env object per kind serves every level: levels differ only in params.
_CONTROL_RUN = {
    "CartPole": (_cartpole_ours, _cartpole_popgym, 600, 300),
    "Pendulum": (_pendulum_ours, _pendulum_popgym, 200, 300),
}


@functools.cache
def _shared_env(kind):
  return tasks.make(f"Stateless{kind}Easy")[0]


@pytest.mark.parametrize("kind", ["CartPole", "Pendulum"])
@pytest.mark.parametrize("level", _LEVELS)
def test_control_returns_match_popgym(kind, level):
  """Privileged and random policies: 64 and 300 episodes each side."""
  env_level, params = tasks.make(f"Stateless{kind}{level}")
  env = _shared_env(kind)
  assert type(env_level) is type(env)
  ref = getattr(pg, f"PositionOnly{kind}{level}")()
  length = ref.max_episode_length
  good, good_ref, max_steps, n_random = _CONTROL_RUN[kind]
  (ret, ret_rand), (lens, lens_rand), _ = _run_ours(
      env, params, good, 64, n_random, max_steps)
  ret_ref, lens_ref, _ = _run_popgym(ref, good_ref, 64)
  np.testing.assert_array_equal(lens, length)
  np.testing.assert_array_equal(lens_ref, length)
  _assert_means_close(ret, ret_ref, "privileged return")
  if kind == "CartPole":
    np.testing.assert_allclose(ret, 1.0, atol=1e-4)
  else:
    assert 0.6 < ret.mean() < 1.0
  ret_ref, lens_ref, _ = _run_popgym(ref, _random_popgym, n_random, seed=1)
  _assert_means_close(ret_rand, ret_ref, "random return")
  _assert_means_close(lens_rand, lens_ref, "random length")


@pytest.mark.parametrize("kind", ["CartPole", "Pendulum"])
def test_noise_matches_popgym(kind):
  """Noisy Hard (σ = 0.3): obs − clean position, 4000 resets each."""
  env, params = tasks.make(f"NoisyStateless{kind}Hard")
  keys = jax.random.split(jax.random.key(5), 4000)
  obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
  ref = getattr(pg, f"NoisyPositionOnly{kind}Hard")()
  ref.reset(seed=5)
  ref_obs, ref_clean = [], []
  for _ in range(4000):
    o, _ = ref.reset()
    ref_obs.append(o)
    s = ref.state
    ref_clean.append([s[0], s[2]] if kind == "CartPole"
                     else [np.cos(s[0]), np.sin(s[0])])
  if kind == "CartPole":
    clean = jnp.stack([state.x, state.theta], -1)
  else:
    clean = jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta)], -1)
  noise = np.asarray(obs - clean)
  ref_noise = np.array(ref_obs) - np.array(ref_clean)
  for i in range(2):
    _assert_means_close(noise[:, i], ref_noise[:, i], "noise mean")
    _assert_means_close(noise[:, i] ** 2, ref_noise[:, i] ** 2, "noise var")
  if kind == "CartPole":  # x is rarely clipped at ±4.8: its std is σ
    np.testing.assert_allclose(noise[:, 0].std(), 0.3, rtol=0.05)


# ---------------------------------------------------------------- minesweeper


def _safe_tile_ours(s):
  return jnp.argmax(~s.mines & ~s.viewed).astype(jnp.int32)


def _safe_tile_popgym(env):
  return np.argwhere(env.hidden_grid == 0)[0]


@pytest.mark.parametrize("level", _LEVELS)
def test_minesweeper_matches_popgym(level):
  """Spaces; a perfect game wins with return 1; random policy, 1000 eps."""
  env, params = tasks.make(f"Minesweeper{level}")
  assert type(tasks.make(f"MineSweeper{level}")[0]) is type(env)
  ref = getattr(pg, f"MineSweeper{level}")()
  assert env.observation_space(params).shape == (ref.observation_space.n,)
  assert env.action_space(params).n == int(np.prod(ref.action_space.nvec))
  length = ref.max_episode_length
  (ret, ret_rand), (lens, lens_rand), (term, term_rand) = _run_ours(
      env, params, _safe_tile_ours, 16, 1000, length)
  ret_ref, lens_ref, term_ref = _run_popgym(ref, _safe_tile_popgym, 16)
  # Winnable: every safe tile clicked, return 1, terminated (not truncated).
  np.testing.assert_allclose(ret, 1.0, atol=1e-5)
  np.testing.assert_allclose(ret_ref, 1.0, atol=1e-9)
  assert term.all() and term_ref.all()
  np.testing.assert_array_equal(lens, length)
  np.testing.assert_array_equal(lens_ref, length)
  ret_ref, lens_ref, term_ref = _run_popgym(ref, _random_popgym, 1000, seed=2)
  _assert_means_close(ret_rand, ret_ref, "random return")
  _assert_means_close(lens_rand, lens_ref, "random length")
  _assert_means_close(term_rand, term_ref, "random terminated")


def test_minesweeper_neighbour_counts_match_popgym():
  ref = pg.MineSweeperHard()
  ref.reset(seed=3)
  for _ in range(50):
    ref.reset()
    mines = jnp.asarray(ref.hidden_grid == 1)
    np.testing.assert_array_equal(neighbour_counts(mines), ref.neighbor_grid)


@pytest.mark.parametrize("level, rows, num_mines", [
    ("Easy", 4, 2), ("Medium", 6, 6), ("Hard", 8, 10)])
def test_minesweeper_one_hot_covers_every_count(level, rows, num_mines):
  """Put ``c`` mines around tile (1, 1) for every count ``c`` the obs has."""
  env, params = tasks.make(f"Minesweeper{level}")
  num_obs = env.observation_space(params).shape[0]
  assert num_obs == min(num_mines + 1, 10)
  block = [r * rows + c for r in range(3) for c in range(3)]
  far = [r * rows + c for r in range(rows) for c in range(rows)
         if r > 2 or c > 2][::-1]
  for count in range(num_obs):
    cells = block[:count] + far[: num_mines - count]
    mines = jnp.zeros(rows * rows, bool).at[jnp.array(cells)].set(True)
    state = MinesweeperState(
        mines, jnp.zeros(rows * rows, bool),
        neighbour_counts(mines.reshape(rows, rows)).reshape(-1),
        jnp.int32(0))
    obs = env.step(jax.random.key(0), state, rows + 1, params)[0]
    np.testing.assert_array_equal(obs, jax.nn.one_hot(count, num_obs))


# ----------------------------------------------------------------- battleship


def _ship_tile_ours(s):
  return jnp.argmax((s.board & ~s.guesses).reshape(-1)).astype(jnp.int32)


def _ship_tile_popgym(env):
  return np.argwhere((env.board == 1) & (env.guesses == 0))[0]


@pytest.mark.parametrize("level", _LEVELS)
def test_battleship_matches_popgym(level):
  """Spaces; sinking every ship returns 1 in 12 steps; random, 200 eps."""
  env, params = tasks.make(f"Battleship{level}")
  ref = getattr(pg, f"Battleship{level}")()
  assert env.observation_space(params).shape == (ref.observation_space.n,)
  assert env.action_space(params).n == int(np.prod(ref.action_space.nvec))
  length = ref.max_episode_length
  (ret, ret_rand), (lens, lens_rand), (term, _) = _run_ours(
      env, params, _ship_tile_ours, 16, 200, length)
  ret_ref, lens_ref, term_ref = _run_popgym(ref, _ship_tile_popgym, 16)
  np.testing.assert_allclose(ret, 1.0, atol=1e-5)
  np.testing.assert_allclose(ret_ref, 1.0, atol=1e-9)
  np.testing.assert_array_equal(lens, 12)
  np.testing.assert_array_equal(lens_ref, 12)
  assert term.all() and term_ref.all()
  ret_ref, lens_ref, _ = _run_popgym(ref, _random_popgym, 200, seed=4)
  _assert_means_close(ret_rand, ret_ref, "random return")
  _assert_means_close(lens_rand, lens_ref, "random length")


def test_battleship_ship_placement_distribution_matches_popgym():
  """Per-tile ship probability on the 8×8 board, 3000 boards each."""
  env, params = tasks.make("BattleshipEasy")
  keys = jax.random.split(jax.random.key(6), 3000)
  boards = jax.jit(jax.vmap(lambda k: env.reset(k, params)[1].board))(keys)
  boards = np.asarray(boards, np.float64)
  assert (boards.sum((1, 2)) == 12).all()  # ships never overlap
  ref = pg.BattleshipEasy()
  ref.reset(seed=6)
  ref_boards = np.array([ref.reset() and ref.board for _ in range(3000)],
                        np.float64)
  p, q = boards.mean(0), ref_boards.mean(0)
  se = np.sqrt((p * (1 - p) + q * (1 - q)) / 3000)
  assert np.all(np.abs(p - q) <= _Z * se + 1e-3), np.abs(p - q) / se
  # Edges are less likely than the centre in both (a real signal).
  assert p[0, 0] < p[3, 3] and q[0, 0] < q[3, 3]
