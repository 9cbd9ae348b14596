from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from schemas.features import FeatureUpdate, feature_update_json

instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)
feature_values = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@given(
    instants,
    instants,
    st.dictionaries(st.sampled_from(["orders_count_1h", "refund_rate_30d", "x"]), feature_values),
)
def test_the_fast_serialisation_is_byte_for_byte_pydantics(
    as_of: datetime, occurred_at: datetime, features: dict[str, float | None]
) -> None:
    update = FeatureUpdate(
        customer_id="cust-1",
        feature_schema_version=1,
        as_of=as_of,
        features=features,
        triggered_by="evt-1",
        trigger_event_type="refund",
        event_occurred_at=occurred_at,
    )
    assert feature_update_json(update) == update.model_dump_json().encode()
    assert FeatureUpdate.model_validate_json(feature_update_json(update)) == update
