"""riskstream wire contracts: pydantic v2 models for every record that crosses a process
boundary, and the JSON Schema files generated from them (``schemas/json/``)."""
