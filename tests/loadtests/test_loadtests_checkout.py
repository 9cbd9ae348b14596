import random
from collections import Counter

from loadtests.checkout import CREDIT_METHODS, CheckoutMix, build_checkout
from schemas.scores import ScoreRequest


def test_every_checkout_body_is_a_valid_score_request() -> None:
    rng = random.Random(3)
    mix = CheckoutMix()

    for _ in range(500):
        checkout = build_checkout(rng, mix)
        ScoreRequest.model_validate(checkout.body)


def test_the_mix_follows_its_shares() -> None:
    rng = random.Random(5)
    mix = CheckoutMix(known_share=0.8, credit_share=0.4, no_order_share=0.05)

    labels = Counter(build_checkout(rng, mix).label for _ in range(10_000))

    known = sum(n for label, n in labels.items() if label.startswith("known"))
    credit = sum(n for label, n in labels.items() if label.endswith("credit"))
    no_order = sum(n for label, n in labels.items() if label.endswith("no-order"))
    assert 7600 < known < 8400
    assert 3600 < credit < 4400
    assert 350 < no_order < 650


def test_known_customers_come_from_the_configured_range() -> None:
    rng = random.Random(9)
    mix = CheckoutMix(known_share=1.0, known_prefix="c1-", known_count=50, known_width=6)

    ids = {build_checkout(rng, mix).body["customer_id"] for _ in range(300)}

    assert ids <= {f"c1-{i:06d}" for i in range(50)}


def test_credit_orders_draw_on_credit_methods() -> None:
    rng = random.Random(11)
    mix = CheckoutMix(credit_share=1.0, no_order_share=0.0)

    methods = {build_checkout(rng, mix).body["order"]["payment_method"] for _ in range(100)}

    assert methods == set(CREDIT_METHODS)


def test_mix_reads_its_environment() -> None:
    mix = CheckoutMix.from_env(
        {"RISKSTREAM_LOADTEST_KNOWN_SHARE": "0.5", "RISKSTREAM_LOADTEST_KNOWN_PREFIX": "x-"}
    )

    assert mix.known_share == 0.5
    assert mix.known_prefix == "x-"
    assert mix.known_count == CheckoutMix().known_count
