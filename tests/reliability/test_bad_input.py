"""Bad input to the public API raises a ValueError naming the problem.

Static arguments (factories, dataclasses, bijections) are checked when they
are built; the arguments of ``meta_learned(...).update`` (wrong shapes,
dtypes, mismatched pytrees, a foreign state, a non-scalar ``value_fn``,
wrong ``context_stats``) are checked from shapes alone, before any
compute: the error is raised while tracing, so under ``jax.jit`` nothing
is compiled or run. tests/core/test_contract.py holds 14 more cases.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

import bootstrap_meta as bm

_P = {"a": jnp.ones(3), "b": jnp.zeros((2, 2))}


def _f(p):
  return jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2)


def _tx(**kw):
  return bm.meta_learned(
      optax.adam, learned={"learning_rate": bm.positive(0.1)},
      meta_optimizer=optax.adam(0.01), **kw)


def _ctx_tx():
  return _tx(context=bm.Contextual(num_stats=2, hidden=(4,)))


_TX, _CTX = _tx(), _ctx_tx()
_S, _CS = _TX.init(_P), _CTX.init(_P)
_G = jax.tree.map(jnp.ones_like, _P)

#: (name, function of nothing that must raise, regex of the message).
STATIC_CASES = [
    ("hyper_optimizer: a transformation, not a factory",
     lambda: bm.hyper_optimizer(optax.adam(0.1), learned=("learning_rate",)),
     "factory"),
    ("hyper_optimizer: learned as one string",
     lambda: bm.hyper_optimizer(optax.adam, learned="learning_rate"),
     "sequence of names"),
    ("hyper_optimizer: required hyperparameter missing",
     lambda: bm.hyper_optimizer(optax.sgd, learned=()), "learning_rate"),
    ("hyper_optimizer: negative eps_root",
     lambda: bm.hyper_optimizer(optax.adam, learned=("learning_rate",),
                                eps_root=-1.0), "eps_root"),
    ("hyper_optimizer: unknown fixed name",
     lambda: bm.hyper_optimizer(optax.adam, learned=("learning_rate",),
                                fixed={"beta": 0.9}), "beta.*adam"),
    ("meta_learned: negative eps_root", lambda: _tx(eps_root=-1e-8),
     "eps_root"),
    ("meta_learned: required hyperparameter neither learned nor fixed",
     lambda: bm.meta_learned(optax.sgd, learned={"momentum": bm.unit_interval(
         0.9)}, meta_optimizer=optax.sgd(0.1)), "learning_rate"),
    ("meta_learned: learned and learned_loss overlap",
     lambda: bm.meta_learned(optax.sgd,
                             learned={"learning_rate": bm.positive(0.1)},
                             learned_loss={"learning_rate": bm.positive(0.1)},
                             meta_optimizer=optax.sgd(0.1)), "both"),
    ("meta_learned: meta_optimizer is a factory",
     lambda: bm.meta_learned(optax.sgd,
                             learned={"learning_rate": bm.positive(0.1)},
                             meta_optimizer=optax.adam), "meta_optimizer"),
    ("meta_learned: context is not Contextual",
     lambda: _tx(context={"history": 4}), "Contextual"),
    ("positive: negative start", lambda: bm.positive(-1.0), "inside"),
    ("positive: unknown parameterization",
     lambda: bm.positive(1.0, parameterization="relu"), "log.*softplus"),
    ("unit_interval: start 1.5", lambda: bm.unit_interval(1.5), "inside"),
    ("unit_interval: NaN start", lambda: bm.unit_interval(float("nan")),
     "finite"),
    ("interval: empty interval", lambda: bm.interval(0.5, low=1.0, high=0.0),
     "low < high"),
    ("MG: remat not a bool", lambda: bm.MG(remat="yes"), "remat"),
    ("BMG: remat not a bool", lambda: bm.BMG(remat=1), "remat"),
    ("BMG: NaN step size", lambda: bm.BMG(step_size=float("nan")),
     "step_size"),
    ("Optimistic: NaN hint weight",
     lambda: bm.Optimistic(hint_weight=float("nan")), "hint_weight"),
    ("Optimistic: base is not MG/BMG", lambda: bm.Optimistic(base="mg"),
     "base"),
    ("optimistic_meta_update: negative hint weight",
     lambda: bm.optimistic_meta_update(hint_weight=-0.5), "hint_weight"),
    ("Contextual: hidden width 0", lambda: bm.Contextual(hidden=(0,)),
     "hidden"),
    ("context_init: zero history",
     lambda: bm.context_init(history=0, num_stats=2), "history"),
    ("mlp_init: zero input dimension",
     lambda: bm.mlp_init(jax.random.key(0), in_dim=0), "in_dim"),
    ("mlp_init: fractional width",
     lambda: bm.mlp_init(jax.random.key(0), in_dim=2, hidden=(2.5,)),
     "hidden"),
    ("constrain: a name without a raw value",
     lambda: bm.constrain({"lr": jnp.zeros(())},
                          {"b1": bm.unit_interval(0.9)}), "b1"),
    ("squared_euclidean: mismatched pytrees",
     lambda: bm.squared_euclidean()({"a": jnp.ones(2)}, {"c": jnp.ones(2)},
                                    None, None), "structure"),
    ("squared_euclidean: mismatched shapes",
     lambda: bm.squared_euclidean()({"a": jnp.ones(2)}, {"a": jnp.ones(3)},
                                    None, None), "shape"),
    ("find_meta_state: no meta state",
     lambda: bm.find_meta_state(optax.adam(0.1).init(_P)),
     "No MetaLearnedState"),
]

#: (name, (updates, state, params, extra kwargs), regex of the message):
#: arguments of ``update`` that must be refused from their shapes alone.
UPDATE_CASES = [
    ("grads missing a leaf", ({"a": jnp.ones(3)}, _S, _P, {}), "structure"),
    ("grads with a wrong shape",
     ({"a": jnp.ones(4), "b": jnp.ones((2, 2))}, _S, _P, {}),
     r"\['a'\] has shape \(4,\)"),
    ("integer grads",
     ({"a": jnp.ones(3, jnp.int32), "b": jnp.ones((2, 2))}, _S, _P, {}),
     "floating"),
    ("a plain optax state", (_G, optax.adam(0.1).init(_P), _P, {}),
     "MetaLearnedState"),
    ("a state initialised on other params",
     (_G, _TX.init({"a": jnp.ones(5), "b": jnp.ones((2, 2))}), _P, {}),
     "state.*shape"),
    ("meta-parameters of a wrong shape",
     (_G, _S._replace(meta_params={"learning_rate": jnp.zeros(3)}), _P, {}),
     "meta_params"),
    ("value_fn returning a vector",
     (_G, _S, _P, {"value_fn": lambda p: p["a"]}), "scalar"),
    ("value_fn returning an integer",
     (_G, _S, _P, {"value_fn": lambda p: jnp.int32(1)}), "scalar float"),
    ("value_fn not callable", (_G, _S, _P, {"value_fn": 3.0}), "callable"),
    ("loss_fn not callable",
     (_G, _S, _P, {"value_fn": _f, "loss_fn": "l2"}), "callable"),
]


@pytest.mark.parametrize("name,make,match", STATIC_CASES,
                         ids=[c[0] for c in STATIC_CASES])
def test_static_bad_input_raises(name, make, match):
  del name
  with pytest.raises(ValueError, match=match):
    make()


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name,args,match", UPDATE_CASES,
                         ids=[c[0] for c in UPDATE_CASES])
def test_update_bad_input_raises_before_compute(name, args, match, jit):
  del name
  updates, state, params, kwargs = args
  kwargs = {"value_fn": _f, **kwargs}
  update = lambda u, s, p: _TX.update(u, s, p, **kwargs)  # noqa: E731
  with pytest.raises(ValueError, match=match):
    (jax.jit(update) if jit else update)(updates, state, params)


def test_context_stats_of_a_wrong_size_raise():
  with pytest.raises(ValueError, match="num_stats=2"):
    _CTX.update(_G, _CS, _P, value_fn=_f, context_stats=jnp.ones(5))
  # The right size goes through.
  _, state = _CTX.update(_G, _CS, _P, value_fn=_f,
                         context_stats=jnp.ones(2))
  assert int(state.count) == 1


def test_good_input_still_passes_every_check():
  updates, state = jax.jit(lambda g, s, p: _TX.update(g, s, p, value_fn=_f))(
      _G, _S, _P)
  assert jax.tree.structure(updates) == jax.tree.structure(_P)
  assert int(state.count) == 1 and int(state.num_skipped) == 0
