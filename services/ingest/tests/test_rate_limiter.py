"""The per-number send limiter: delivery takes a free slot at once (and commits its attempt
with the lease) or waits for one the usual way."""

from ingest.graph import RateLimiter


def test_a_free_slot_is_taken_at_once_and_then_not_again_until_its_interval() -> None:
    limiter = RateLimiter(rate=1.0)
    assert limiter.take_now("number-a")
    assert not limiter.take_now("number-a")  # the next slot is a second away
    assert limiter.take_now("number-b")  # per number


def test_no_slot_is_free_while_meta_asked_the_number_to_pause() -> None:
    limiter = RateLimiter(rate=0)  # no spacing at all
    assert limiter.take_now("number-a")
    limiter.pause("number-a", 60)
    assert not limiter.take_now("number-a")
    assert limiter.take_now("number-b")
