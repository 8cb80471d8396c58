# SPDX-License-Identifier: MIT
"""Plan.decide_many's argument parsing.

On 3.10+ decide_many is METH_FASTCALL | METH_KEYWORDS and remembers the
keyword names of its last few call sites, as decide does; a call it does
not take as it is (an unknown keyword, `orgs` by name and by position, a
repeated name, more than one positional argument) is handed to
PyArg_ParseTupleAndKeywords, as every call was before. These tests hold
for both forms (3.8/3.9 keep METH_VARARGS): every accepted form gives the
answer of the plain call, every refused one the message it always gave.
The messages are those of PyArg_ParseTupleAndKeywords in the running CPython
(3.13 words an unknown keyword differently).

The masks compared are GA day 2 of the seed plan (25 % of orgs by bucket),
so a value put in the wrong slot (`at` for `state`, one unit for another)
changes the answer."""

import ctypes
import gc
import re
import sys

import pytest

import rollout
from conftest import D, H, seed_state

ORGS = [f"org-{i}" for i in range(64)] + ["acme-corp", "globex", "org_42", "initech"]
STAFF = {"email": "dev@example.com"}
EXACTLY_ONE = r"^decide_many\(\) takes exactly one of orgs, users, sessions, requests$"


def unknown(name):
    """The interpreter's message for an unknown keyword: 3.13 words it anew
    and may suggest a name."""
    if sys.version_info >= (3, 13):
        return rf"^decide_many\(\) got an unexpected keyword argument '{name}'(\. Did you mean '\w+'\?)?$"
    return rf"^'{name}' is an invalid keyword argument for decide_many\(\)$"


@pytest.fixture(scope="module")
def ctx(seed):
    s = seed_state(seed, seed.start + 6 * D)
    when = seed.start + 2 * D
    want = bytes(seed.decide(org=o, at=when, state=s).new for o in ORGS)
    # the comparisons below mean something only if the answer is mixed, and
    # differs from the answer at another time or without the state
    assert 0 < sum(want) < len(want)
    assert want != bytes(seed.decide(org=o, at=when).new for o in ORGS)
    assert want != bytes(seed.decide(org=o, at=seed.start + 4 * D, state=s).new for o in ORGS)
    return s, when, want


# ---- accepted forms --------------------------------------------------------------------


def test_positional_and_keyword_orgs(seed, ctx):
    s, when, want = ctx
    m = seed.decide_many
    assert m(ORGS, at=when, state=s) == want
    assert m(orgs=ORGS, at=when, state=s) == want
    assert m(state=s, orgs=ORGS, at=when) == want
    assert m(ORGS, state=s, at=when) == want
    assert m(at=when, state=s, orgs=ORGS, attrs=None, users=None) == want
    # through the type, self is the first positional argument
    assert type(seed).decide_many(seed, ORGS, at=when, state=s) == want
    assert rollout.Plan.decide_many(seed, orgs=ORGS, at=when, state=s) == want
    # *args and **kwargs
    assert m(*[ORGS], **{"at": when, "state": s}) == want
    assert m(**{"orgs": ORGS, "at": when, "state": s}) == want


def test_a_positional_none_leaves_room_for_another_unit(seed, ctx):
    s, when, _ = ctx
    users = ["A", "Z", "user-10"]
    want = seed.decide_many(users=users, at=when, state=s)
    assert seed.decide_many(None, users=users, at=when, state=s) == want
    assert seed.decide_many(orgs=None, users=users, at=when, state=s) == want
    sessions = ["a", "b"]
    assert seed.decide_many(None, sessions=sessions, attrs=STAFF, at=seed.start + H) == b"\x01\x01"


def test_omitted_time_and_state_are_defaults(seed, ctx):
    s, when, _ = ctx
    # no state: the rollout as if started on time with no gate decided
    assert seed.decide_many(ORGS, at=when) == seed.decide_many(ORGS, at=when, state=None)
    assert seed.decide_many(ORGS, at=when, state=None) == bytes(
        seed.decide(org=o, at=when).new for o in ORGS)
    # no time: now
    assert seed.decide_many(ORGS, state=s) == seed.decide_many(ORGS, at=None, state=s)


def test_keywords_built_at_run_time(seed, ctx):
    s, when, want = ctx

    class Str(str):
        pass

    key = "".join(["o", "r", "g", "s"])  # equal to "orgs", but not the interned object
    assert key is not "orgs"  # noqa: F632
    assert seed.decide_many(**{key: ORGS, "".join("at"): when, "state": s}) == want
    assert seed.decide_many(**{Str("orgs"): ORGS, Str("at"): when, Str("state"): s}) == want
    assert seed.decide_many(ORGS, **{Str("at"): when, "state": s}) == want


def test_a_str_subclass_key_is_looked_up_as_before(seed, ctx):
    """A keyword is found by dict lookup, as PyArg_ParseTupleAndKeywords
    does, not by its text: a str subclass that equals nothing is not `orgs`
    (refused by 3.8-3.11 as an invalid keyword, ignored by 3.12+, which
    then finds no ids)."""
    s, when, _ = ctx

    class Odd(str):
        def __eq__(self, other):
            return False

        def __hash__(self):
            return 1

    for _ in range(2):
        with pytest.raises(TypeError, match=r"^(invalid keyword argument for decide_many\(\)|"
                                            r"decide_many\(\) takes exactly one of)"):
            seed.decide_many(**{Odd("orgs"): ORGS, "at": when, "state": s})


# ---- refused forms: the messages PyArg_ParseTupleAndKeywords gives -----------------------


def test_more_than_one_positional_argument(seed, ctx):
    s, when, _ = ctx
    with pytest.raises(TypeError, match=r"^decide_many\(\) takes at most 1 positional "
                                        r"argument \(2 given\)$"):
        seed.decide_many(ORGS, when)
    with pytest.raises(TypeError, match=r"takes at most 1 positional argument \(3 given\)$"):
        seed.decide_many(ORGS, ORGS, s, at=when)
    with pytest.raises(TypeError, match=r"takes at most 1 positional argument \(2 given\)$"):
        seed.decide_many(*[ORGS, ORGS])


def test_unknown_keyword(seed, ctx):
    s, when, _ = ctx
    with pytest.raises(TypeError, match=unknown("att")):
        seed.decide_many(ORGS, att=when)
    with pytest.raises(TypeError, match=unknown("foo")):
        seed.decide_many(foo=1)
    # decide's names are not decide_many's
    with pytest.raises(TypeError, match=unknown("org")):
        seed.decide_many(org=ORGS, at=when, state=s)
    with pytest.raises(TypeError, match=unknown("org")):
        seed.decide_many(**{"".join("org"): ORGS, "at": when})
    # an unknown keyword after known ones, and every name plus one
    with pytest.raises(TypeError, match=unknown("x")):
        seed.decide_many(ORGS, at=when, state=s, x=1)
    with pytest.raises(TypeError, match=r"^decide_many\(\) takes at most 7 keyword arguments "
                                        r"\(8 given\)$"):
        seed.decide_many(orgs=ORGS, users=None, sessions=None, requests=None, attrs=None,
                         at=when, state=s, x=1)
    with pytest.raises(TypeError, match=r"^decide_many\(\) takes at most 7 arguments "
                                        r"\(8 given\)$"):
        seed.decide_many(ORGS, users=None, sessions=None, requests=None, attrs=None,
                         at=when, state=s, x=1)


def test_orgs_by_position_and_by_name(seed, ctx):
    s, when, _ = ctx
    msg = r"^argument for decide_many\(\) given by name \('orgs'\) and position \(1\)$"
    with pytest.raises(TypeError, match=msg):
        seed.decide_many(ORGS, orgs=ORGS)
    with pytest.raises(TypeError, match=msg):
        seed.decide_many(ORGS, at=when, orgs=ORGS, state=s)
    with pytest.raises(TypeError, match=msg):
        seed.decide_many(ORGS, **{"orgs": ORGS, "at": when})
    # even when the positional one is None
    with pytest.raises(TypeError, match=msg):
        seed.decide_many(None, orgs=ORGS, at=when)


def same_call_site_names(s, when, want, m):
    """Two calls whose keyword names are the same constant tuple of this
    code object, ("orgs", "at", "state"): first by name, then with orgs also
    positional. The second must be refused although the tuple is known."""
    assert m(orgs=ORGS, at=when, state=s) == want
    return m(ORGS, orgs=ORGS, at=when, state=s)


def test_a_known_call_site_with_orgs_also_positional(seed, ctx):
    s, when, want = ctx
    consts = same_call_site_names.__code__.co_consts
    if sys.version_info >= (3, 11):  # before 3.11 the names tuple is built per call
        assert consts.count(("orgs", "at", "state")) == 1
    for _ in range(3):
        with pytest.raises(TypeError, match=r"given by name \('orgs'\) and position \(1\)"):
            same_call_site_names(s, when, want, seed.decide_many)


def test_missing_ids(seed, ctx):
    s, when, _ = ctx
    for call in (lambda: seed.decide_many(),
                 lambda: seed.decide_many(at=when),
                 lambda: seed.decide_many(None, at=when, state=s),
                 lambda: seed.decide_many(orgs=None, users=None, at=when),
                 lambda: seed.decide_many(attrs=STAFF, at=when, state=s)):
        with pytest.raises(TypeError, match=EXACTLY_ONE):
            call()
    for call in (lambda: seed.decide_many(ORGS, users=ORGS, at=when),
                 lambda: seed.decide_many(users=ORGS, requests=ORGS),
                 lambda: seed.decide_many(sessions=[], requests=[], at=when)):
        with pytest.raises(TypeError, match=EXACTLY_ONE):
            call()


@pytest.mark.parametrize("kw, exc, msg", [
    ({"at": 1.5}, TypeError, r"^at must be an aware datetime or int epoch seconds, not float$"),
    ({"at": True}, TypeError, r"^at must be an aware datetime or int epoch seconds, not bool$"),
    ({"at": "2026-03-01"}, TypeError, r"^at must be an aware datetime or int epoch seconds"),
    ({"state": "rs1.x"}, TypeError, r"^state must be a rollout.State or None, not str$"),
    ({"state": 0}, TypeError, r"^state must be a rollout.State or None, not int$"),
    ({"attrs": [("k", "v")]}, TypeError, r"^attrs must be a dict of str to str$"),
    ({"attrs": {"k": 1}}, TypeError, r"^an attrs value must be str or bytes, not int$"),
    ({"attrs": {1: "v"}}, TypeError, r"^an attrs key must be str or bytes, not int$"),
])
def test_wrong_types(seed, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        seed.decide_many(ORGS, **{"at": 0, **kw})
    # the same by position and from another call site
    with pytest.raises(exc, match=msg):
        seed.decide_many(orgs=ORGS, **{"at": 0, **kw})


def test_wrong_id_sequences(seed):
    for unit in ("orgs", "users", "sessions", "requests"):
        with pytest.raises(TypeError, match=rf"^{unit} must be a sequence of ids, not a single id$"):
            seed.decide_many(**{unit: "acme-corp"}, at=0)
        with pytest.raises(TypeError, match=rf"^{unit} must be a sequence of ids"):
            seed.decide_many(**{unit: b"acme-corp"}, at=0)
        with pytest.raises(TypeError, match=rf"^{unit}\[1\] must be str, bytes or None, not float$"):
            seed.decide_many(**{unit: ["a", 1.0]}, at=0)
    with pytest.raises(TypeError, match=r"'int' object is not iterable"):
        seed.decide_many(42, at=0)


# ---- the keyword cache -------------------------------------------------------------------


def test_keywords_from_many_call_sites(seed, ctx):
    """More call sites than decide_many remembers (4), the same names in
    every order, each unit, sites whose names decide also uses: every call
    gives the answer of the same call made with **kwargs (a new tuple every
    time, never found in the cache)."""
    s, when, _ = ctx
    later, early = seed.start + 4 * D, seed.start - 1
    m = seed.decide_many
    calls = [
        lambda ids, t: m(ids, at=t, state=s),
        lambda ids, t: m(ids, state=s, at=t),
        lambda ids, t: m(orgs=ids, at=t, state=s),
        lambda ids, t: m(state=s, at=t, orgs=ids),
        lambda ids, t: m(at=t, orgs=ids, state=s),
        lambda ids, t: m(ids, attrs=None, at=t, state=s),
        lambda ids, t: m(requests=None, state=s, orgs=ids, at=t, users=None, sessions=None),
        lambda ids, t: m(users=None, orgs=ids, at=t, state=s),
    ]
    for _ in range(3):
        for t in (when, later, early):
            want = m(**dict(orgs=ORGS, at=t, state=s))
            assert want == bytes(seed.decide(org=o, at=t, state=s).new for o in ORGS)
            for call in calls:
                assert call(ORGS, t) == want
            # a unit other than orgs, by its own sites
            users = ["A", "Z", "user-10"]
            uw = m(**dict(users=users, at=t, state=s))
            assert m(users=users, at=t, state=s) == uw
            assert m(state=s, users=users, at=t) == uw
            assert m(at=t, state=s, users=users) == uw
            # the staff attribute: sessions of the canary at 100 %
            sessions = ["a", "b", "c"]
            assert m(sessions=sessions, attrs=STAFF, at=seed.start + H) == b"\x01" * 3
            assert m(attrs=STAFF, at=seed.start + H, sessions=sessions) == b"\x01" * 3
            assert m(at=seed.start + H, sessions=sessions) == b"\x00" * 3


def org_then_org(plan, o, ids, t):
    """decide, then decide_many, with the same constant names tuple
    ("org", "at"): decide_many must refuse it though decide remembered it."""
    d = plan.decide(org=o, at=t)
    try:
        plan.decide_many(org=ids, at=t)
    except TypeError as e:
        return d, str(e)
    return d, None


def orgs_then_orgs(plan, o, ids, t):
    """The other way round, ("orgs", "at"): decide must refuse it."""
    mask = plan.decide_many(orgs=ids, at=t)
    try:
        plan.decide(orgs=o, at=t)
    except TypeError as e:
        return mask, str(e)
    return mask, None


def test_decide_and_decide_many_keep_their_own_names(seed, ctx):
    s, when, want = ctx
    if sys.version_info >= (3, 11):  # one tuple for both calls of each function
        assert org_then_org.__code__.co_consts.count(("org", "at")) == 1
        assert orgs_then_orgs.__code__.co_consts.count(("orgs", "at")) == 1
    for _ in range(3):
        d, err = org_then_org(seed, "org_42", ORGS, when)
        assert d == seed.decide(**dict(org="org_42", at=when))
        assert re.match(unknown("org"), err), err
        mask, err = orgs_then_orgs(seed, "org_42", ORGS, when)
        assert mask == seed.decide_many(**dict(orgs=ORGS, at=when))
        assert err == "decide() got an unexpected keyword argument 'orgs'"
        # and each still parses its own names
        assert seed.decide(org="org_42", at=when, state=s).new == want[ORGS.index("org_42")]
        assert seed.decide_many(ORGS, at=when, state=s) == want


def test_a_known_names_tuple_with_and_without_positional_orgs(seed, ctx):
    """("at",) seen first with orgs positional, then alone: the second has
    no ids at all."""
    s, when, want = ctx

    def two(m, t):
        a = m(ORGS, at=t)
        try:
            m(at=t)
        except TypeError as e:
            return a, str(e)
        return a, None

    for _ in range(3):
        mask, err = two(seed.decide_many, when)
        assert mask == seed.decide_many(**dict(orgs=ORGS, at=when))
        assert err == "decide_many() takes exactly one of orgs, users, sessions, requests"


# ---- calls only C code can make ----------------------------------------------------------


def vectorcall(fn, args, kwnames):
    """PyObject_Vectorcall(fn, args, len(args) - len(kwnames), kwnames): what
    a C caller may pass, such as a name given twice."""
    f = ctypes.pythonapi.PyObject_Vectorcall
    f.restype = ctypes.py_object
    f.argtypes = [ctypes.py_object, ctypes.POINTER(ctypes.py_object), ctypes.c_size_t,
                  ctypes.py_object]
    arr = (ctypes.py_object * len(args))(*args)
    return f(fn, arr, len(args) - len(kwnames), kwnames)


@pytest.mark.skipif(sys.version_info < (3, 9), reason="PyObject_Vectorcall is a function from 3.9")
def test_a_name_given_twice_by_c_code(seed, ctx):
    """The interpreter makes a dict of a call's keywords, the later value of
    a repeated name winning; decide_many takes such a call the same way."""
    s, when, want = ctx
    other = seed.start + 4 * D
    assert seed.decide_many(ORGS, at=other, state=s) != want
    for _ in range(2):
        assert vectorcall(seed.decide_many, [ORGS, other, when, s], ("at", "at", "state")) == want
        assert vectorcall(seed.decide_many, [ORGS, when, other, s], ("at", "at", "state")) != want
        assert vectorcall(seed.decide_many, [["x"], ORGS, when, s],
                          ("orgs", "orgs", "at", "state")) == want
        with pytest.raises(TypeError, match=r"given by name \('orgs'\) and position \(1\)"):
            vectorcall(seed.decide_many, [ORGS, ORGS, ORGS, when], ("orgs", "orgs", "at"))
    # no keywords at all, and an empty names tuple
    assert vectorcall(rollout.Plan.decide_many, [seed, ORGS], ()) == seed.decide_many(ORGS)


# ---- references --------------------------------------------------------------------------


def test_arguments_are_released_on_every_parsing_path(seed, ctx):
    s, when, want = ctx
    ids = list(ORGS)
    at = when + 0  # a fresh int, whose count only this test moves
    attrs = dict(STAFF)
    objs = [ids, at, attrs, s, seed]

    def counts():
        return [sys.getrefcount(o) for o in objs]

    calls = [
        lambda: seed.decide_many(ids, at=at, state=s, attrs=attrs),
        lambda: seed.decide_many(orgs=ids, attrs=attrs, at=at, state=s),
        lambda: seed.decide_many(**{"".join("orgs"): ids, "at": at, "state": s}),
        lambda: seed.decide_many(ids, at=at, bogus=attrs),
        lambda: seed.decide_many(ids, ids, at, state=s),
        lambda: seed.decide_many(ids, orgs=ids, attrs=attrs, at=at),
        lambda: seed.decide_many(attrs=attrs, at=at, state=s),
        lambda: seed.decide_many(ids, at=at, state=attrs),
    ]
    if sys.version_info >= (3, 9):
        calls.append(lambda: vectorcall(seed.decide_many, [ids, attrs, at, at, s],
                                        ("attrs", "at", "at", "state")))
    for call in calls:  # fill the caches first
        try:
            call()
        except TypeError:
            pass
    gc.collect()
    base = counts()
    for _ in range(200):
        for call in calls:
            try:
                call()
            except TypeError:
                pass
    gc.collect()
    assert counts() == base
