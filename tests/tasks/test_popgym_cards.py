"""Fidelity tests of the POPGym card / counting tasks against `popgym` 1.0.7.

Three layers of evidence:

* **Replays** (exact): the reference env is reset with a seed, its shuffled
  deck is read out and loaded into ours with ``reset_with_deck``; both are
  stepped with the same actions (half privileged-optimal, half random) and
  must agree on every observation (flattened), reward (atol 1e-6),
  ``terminated`` and ``truncated``.
* **Statistics**: 200 episodes of a uniform random policy and 200 of a
  privileged optimal policy (reads the state) on each side (20 where the
  optimal return is exactly 1 every episode); mean returns and mean episode
  lengths must satisfy ``|ours - ref| < 4 * sqrt(se_ours² + se_ref²) + 1e-4``
  (the 1e-4 absorbs float32 sums of up to 831 rewards), and where a mean is
  derivable by hand (random: -0.5 on the suit tasks, 0 on HigherLower and
  the bandit; optimal bandit: (n-1)/(n+1)) ours must match it the same way.
* **Hand-built cases** pinning where the popjaxrl port deviates from POPGym,
  and the API contract (jit, vmap over seeds and params, determinism, no
  retracing, ValueErrors).
"""

import dataclasses
import functools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import popgym.envs as ref_envs
import pytest

import tasks
from tasks.popgym import _cards

LEVELS = ("Easy", "Medium", "Hard")
FAMILIES = (
  "RepeatFirst",
  "RepeatPrevious",
  "Autoencode",
  "CountRecall",
  "HigherLower",
  "MultiarmedBandit",
  "Concentration",
)
NAMES = tuple(f + lvl for f in FAMILIES for lvl in LEVELS)

# Episode lengths of popgym 1.0.7 (hand-read from its source, and checked
# against the running reference below). Concentration's is the truncation
# length; a perfect player ends it after N steps.
EPISODE_LENGTHS = {
  "RepeatFirst": (51, 415, 831),
  "RepeatPrevious": (51, 103, 155),
  "Autoencode": (103, 207, 311),
  "CountRecall": (51, 103, 207),
  "HigherLower": (51, 103, 155),
  "MultiarmedBandit": (200, 400, 600),
  "Concentration": (104, 208, 104),
}
NUM_EPISODES = 200  # per policy and side in the statistical test (see below)
Z = 4.0  # standard errors allowed between the two sample means
SLACK = 1e-4  # float32 accumulation of ~800 rewards vs Python floats


def _family(name):
  return next(f for f in FAMILIES if name.startswith(f))


def _length(name):
  return EPISODE_LENGTHS[_family(name)][
    LEVELS.index(name[len(_family(name)) :])
  ]


# ----------------------------------------------------------------------------
# Reference side (popgym): flattening, privileged policies, deck extraction.


def _ref_sizes(space):
  if isinstance(space, gym.spaces.Discrete):
    return [int(space.n)]
  if isinstance(space, gym.spaces.MultiDiscrete):
    return [int(n) for n in space.nvec]
  return [n for sub in space.spaces for n in _ref_sizes(sub)]


def _ref_flatten(space, obs):
  sizes = _ref_sizes(space)
  parts = np.atleast_1d(np.asarray(obs, dtype=np.int64)).reshape(-1)
  return np.concatenate(
    [np.eye(n)[v] for n, v in zip(sizes, parts, strict=True)]
  )


def _ref_optimal(name, env):
  """Privileged optimal action read from the reference env's internals."""
  family = _family(name)
  if family == "RepeatFirst":
    return int(env.card)
  if family == "RepeatPrevious":
    hand = env.deck["player"]
    return int(env.deck.suits_idx[hand[-env.k]]) if len(hand) >= env.k else 0
  if family == "Autoencode":
    if env.mode == 0:  # PLAY
      return int(env.deck.suits_idx[env.deck["system"][-1]])
    return 0
  if family == "CountRecall":
    return int(env.counts[env.query])
  if family == "HigherLower":
    current = env.deck.ranks_idx[env.deck["player"][-1]]
    upcoming = env.deck.ranks_idx[env.deck.idx[len(env.deck) - 1]]
    return 0 if upcoming > current else 1
  if family == "MultiarmedBandit":
    return int(np.argmax(env.bandits))
  face_up = set(env.deck["face_up_idx"])
  down = [p for p in range(env.deck.num_cards) if p not in face_up]
  if not env.deck["in_play_idx"]:
    return down[0]
  first = env.deck["in_play_idx"][0]
  return next(
    q for q in down if q != first and env.state[q] == env.state[first]
  )


def _ref_rollouts(name, policy, num_episodes, seed0):
  """Returns and lengths of reference episodes; policy in {opt, random}."""
  env = getattr(ref_envs, name)()
  rng = np.random.default_rng(seed0)
  returns, lengths = [], []
  for episode in range(num_episodes):
    env.reset(seed=seed0 + episode)
    total, steps, done = 0.0, 0, False
    while not done:
      if policy == "random":
        action = int(rng.integers(env.action_space.n))
      else:
        action = _ref_optimal(name, env)
      _, reward, terminated, truncated, _ = env.step(action)
      total, steps = total + reward, steps + 1
      done = terminated or truncated
    returns.append(total)
    lengths.append(steps)
  return np.array(returns), np.array(lengths)


# Families dealt lazily (their state holds card counts, not the deck): a
# replay feeds the reference's cards to ``step_with_suit`` / ``_cards``.
LAZY = ("RepeatFirst", "CountRecall")


def _ref_dealt(name, env):
  """The reference's dealing order as our per-card attributes.

  Returns an int ``(N,)`` array (RepeatFirst: suits) or ``(N, 2)`` (value,
  query) attributes (CountRecall); popgym deals from the end of ``idx``.
  """
  if _family(name) == "RepeatFirst":
    return _cards.suit(np.asarray(env.deck.idx[::-1]))
  kind = tasks.make(name)[0].deck_type
  return np.stack(
    [
      _cards.attribute(np.asarray(d.idx[::-1]), kind)
      for d in (env.value_deck, env.query_deck)
    ],
    axis=1,
  )


def _ref_start(name, env):
  """Loads the reference's freshly shuffled deck into our env's state."""
  family = _family(name)
  ours, params = tasks.make(name)
  if family == "RepeatFirst":
    return ours.reset_with_suit(_ref_dealt(name, env)[0], params)
  if family == "CountRecall":
    return ours.reset_with_cards(*_ref_dealt(name, env)[0], params)
  if family == "Concentration":  # position p holds card idx[p]
    return ours.reset_with_deck(env.deck.idx, params)
  # popgym deals from the end of ``idx``.
  return ours.reset_with_deck(env.deck.idx[::-1], params)


# ----------------------------------------------------------------------------
# Our side: privileged policies and a vmapped rollout.


def _optimal(env, state, params):
  """Privileged optimal action of our env, read from its state."""
  family = type(env).__name__
  if family == "RepeatFirst":
    return state.first
  if family == "RepeatPrevious":
    t = state.time + 1
    return _cards.suit(state.deck[jnp.maximum(t - params.k, 0)])
  if family == "Autoencode":
    n = env.num_cards
    return _cards.suit(state.deck[jnp.clip(2 * n - 2 - state.time, 0, n - 1)])
  if family == "CountRecall":
    return env.answer(state)
  if family == "HigherLower":
    current = _cards.rank(state.deck[state.time])
    upcoming = _cards.rank(state.deck[state.time + 1])
    return jnp.where(upcoming > current, 0, 1)
  if family == "MultiarmedBandit":
    return jnp.argmax(state.payouts)
  positions = jnp.arange(env.num_cards)
  first = jnp.maximum(state.first, 0)
  pair = (state.values == state.values[first]) & (positions != first)
  candidates = jnp.where(state.first >= 0, pair, True) & ~state.face_up
  return jnp.argmax(candidates)


def _rollout_fn(env, params):
  """jit(vmap) of one episode -> (return, length, done).

  Inputs per episode: a reset key, ``use_random``, and per-step random
  actions and step keys, drawn by the caller with NumPy: every random-number
  call site inside the compiled rollout adds ~1 s of XLA compile time.
  """

  def body(use_random, carry, xs):
    state, done, ret, length = carry
    key_step, random_action = xs
    optimal_action = _optimal(env, state, params)
    action = jnp.where(use_random, random_action, optimal_action)
    _, state, reward, term, trunc, _ = env.step(key_step, state, action, params)
    ret = ret + jnp.where(done, 0.0, reward)
    length = length + jnp.where(done, 0, 1)
    return (state, done | term | trunc, ret, length), None

  def episode(key, use_random, random_actions, step_keys):
    _, state = env.reset(key, params)
    carry = (state, jnp.bool_(False), jnp.float32(0.0), jnp.int32(0))
    step = lambda c, x: body(use_random, c, x)
    xs = (step_keys, random_actions)
    (_, done, ret, length), _ = jax.lax.scan(step, carry, xs)
    return ret, length, done

  return jax.jit(jax.vmap(episode))


def _numpy_keys(rng, shape):
  """Typed JAX keys from NumPy bits (no JAX random op to compile)."""
  bits = rng.integers(0, 2**32, shape + (2,), dtype=np.uint32)
  return jax.random.wrap_key_data(bits)


def _agree(ours, ref):
  diff = abs(ours.mean() - ref.mean())
  se = np.sqrt(ours.var(ddof=1) / len(ours) + ref.var(ddof=1) / len(ref))
  return diff, Z * se + SLACK


# ----------------------------------------------------------------------------
# Spaces and lengths.


@pytest.mark.parametrize("name", NAMES)
def test_spaces_match_reference(name):
  ours, params = tasks.make(name)
  ref = getattr(ref_envs, name)()
  assert ours.observation_space(params).shape == (
    sum(_ref_sizes(ref.observation_space)),
  )
  assert ours.action_space(params).n == ref.action_space.n


def test_pinned_sizes():
  """Hand-derived sizes (N cards, d values), independent of the reference."""
  sizes = {  # name: (obs size, number of actions)
    "CountRecallEasy": (4, 27),  # 2 colours, 52/2 + 1 counts
    "CountRecallMedium": (8, 27),  # 4 suits, 104/4 + 1
    "CountRecallHard": (26, 17),  # 13 ranks, 208/13 + 1
    "AutoencodeEasy": (6, 4),
    "ConcentrationEasy": (156, 52),
    "ConcentrationMedium": (312, 104),
    "ConcentrationHard": (728, 52),
    "MultiarmedBanditHard": (2, 30),
    "HigherLowerEasy": (13, 2),
  }
  for name, (obs_size, n_actions) in sizes.items():
    env, params = tasks.make(name)
    assert env.observation_space(params).shape == (obs_size,), name
    assert env.action_space(params).n == n_actions, name


# ----------------------------------------------------------------------------
# Exact replays against the reference.


def _replay(name, seed, num_steps):
  """Steps the reference, returns its transcript and our replay of it."""
  ref = getattr(ref_envs, name)()
  ref_obs, _ = ref.reset(seed=seed)
  rng = np.random.default_rng(seed)
  if _family(name) == "MultiarmedBandit":  # 0/1 payouts: outcomes are fixed
    ref.bandits = (rng.random(ref.num_bandits) < 0.5).astype(np.float32)
  actions, obs, rewards, terms, truncs = (
    [],
    [_ref_flatten(ref.observation_space, ref_obs)],
    [],
    [],
    [],
  )
  for _ in range(num_steps):
    if rng.random() < 0.5:
      action = _ref_optimal(name, ref)
    else:
      action = int(rng.integers(ref.action_space.n))
    o, r, te, tr, _ = ref.step(action)
    actions.append(action)
    obs.append(_ref_flatten(ref.observation_space, o))
    rewards.append(r)
    terms.append(te)
    truncs.append(tr)
    if te or tr:
      break
  ours, params = tasks.make(name)
  if _family(name) == "MultiarmedBandit":
    ours_obs0, state = ours.reset_with_payouts(ref.bandits, params)
  else:
    ours_obs0, state = _ref_start(name, ref)

  family = _family(name)
  # Card dealt by each step (ignored unless the family deals lazily).
  dealt = _ref_dealt(name, ref)[1:] if family in LAZY else np.zeros(
    len(actions) + 1
  )

  def body(s, xs):
    action, card = xs
    if family == "RepeatFirst":
      out = ours.step_with_suit(s, action, params, card)
    elif family == "CountRecall":
      out = ours.step_with_cards(s, action, params, card[0], card[1])
    else:
      out = ours.step(jax.random.key(0), s, action, params)
    o, s, r, te, tr, _ = out
    return s, (o, r, te, tr)

  _, (o, r, te, tr) = jax.jit(lambda s, a: jax.lax.scan(body, s, a))(
    state, (jnp.asarray(actions, jnp.int32), jnp.asarray(dealt[: len(actions)]))
  )
  ref_out = (
    np.stack(obs),
    np.array(rewards),
    np.array(terms),
    np.array(truncs),
  )
  ours_out = (np.concatenate([ours_obs0[None], o]), r, te, tr)
  return ref_out, ours_out


@pytest.mark.parametrize("name", NAMES)
def test_replay_matches_reference_step_by_step(name):
  ref, ours = _replay(name, seed=7, num_steps=_length(name) + 5)
  env, params = tasks.make(name)
  assert ours[0].dtype == np.float32
  assert ours[0].shape[1:] == env.observation_space(params).shape
  assert len(ref[1]) == _length(name) or _family(name) == "Concentration"
  np.testing.assert_array_equal(ours[0], ref[0])  # observations
  np.testing.assert_allclose(ours[1], ref[1], atol=1e-6)  # rewards
  np.testing.assert_array_equal(ours[2], ref[2])  # terminated
  np.testing.assert_array_equal(ours[3], ref[3])  # truncated
  assert np.any(ref[1] > 0) and np.any(ref[1] < 0)  # both signs exercised


# ----------------------------------------------------------------------------
# Statistical agreement of returns and lengths.


# Families whose privileged optimal return is exactly 1 every episode: the
# statistical comparison degenerates to an exact one, so fewer episodes do.
DETERMINISTIC_OPTIMUM = (
  "RepeatFirst",
  "RepeatPrevious",
  "Autoencode",
  "CountRecall",
  "Concentration",
)


def _analytic_means(name, env):
  """Hand-derived expected returns {policy: mean} where they are simple."""
  family = _family(name)
  means = {}
  if family in DETERMINISTIC_OPTIMUM:
    means["optimal"] = 1.0
  if family in ("RepeatFirst", "RepeatPrevious", "Autoencode"):
    means["random"] = 0.25 - 0.75  # one suit in four is right
  if family in ("HigherLower", "MultiarmedBandit"):
    means["random"] = 0.0  # symmetric
  if family == "MultiarmedBandit":  # E[2 max U - 1] over n arms
    means["optimal"] = (env.num_bandits - 1) / (env.num_bandits + 1)
  return means


@pytest.mark.parametrize("name", NAMES)
def test_returns_and_lengths_match_reference(name):
  env, params = tasks.make(name)
  n_opt = 20 if _family(name) in DETERMINISTIC_OPTIMUM else NUM_EPISODES
  rng = np.random.default_rng(0)
  n_episodes, n_steps = n_opt + NUM_EPISODES, _length(name) + 1
  inputs = (
    _numpy_keys(rng, (n_episodes,)),
    np.arange(n_episodes) >= n_opt,  # use_random
    rng.integers(0, env.action_space(params).n, (n_episodes, n_steps)),
    _numpy_keys(rng, (n_episodes, n_steps)),
  )
  rollout = _rollout_fn(env, params)
  returns, lengths, done = jax.device_get(rollout(*inputs))
  assert done.all()
  analytic = _analytic_means(name, env)
  for policy, part in (
    ("optimal", slice(0, n_opt)),
    ("random", slice(n_opt, None)),
  ):
    ours_r = returns[part].astype(np.float64)
    ref_r, ref_len = _ref_rollouts(name, policy, len(ours_r), 1000)
    diff, tol = _agree(ours_r, ref_r)
    assert diff < tol, (policy, ours_r.mean(), ref_r.mean(), tol)
    diff, tol = _agree(lengths[part].astype(np.float64), ref_len)
    assert diff < tol, (policy, lengths[part].mean(), ref_len.mean())
    if policy in analytic:
      se = ours_r.std(ddof=1) / np.sqrt(len(ours_r))
      assert abs(ours_r.mean() - analytic[policy]) < Z * se + SLACK
  if _family(name) == "Concentration":  # a perfect player needs N flips
    assert (lengths[:n_opt] == env.num_cards).all()
  else:  # fixed lengths
    assert (lengths == _length(name)).all()


# ----------------------------------------------------------------------------
# Hand-built cases pinning popjaxrl's deviations from POPGym.


@functools.cache
def _jit_step(env):
  return jax.jit(env.step)


def _step(env, state, action, params):
  return _jit_step(env)(jax.random.key(0), state, jnp.int32(action), params)


def test_count_recall_answers_counts_above_one():
  """The count range is the action space; a count of 4 is rewarded as 4."""
  env, params = tasks.make("CountRecallEasy")  # colours: id % 2
  assert env.action_space(params).n == 27  # 52 / 2 + 1, not 2
  black, red = 0, 1  # colour of card id c is c % 2
  step = jax.jit(env.step_with_cards)
  obs, state = env.reset_with_cards(black, black, params)
  np.testing.assert_array_equal(obs, [1, 0, 1, 0])  # value black, query black
  for t in range(1, 5):  # answer 1, 2, 3, 4 correctly; deal 4 more blacks
    obs, state, reward, *_ = step(state, t, params, black, black)
    np.testing.assert_allclose(reward, 1 / 51, rtol=1e-6)
    np.testing.assert_array_equal(obs, [1, 0, 1, 0])
  _, _, reward, *_ = step(state, 5, params, red, black)  # 5 blacks dealt
  np.testing.assert_allclose(reward, 1 / 51, rtol=1e-6)
  _, new, reward, *_ = step(state, 1, params, red, red)
  np.testing.assert_allclose(reward, -1 / 51, rtol=1e-6)
  np.testing.assert_array_equal(new.values_left, [21, 25])  # 5 and 1 dealt
  assert int(env.answer(new)) == 1  # the open query is red: 1 red dealt


def test_autoencode_shows_cards_while_watching():
  env, params = tasks.make("AutoencodeEasy")
  deck = np.random.default_rng(3).permutation(52)
  suits = deck % 4
  obs, state = env.reset_with_deck(deck, params)
  np.testing.assert_array_equal(obs, np.r_[[0, 1], np.eye(4)[suits[0]]])
  for t in range(1, 52):  # watch phase: the dealt card's suit is visible
    obs, state, reward, term, *_ = _step(env, state, 0, params)
    mode = [0, 1] if t < 51 else [1, 0]  # the last card already says PLAY
    np.testing.assert_array_equal(obs, np.r_[mode, np.eye(4)[suits[t]]])
    assert float(reward) == 0.0 and not term
  rewards = []
  for t in range(52):  # recite in reverse; play obs is (PLAY, suit 0)
    obs, state, reward, term, *_ = _step(env, state, suits[51 - t], params)
    np.testing.assert_array_equal(obs, [1, 0, 1, 0, 0, 0])
    rewards.append(float(reward))
    assert bool(term) == (t == 51)
  np.testing.assert_allclose(rewards, 1 / 52, rtol=1e-6)
  assert int(state.time) == 103  # 2N - 1 steps


def test_repeat_previous_asks_exactly_k_back():
  env = tasks.make("RepeatPreviousEasy")[0]
  params = env.default_params
  k = int(params.k)
  deck = np.random.default_rng(4).permutation(52)
  suits = deck % 4
  obs, state = env.reset_with_deck(deck, params)
  shown = [int(np.argmax(obs))]
  checked = 0
  for t in range(1, 52):
    if t >= k + 1 and suits[t - k - 1] != suits[t - k]:  # k+1 back is wrong
      _, _, reward, *_ = _step(env, state, suits[t - k - 1], params)
      np.testing.assert_allclose(reward, -1 / 48, rtol=1e-6)
      checked += 1
    obs, state, reward, *_ = _step(
      env, state, shown[t - k] if t >= k else 0, params
    )
    shown.append(int(np.argmax(obs)))
    np.testing.assert_allclose(reward, 1 / 48 if t >= k else 0.0, rtol=1e-6)
  assert checked > 20
  np.testing.assert_array_equal(shown, suits[:52])


@pytest.mark.parametrize("name", NAMES)
def test_episode_lengths_are_popgym_s(name):
  """Pinned numbers = popgym's own attributes = ours (replays step them)."""
  env, params = tasks.make(name)
  ref = getattr(ref_envs, name)()
  length = _length(name)
  if _family(name) == "Concentration":
    assert ref.episode_length == length
  elif _family(name) != "HigherLower":  # which has no such attribute
    assert ref.max_episode_length == length
  if _family(name) == "MultiarmedBandit":
    assert int(params.max_steps) == length
  else:
    assert env.max_steps == length


# ----------------------------------------------------------------------------
# API contract: jit, vmap over seeds and params, determinism, no retracing.


@pytest.mark.parametrize("name", [f + "Easy" for f in FAMILIES])
def test_jit_vmap_deterministic(name):
  """One level per family: the levels differ only in static sizes, and every
  level is jitted and vmapped over seeds by the statistical test above."""
  env, params = tasks.make(name)
  n_actions = env.action_space(params).n
  traces = []

  def run(key):
    traces.append(None)
    obs, state = env.reset(key, params)
    actions = jnp.arange(6) % n_actions
    keys = jax.random.split(key, 6)

    def body(s, xs):
      o, s, r, te, tr, info = env.step(xs[0], s, xs[1], params)
      assert info == {}
      assert r.dtype == jnp.float32 and r.shape == ()
      assert te.dtype == jnp.bool_ and tr.dtype == jnp.bool_
      return s, (o, r)

    return obs, jax.lax.scan(body, state, (keys, actions))[1]

  batched = jax.jit(jax.vmap(run))
  keys = jax.random.split(jax.random.key(0), 4)
  first = jax.device_get(batched(keys))
  again = jax.device_get(batched(keys))
  other = jax.device_get(batched(jax.random.split(jax.random.key(1), 4)))
  assert len(traces) == 1  # no retracing on a second call or new keys
  jax.tree.map(np.testing.assert_array_equal, first, again)
  obs0, (obs, _) = first
  assert obs.shape == (4, 6) + env.observation_space(params).shape
  # Different seeds deal different episodes.
  stacked = lambda out: np.concatenate([out[0][:, None], out[1][0]], axis=1)
  assert not np.array_equal(stacked(first), stacked(other))
  assert not np.array_equal(stacked(first)[0], stacked(first)[1])


def test_vmap_over_params():
  """Task leaves (RepeatPrevious k, MultiarmedBandit max_steps) vmap."""
  env, _ = tasks.make("RepeatPreviousMedium")
  ks = jnp.array([1, 32, 100], jnp.int32)
  params = type(env.default_params)(k=ks)
  deck = jnp.arange(104)

  def reward_at(p):
    _, state = env.reset_with_deck(deck, p)
    state = dataclasses.replace(state, time=jnp.int32(100))
    target = _cards.suit(deck[101 - p.k])  # step t = 101 asks for card t - k
    return env.step(jax.random.key(0), state, target, p)[2]

  np.testing.assert_allclose(
    jax.vmap(reward_at)(params), 1 / (104 - np.array([1, 32, 100])), rtol=1e-6
  )
  bandit, _ = tasks.make("MultiarmedBanditEasy")
  lengths = jnp.array([3, 5], jnp.int32)

  def episode(p):
    _, state = bandit.reset_with_payouts(jnp.ones(10), p)

    def body(s, _):
      _, s, r, te, tr, _ = bandit.step(jax.random.key(0), s, 0, p)
      return s, (r, tr)

    return jax.lax.scan(body, state, None, length=5)[1]

  rewards, truncs = jax.vmap(episode)(type(bandit.default_params)(lengths))
  np.testing.assert_allclose(rewards[0], 1 / 3, rtol=1e-6)
  np.testing.assert_allclose(rewards[1], 1 / 5, rtol=1e-6)
  np.testing.assert_array_equal(truncs[:, 2], [True, False])
  np.testing.assert_array_equal(truncs[:, 4], [True, True])


def test_multiarmed_bandit_success_rate():
  """Pull outcomes follow the payout probability (3 sd band, 20k pulls)."""
  env, params = tasks.make("MultiarmedBanditEasy")
  payouts = jnp.linspace(0.05, 0.95, 10)
  _, state = env.reset_with_payouts(payouts, params)
  keys = jax.random.split(jax.random.key(5), 20_000)
  obs = jax.vmap(lambda k: env.step(k, state, 7, params)[0])(keys)
  rate, p = float(obs[:, 1].mean()), float(payouts[7])
  assert abs(rate - p) < 3 * np.sqrt(p * (1 - p) / 20_000)


def test_invalid_arguments_raise():
  from tasks.popgym import concentration, count_recall, repeat

  with pytest.raises(ValueError, match="num_decks"):
    repeat.RepeatFirst(num_decks=0)
  with pytest.raises(ValueError, match="1 <= k < 52"):
    repeat.RepeatPrevious(num_decks=1, k=52)
  with pytest.raises(ValueError, match="colors, suits, ranks"):
    count_recall.CountRecall(deck_type="jokers")
  with pytest.raises(ValueError, match="colors, ranks"):
    concentration.Concentration(deck_type="suits")
  with pytest.raises(ValueError, match="num_bandits"):
    tasks.make("MultiarmedBanditEasy", num_bandits=0)
  with pytest.raises(ValueError, match="RepeatPreviousHard"):
    tasks.make("RepeatPreviousInsane")
  env, _ = tasks.make("RepeatPreviousHard", k=5)  # overrides reach the env
  assert int(env.default_params.k) == 5 and env.num_decks == 3
