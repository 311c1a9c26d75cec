"""The embedded engine's turns (``ledger.chdb_store.Turns``): one statement at a time, a
question before an insert, and an insert not held back by a stream of questions."""

from __future__ import annotations

import threading
import time

from ledger.chdb_store import Turns, is_insert


def _queue(turns: Turns, order: list[str], name: str, insert: bool) -> threading.Thread:
    def take() -> None:
        with turns.turn(insert=insert):
            order.append(name)

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def _until(turns: Turns, waiting: tuple[int, int]) -> None:
    deadline = time.monotonic() + 5
    while turns.waiting != waiting:
        assert time.monotonic() < deadline, f"waiting {turns.waiting}, expected {waiting}"
        time.sleep(0.001)


def test_a_question_waiting_goes_before_inserts_that_waited_longer() -> None:
    # Three inserts first (the rest of a write), then a question: with turns taken in any
    # order, the question would come first one time in four.
    turns, order = Turns(), list[str]()
    with turns.turn(insert=True):  # a write's insert under way
        threads = [_queue(turns, order, f"insert {n}", insert=True) for n in range(3)]
        _until(turns, (0, 3))
        threads.append(_queue(turns, order, "question", insert=False))
        _until(turns, (1, 3))
    for thread in threads:
        thread.join(5)
    assert len(order) == 4 and order[0] == "question"


def test_an_insert_waits_out_at_most_so_many_questions() -> None:
    turns, order = Turns(questions_ahead=2), list[str]()
    threads = []
    with turns.turn():
        threads.append(_queue(turns, order, "insert", insert=True))
        _until(turns, (0, 1))
        for n in range(4):
            threads.append(_queue(turns, order, f"question {n}", insert=False))
        _until(turns, (4, 1))
    for thread in threads:
        thread.join(5)
    assert len(order) == 5 and order.index("insert") == 2


def test_one_statement_at_a_time() -> None:
    turns, inside, most = Turns(), [0], [0]
    guard = threading.Lock()

    def run(insert: bool) -> None:
        for _ in range(200):
            with turns.turn(insert=insert):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0)  # let another thread try its turn while this one has it
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=run, args=(n % 2 == 0,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most[0] == 1 and turns.waiting == (0, 0)


def test_what_counts_as_an_insert() -> None:
    assert is_insert("INSERT INTO db.t FORMAT JSONEachRow\n{}")
    assert is_insert("  insert into db.t FROM INFILE 'x' FORMAT ArrowStream")
    assert not is_insert("SELECT event_id FROM db.event_keys")
    assert not is_insert("OPTIMIZE TABLE db.t FINAL")
