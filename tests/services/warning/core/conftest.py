"""Shared fixtures of the warning core tests: the default rules, the feature names, and a
customer scored over simulated time."""

import pytest

from schemas.features import FEATURE_SCHEMA
from services.warning.core import RuleSet, load_default_rules
from tests.services.warning.core.scored_customer import Customer


@pytest.fixture
def feature_names() -> tuple[str, ...]:
    return FEATURE_SCHEMA.names


@pytest.fixture(scope="session")
def default_rules() -> RuleSet:
    return load_default_rules()


@pytest.fixture
def customer(default_rules: RuleSet, feature_names: tuple[str, ...]) -> Customer:
    return Customer(default_rules, feature_names)
