import pytest
from pydantic import SecretStr, ValidationError

from services.common.settings import ServiceSettings


def test_keys_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_CLIENT_API_KEYS", "k1, k2")
    settings = ServiceSettings()
    assert [k.get_secret_value() for k in settings.client_api_keys] == ["k1", "k2"]


def test_production_refuses_the_development_keys() -> None:
    with pytest.raises(ValidationError, match="development API keys"):
        ServiceSettings(env="production")


def test_production_starts_with_its_own_keys_and_pseudonym_key() -> None:
    settings = ServiceSettings(
        env="production",
        client_api_keys=[SecretStr("c")],
        admin_api_keys=[SecretStr("a")],
        pseudonym_key=SecretStr("p"),
    )
    assert settings.env == "production"


def test_the_topic_prefix_applies_to_every_topic() -> None:
    names = [spec.name for spec in ServiceSettings(topic_prefix="t1.").topics.specs(3)]
    assert names
    assert all(name.startswith("t1.") for name in names)


def test_secrets_do_not_appear_in_the_settings_repr() -> None:
    assert "dev-admin-key" not in repr(ServiceSettings())


@pytest.mark.parametrize(
    "entry", ["approver:approver:dev-approver-key", "console:delegate:dev-console-key"]
)
def test_production_refuses_the_named_development_keys(entry: str) -> None:
    with pytest.raises(ValidationError, match="development API keys"):
        ServiceSettings(
            env="production",
            client_api_keys=[SecretStr("c")],
            admin_api_keys=[SecretStr("a"), SecretStr(entry)],
            pseudonym_key=SecretStr("p"),
        )
