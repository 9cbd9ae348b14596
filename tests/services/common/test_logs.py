import json
import logging

from services.common.logs import JsonFormatter, pseudonymise, request_id_var


def test_pseudonyms_are_stable_keyed_and_not_the_id() -> None:
    assert pseudonymise("c-1", b"k") == pseudonymise("c-1", b"k")
    assert pseudonymise("c-1", b"k") != pseudonymise("c-1", b"other")
    assert "c-1" not in pseudonymise("c-1", b"k")


def test_log_lines_are_json_with_request_id_and_extras() -> None:
    record = logging.makeLogRecord(
        {"msg": "scored %s", "args": ("x",), "levelname": "INFO", "customer": "abc"}
    )
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter("scorer").format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "scored x"
    assert line["request_id"] == "req-1"
    assert line["customer"] == "abc"
    assert line["service"] == "scorer"
