"""The batch budget: each poll asks for as many records as fit in `max_batch_s` at the measured pace."""

from __future__ import annotations

import pytest

from greenwatch.services.backpressure import BatchBudget


def test_starts_at_one_record_and_doubles_while_batches_are_fast() -> None:
    budget = BatchBudget(max_batch_s=10.0, max_records=50)
    limits = []
    for _ in range(8):
        limits.append(budget.limit())
        budget.observe(budget.limit(), 0.001 * budget.limit())
    assert limits == [1, 2, 4, 8, 16, 32, 50, 50]


def test_a_slow_store_shrinks_the_batch_to_what_fits_in_the_budget() -> None:
    budget = BatchBudget(max_batch_s=3.0, max_records=50, smoothing=1.0)
    for _ in range(6):
        budget.observe(budget.limit(), 0.001 * budget.limit())
    assert budget.limit() == 50
    budget.observe(50, 50 * 0.25)  # the store got slow: 0.25 s per record
    assert budget.limit() == 12  # 3 s / 0.25 s
    budget.observe(12, 12 * 1.0)  # slower still
    assert budget.limit() == 3
    budget.observe(3, 3 * 20.0)  # one record takes longer than the budget: still one at a time
    assert budget.limit() == 1


def test_the_average_follows_the_pace_smoothly_and_empty_polls_change_nothing() -> None:
    budget = BatchBudget(max_batch_s=4.0, max_records=50, smoothing=0.5)
    budget.observe(1, 0.1)
    budget.observe(0, 100.0)  # an empty poll that waited: not a measurement
    assert budget.per_record_s == pytest.approx(0.1)
    budget.observe(2, 2 * 0.3)
    assert budget.per_record_s == pytest.approx(0.2)
    assert budget.limit() == 4  # doubling (1 -> 2 -> 4) below the 20 that would fit


@pytest.mark.parametrize("kwargs", [{"max_batch_s": 0}, {"max_records": 0}, {"smoothing": 0}, {"smoothing": 1.5}])
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="required"):
        BatchBudget(**kwargs)  # type: ignore[arg-type]
