"""The sort-free samplers behind the POPGym tasks draw the right laws.

``tasks.popgym._sampling`` replaces ``jax.random.permutation`` / ``choice``:
RepeatFirst and CountRecall deal lazily from per-attribute counts and
Minesweeper places mines by Floyd's algorithm. Checked here:

* ``uniform_below`` equals ``floor(bits * bound / 2**32)`` exactly (NumPy
  uint64 reference);
* exact laws on tiny cases by chi-square (p > 1e-3; the seeds are fixed, so
  the tests are deterministic): the 3 orders of a 2+1 card deck, the 10
  two-subsets of 5 cells;
* exact multisets: a full RepeatFirst / CountRecall episode deals every card
  of the deck(s) exactly once; Minesweeper places exactly ``num_mines``;
* dependence between cards: P(card 1 has card 0's suit) = 12/51 in one deck
  (not the 1/4 of dealing with replacement), and Minesweeper's per-cell and
  pair frequencies ``m/n`` and ``m(m-1)/(n(n-1))``, within 4 standard errors.
"""

import collections
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import tasks
from tasks.popgym import _sampling

P_MIN = 1e-3  # chi-square p-value threshold (fixed seeds: deterministic)


def _keys(n, seed=0):
  return jax.random.split(jax.random.key(seed), n)


def test_uniform_below_is_exact_floor():
  rng = np.random.default_rng(0)
  words = np.concatenate(
    [rng.integers(0, 2**32, 5000, dtype=np.uint64), [0, 1, 2**32 - 1]]
  ).astype(np.uint32)
  for bound in (1, 2, 13, 52, 831, 4096, _sampling.MAX_BOUND):
    got = np.asarray(_sampling.uniform_below(jnp.asarray(words), bound))
    want = (words.astype(np.uint64) * np.uint64(bound)) >> np.uint64(32)
    np.testing.assert_array_equal(got, want.astype(np.int64))
    assert got.min() >= 0 and got.max() < bound
  # Array bounds broadcast.
  got = _sampling.uniform_below(jnp.asarray(words[:3]), jnp.array([5, 6, 7]))
  want = (words[:3].astype(np.uint64) * np.uint64([5, 6, 7])) >> np.uint64(32)
  np.testing.assert_array_equal(got, want)


def _deal_all(remaining, key):
  """Deals a whole deck given by per-category counts, card by card."""
  total = int(sum(remaining))
  words = jax.random.bits(key, (total,), jnp.uint32)
  left = jnp.asarray(remaining, jnp.int32)
  out = []
  for i in range(total):
    c = _sampling.draw_category(left, words[i])
    left = left - (jnp.arange(left.shape[0]) == c).astype(jnp.int32)
    out.append(c)
  return jnp.stack(out), left


def test_draw_category_deals_orders_uniformly():
  """A deck of 2 A's and 1 B: AAB, ABA, BAA each with probability 1/3."""
  n = 30_000
  orders, left = jax.jit(jax.vmap(lambda k: _deal_all([2, 1], k)))(_keys(n))
  np.testing.assert_array_equal(left, 0)
  counts = collections.Counter(map(tuple, np.asarray(orders).tolist()))
  assert set(counts) == {(0, 0, 1), (0, 1, 0), (1, 0, 0)}
  p = scipy.stats.chisquare(list(counts.values())).pvalue
  assert p > P_MIN, counts


def test_draw_category_first_card_frequencies():
  """One draw from counts (5, 0, 3, 2): probabilities .5, 0, .3, .2."""
  n = 40_000
  words = jax.random.bits(jax.random.key(1), (n,), jnp.uint32)
  draws = jax.vmap(
    lambda w: _sampling.draw_category(jnp.array([5, 0, 3, 2]), w)
  )(words)
  counts = np.bincount(np.asarray(draws), minlength=4)
  assert counts[1] == 0 and counts.sum() == n
  expected = n * np.array([0.5, 0.3, 0.2])
  p = scipy.stats.chisquare(counts[[0, 2, 3]], expected).pvalue
  assert p > P_MIN, counts


def test_random_subset_is_uniform_over_subsets():
  n = 20_000
  masks = jax.jit(jax.vmap(lambda k: _sampling.random_subset(k, 5, 2)))(
    _keys(n, 2)
  )
  rows = [tuple(np.flatnonzero(r)) for r in np.asarray(masks)]
  counts = collections.Counter(rows)
  assert set(counts) == set(itertools.combinations(range(5), 2))
  p = scipy.stats.chisquare([counts[c] for c in sorted(counts)]).pvalue
  assert p > P_MIN, counts


@pytest.mark.parametrize("n, m", [(1, 0), (1, 1), (16, 2), (36, 6), (64, 10),
                                  (64, 64), (70, 33)])
def test_random_subset_sizes(n, m):
  masks = jax.vmap(lambda k: _sampling.random_subset(k, n, m))(_keys(50, 3))
  assert masks.shape == (50, n) and masks.dtype == jnp.bool_
  np.testing.assert_array_equal(np.asarray(masks).sum(1), m)


def test_random_subset_validates():
  with pytest.raises(ValueError, match="0 <= m <= n"):
    _sampling.random_subset(jax.random.key(0), 4, 5)
  with pytest.raises(ValueError, match="at most"):
    tasks.make("RepeatFirstEasy", num_decks=2000)


def _episode(name, key):
  """Observations of one full episode (reset and every step)."""
  env, params = tasks.make(name)
  obs, state = env.reset(key, params)

  def body(s, k):
    o, s, *_ = env.step(k, s, 0, params)
    return s, o

  state, rest = jax.lax.scan(body, state, jax.random.split(key, env.max_steps))
  return jnp.concatenate([obs[None], rest]), state


def test_repeat_first_deals_each_card_once():
  obs, state = jax.jit(jax.vmap(lambda k: _episode("RepeatFirstMedium", k)))(
    _keys(64, 4)
  )
  assert obs.shape == (64, 416, 4)  # 8 decks: 416 cards, 415 steps
  np.testing.assert_array_equal(obs.sum(-1), 1)  # one card per observation
  np.testing.assert_array_equal(obs.sum(1), 104)  # 8 x 13 of every suit
  np.testing.assert_array_equal(state.remaining, 0)
  np.testing.assert_array_equal(state.first, np.argmax(obs[:, 0], -1))


def test_repeat_first_cards_are_dealt_without_replacement():
  """P(card 1's suit = card 0's suit) = 12/51 in one deck (iid: 1/4)."""
  env, params = tasks.make("RepeatFirstEasy")
  n = 50_000

  def same_suit(key):
    key_reset, key_step = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)
    obs1 = env.step(key_step, state, 0, params)[0]
    return jnp.argmax(obs0), jnp.argmax(obs1)

  first, second = jax.jit(jax.vmap(same_suit))(_keys(n, 5))
  freq = float(np.mean(np.asarray(first) == np.asarray(second)))
  se = np.sqrt(12 / 51 * 39 / 51 / n)
  assert abs(freq - 12 / 51) < 4 * se, freq
  assert abs(freq - 0.25) > 4 * se, freq
  p = scipy.stats.chisquare(np.bincount(np.asarray(first), minlength=4)).pvalue
  assert p > P_MIN


def test_count_recall_deals_both_decks_once():
  obs, state = jax.jit(jax.vmap(lambda k: _episode("CountRecallHard", k)))(
    _keys(32, 6)
  )
  assert obs.shape == (32, 208, 26)  # 4 decks, 13 ranks: value | query
  np.testing.assert_array_equal(obs[..., :13].sum(1), 16)  # 4 x 4 per rank
  np.testing.assert_array_equal(obs[..., 13:].sum(1), 16)
  np.testing.assert_array_equal(state.values_left, 0)
  np.testing.assert_array_equal(state.queries_left, 0)
  # Value and query decks are independent: they differ somewhere.
  assert np.any(obs[..., :13] != obs[..., 13:])


def test_minesweeper_mine_frequencies():
  env, params = tasks.make("MinesweeperHard")
  n = 20_000
  mines = jax.jit(jax.vmap(lambda k: env.reset(k, params)[1].mines))(
    _keys(n, 7)
  )
  mines = np.asarray(mines)
  np.testing.assert_array_equal(mines.sum(1), 10)
  m, cells = 10, 64
  p1 = m / cells
  se1 = np.sqrt(p1 * (1 - p1) / n)
  assert np.all(np.abs(mines.mean(0) - p1) < 4.5 * se1)  # 64 cells
  p2 = m * (m - 1) / (cells * (cells - 1))
  se2 = np.sqrt(p2 * (1 - p2) / n)
  for a, b in ((0, 1), (0, 63), (27, 36)):
    assert abs(np.mean(mines[:, a] & mines[:, b]) - p2) < 4 * se2, (a, b)
