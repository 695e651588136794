"""The check that keeps tests off the clock (tests/lint_timing.py, also run by ``nox -s lint``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.lint_timing import check_paths, check_source


def rules(code: str) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in check_source(textwrap.dedent(code))]


def test_no_test_in_the_suite_depends_on_the_clock() -> None:
    found = check_paths([Path(__file__).parent])
    assert not found, "\n".join(map(str, found))


def test_a_sleep_then_an_assert_is_flagged_unless_the_sleep_says_why_it_must_last() -> None:
    assert rules("""
        import time
        def test_x(run):
            run.start()
            time.sleep(0.3)
            stats = run.stats()
            assert stats.records_in == 10
    """) == [(5, "sleep-then-assert")]
    assert rules("""
        import asyncio
        async def test_x(run):
            try:
                await asyncio.sleep(1)
                if run:
                    assert run.done
            finally:
                pass
    """) == [(5, "sleep-then-assert")]
    assert rules("""
        import time
        def test_x(run):
            time.sleep(1.5)  # sleep-ok: nothing may arrive meanwhile
            assert run.received == []
            time.sleep(1.5)  # sleep-ok:
            assert run.received == []
    """) == [(6, "sleep-then-assert")]  # a marker without a reason does not count


def test_sleeps_that_are_not_followed_by_an_assert_are_fine() -> None:
    assert rules("""
        import time
        def slow(record, delay):
            time.sleep(delay)
            return record
        def test_x(server, run):
            server.kill()
            time.sleep(0.5)  # an outage of some length
            server.start()
            check = lambda: run.done
            def inner():
                assert run.done
    """) == []


def test_hand_written_wait_loops_and_clock_upper_bounds_are_flagged() -> None:
    assert rules("""
        import time
        def test_x(run):
            deadline = time.monotonic() + 20
            while run.count < 10 and time.monotonic() < deadline:
                time.sleep(0.02)
            started = time.monotonic()
            run.get()
            elapsed = time.monotonic() - started
            assert elapsed < 0.2
            assert time.monotonic() - started <= 1, "fast"
            assert 1.0 <= elapsed  # a lower bound: it waited at least that long
            assert requests[1].time - requests[0].time >= 0.95
    """) == [(5, "deadline-loop"), (10, "clock-upper-bound"), (11, "clock-upper-bound")]
