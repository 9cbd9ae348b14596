import pytest

from bench.profiles import own_function, shorten, summarise_collapsed

SITE = "/work/main/.venv/lib/python3.11/site-packages"
RAW = "\n".join(
    [
        "run (/work/main/services/scorer/api.py:170);"
        "score (/work/main/services/scorer/scoring.py:300);"
        f"run ({SITE}/onnxruntime/capi/session.py:220) 60",
        "run (/work/main/services/scorer/api.py:170);"
        "reasons_from_contributions (/work/main/riskmodel/reasons.py:229) 30",
        f"select (/usr/lib/python3.11/selectors.py:468);_run_once ({SITE}/uvloop/x.py:1) 10",
        "garbage line without a count",
    ]
)


def test_shorten_cuts_library_and_repository_paths() -> None:
    assert shorten(f"run ({SITE}/onnxruntime/capi/session.py:220)") == (
        "run (onnxruntime/capi/session.py:220)"
    )
    assert shorten("score (/work/main/services/scorer/scoring.py:300)") == (
        "score (services/scorer/scoring.py:300)"
    )
    assert shorten("not a frame") == "not a frame"


def test_own_function_keeps_service_code_without_the_line() -> None:
    assert own_function("score (services/scorer/scoring.py:300)") == (
        "score (services/scorer/scoring.py)"
    )
    assert own_function("measure (bench/inference.py:12)") is None
    assert own_function("run (onnxruntime/capi/session.py:220)") is None


def test_summary_shares_self_and_inclusive_time() -> None:
    summary = summarise_collapsed(RAW, duration_s=2.0, rate_hz=100)

    assert summary.samples == 100
    assert summary.busy_share == pytest.approx(0.5)
    assert summary.self_frames[0].frame == "run (onnxruntime/capi/session.py:220)"
    assert summary.self_frames[0].share == pytest.approx(0.6)
    assert summary.self_frames[0].called_from == "score (services/scorer/scoring.py:300)"
    assert summary.self_frames[2].called_from is None  # the event loop, no riskstream frame
    inclusive = {f.frame: f.share for f in summary.own_code_frames}
    assert inclusive["run (services/scorer/api.py)"] == pytest.approx(0.9)
    assert inclusive["score (services/scorer/scoring.py)"] == pytest.approx(0.6)


def test_summary_of_an_empty_profile_is_idle() -> None:
    summary = summarise_collapsed("", duration_s=5.0)

    assert summary.samples == 0
    assert summary.busy_share == 0.0
    assert summary.self_frames == []
