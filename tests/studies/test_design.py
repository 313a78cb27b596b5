"""The randomised design: balanced sides for any size, reproduced exactly from the seed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reader_study.studies import design

pytestmark = pytest.mark.study


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    cases=st.integers(1, 60),
    training=st.integers(0, 3),
    readers=st.integers(1, 12),
)
def test_sides_balance_per_reader_and_per_case(seed, cases, training, readers):
    main = list(range(training, training + cases))
    practice = list(range(training))
    per_case = {c: 0 for c in main}
    for r in range(readers):
        plan = design.session_one(seed, main, practice, r)
        assert [p.position for p in plan] == list(range(1, cases + training + 1))
        assert [p.case_index for p in plan[:training]] == practice  # training first
        assert sorted(p.case_index for p in plan[training:]) == main  # each case once
        on_a = [p for p in plan[training:] if p.test_on_a]
        assert abs(len(on_a) - cases / 2) <= 1  # half of each reader's cases, within one
        for p in on_a:
            per_case[p.case_index] += 1
    for count in per_case.values():  # each case: half of the readers, within one
        assert abs(count - readers / 2) <= 1


@given(seed=st.integers(0, 2**31 - 1), cases=st.integers(1, 40), fraction=st.floats(0.05, 1))
def test_session_two_is_a_fresh_balanced_subset(seed, cases, fraction):
    main = list(range(cases))
    plan = design.session_two(seed, main, fraction, reader_index=3)
    assert len(plan) == min(cases, max(1, round(fraction * cases)))
    assert len({p.case_index for p in plan}) == len(plan)
    assert abs(sum(p.test_on_a for p in plan) - len(plan) / 2) <= 1


def test_the_same_seed_gives_the_same_design_and_another_seed_another():
    main = list(range(30))
    first = [design.session_one(7, main, [], r) for r in range(4)]
    assert first == [design.session_one(7, main, [], r) for r in range(4)]
    assert first != [design.session_one(8, main, [], r) for r in range(4)]
    orders = {tuple(p.case_index for p in plan) for plan in first}
    assert len(orders) == 4  # every reader has an order of their own


def test_no_repeat_without_a_share():
    assert design.session_two(1, list(range(10)), 0.0, 0) == []
