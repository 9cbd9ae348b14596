from schemas.export import SCHEMA_DIR, generated_schemas, render


def test_committed_json_schemas_are_current() -> None:
    """Run `make schemas` when this fails: producers in other languages read these files."""
    wanted = generated_schemas()
    committed = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert committed == set(wanted)
    for name, schema in wanted.items():
        assert (SCHEMA_DIR / f"{name}.schema.json").read_text() == render(schema), name


def test_inbound_event_schema_forbids_unknown_fields() -> None:
    schema = generated_schemas()["order-event"]
    assert schema["additionalProperties"] is False
    assert "event_id" in schema["required"]
