import subprocess
import sys
from pathlib import Path

import orjson

from schemas.scores import ScoreRequest

REPO = Path(__file__).resolve().parents[2]

# Locust patches the standard library with gevent when imported, so the import is proved in
# a process of its own, never in the test session.
PROBE = """
import random, orjson
import loadtests.locustfile as scenario
user_class = scenario.CheckoutUser
assert user_class.tasks, "the user has no task"
bodies = [scenario.build_checkout(random.Random(n), scenario.MIX).body for n in range(50)]
print(orjson.dumps({"tasks": [t.__name__ for t in user_class.tasks], "bodies": bodies}).decode())
"""


def test_locustfile_imports_and_its_task_sends_valid_score_requests() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    answer = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert answer["tasks"] == ["score_checkout"]
    for body in answer["bodies"]:
        ScoreRequest.model_validate(body)
