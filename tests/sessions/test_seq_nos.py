"""The seqNos a connection remembers for a 2.0.1 transaction: small, and never wrong."""

from __future__ import annotations

import random

from chargeops.sessions.transaction_events import SeqNos


def test_a_charger_in_sequence_is_remembered_as_one_run() -> None:
    seen = SeqNos.of({0})
    for n in range(1, 5000):
        seen = seen.add(n)
    assert (seen.low, seen.high, seen.others) == (0, 4999, frozenset())
    assert 0 in seen and 4999 in seen and 5000 not in seen and -1 not in seen


def test_gaps_and_late_events_are_kept_until_the_run_reaches_them() -> None:
    seen = SeqNos.of({0, 1, 4, 5})
    assert (seen.high, seen.others, seen.newest) == (1, frozenset({4, 5}), 5)
    assert 3 not in seen
    seen = seen.add(3).add(2)
    assert (seen.high, seen.others, seen.newest) == (5, frozenset(), 5)


def test_any_arrival_order_gives_the_same_memory() -> None:
    numbers = list(range(40))
    random.Random(7).shuffle(numbers)
    seen = SeqNos.of({numbers[0]})
    for n in numbers[1:]:
        seen = seen.add(n)
    assert all(n in seen for n in range(40))
    assert seen.newest == 39
    # a charger that numbers from 1 (or a transaction first seen mid-way) works too
    assert 0 not in SeqNos.of({1, 2, 3})
