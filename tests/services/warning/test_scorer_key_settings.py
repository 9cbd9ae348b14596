"""The key the warning service sends to the score service (limit applications)."""

import pytest
from pydantic import SecretStr, ValidationError

from services.warning.settings import WarningSettings


def test_the_first_client_key_serves_unless_one_is_given() -> None:
    assert WarningSettings().score_key == "dev-client-key"
    given = WarningSettings(scorer_api_key=SecretStr("shop-key"))
    assert given.score_key == "shop-key"


def test_digest_client_keys_need_an_explicit_key() -> None:
    with pytest.raises(ValidationError, match="RISKSTREAM_SCORER_API_KEY"):
        WarningSettings(client_api_keys=[SecretStr("sha256:" + "0" * 64)])
