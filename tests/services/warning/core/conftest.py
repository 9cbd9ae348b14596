"""Shared fixtures of the warning core tests."""

import pytest

from schemas.features import FEATURE_SCHEMA
from services.warning.core.rules import RuleSet, load_default_rules


@pytest.fixture
def feature_names() -> tuple[str, ...]:
    return FEATURE_SCHEMA.names


@pytest.fixture(scope="session")
def default_rules() -> RuleSet:
    return load_default_rules()
