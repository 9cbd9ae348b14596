import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

# Only the commands that simulate or train load these, when they run.
COMMAND_ONLY_MODULES = ("simulator", "training.train", "training.tabular")


def test_loading_the_command_line_loads_no_simulation_or_training_code() -> None:
    # A fresh interpreter: this test session has long imported the simulator elsewhere.
    probe = (
        "import sys\n"
        "import services.cli.main\n"
        f"watched = {COMMAND_ONLY_MODULES!r}\n"
        "print(sorted(m for m in sys.modules "
        "if any(m == w or m.startswith(w + '.') for w in watched)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert loaded.stdout.strip() == "[]"
