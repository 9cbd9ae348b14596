"""Sampling profiles of running processes with py-spy, reduced to the frames that limit a
figure.

``py-spy record --format raw`` writes collapsed stacks: one line per distinct stack,
``outer (file:line);...;inner (file:line) <samples>``, idle samples left out. The share
of a frame is its samples over all busy samples; ``busy_share`` (busy samples over the
samples the sampling rate would take in the window) says how much of one core the process
used, so a figure limited by CPU shows a busy share near 1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PY_SPY = Path(sys.executable).with_name("py-spy")
SAMPLING_HZ = 100
_FRAME = re.compile(r"^(?P<function>.*) \((?P<location>[^()]*)\)$")
_OWN_ROOTS = ("services/", "schemas/", "bench/", "training/", "deploy/")
_SERVICE_ROOTS = ("services/", "schemas/", "training/")


@dataclass(frozen=True, slots=True)
class FrameShare:
    frame: str
    share: float
    called_from: str | None = None
    """For a leaf frame: the innermost riskstream line under which most of its samples
    were taken (what to change), None when no riskstream frame was on those stacks."""


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """What a profile says: busy share of one core, hottest leaf frames by line (where the
    time is spent), and hottest functions of riskstream's own code, inclusive of what they
    call (which of our calls the time is spent under)."""

    samples: int
    busy_share: float
    self_frames: list[FrameShare]
    own_code_frames: list[FrameShare]

    def as_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "busy_share": round(self.busy_share, 3),
            "self": [
                {"frame": f.frame, "share": round(f.share, 3), "called_from": f.called_from}
                for f in self.self_frames
            ],
            "own_code_inclusive": [
                {"frame": f.frame, "share": round(f.share, 3)} for f in self.own_code_frames
            ],
        }


def shorten(frame: str) -> str:
    """``function (path:line)`` with the path cut to what identifies it: the part after
    ``site-packages/`` for libraries, after the repository root for our code."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    location = match["location"]
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in location:
            location = location.split(marker, 1)[1]
            break
    else:
        for root in _OWN_ROOTS:
            if f"/{root}" in location:
                location = root + location.split(f"/{root}", 1)[1]
                break
    return f"{match['function']} ({location})"


def own_function(frame: str) -> str | None:
    """``function (path)`` of a :func:`shorten`-ed frame in riskstream's services, schemas
    or training code (the benchmark's own driver excluded); None for any other frame."""
    match = _FRAME.match(frame)
    if match is None or not match["location"].startswith(_SERVICE_ROOTS):
        return None
    return f"{match['function']} ({match['location'].rsplit(':', 1)[0]})"


def summarise_collapsed(
    text: str, duration_s: float, rate_hz: int = SAMPLING_HZ, top: int = 8
) -> ProfileSummary:
    """Reduces py-spy's collapsed stacks to a :class:`ProfileSummary`."""
    leaves: Counter[str] = Counter()
    callers: dict[str, Counter[str]] = {}
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [shorten(frame) for frame in stack.split(";")]
        total += count
        leaves[frames[-1]] += count
        innermost = next((f for f in reversed(frames) if own_function(f) is not None), None)
        if innermost is not None:
            callers.setdefault(frames[-1], Counter())[innermost] += count
        for function in dict.fromkeys(own_function(f) for f in frames):
            if function is not None:
                own[function] += count
    expected = max(duration_s * rate_hz, 1.0)

    def caller(frame: str) -> str | None:
        found = callers.get(frame)
        return found.most_common(1)[0][0] if found else None

    return ProfileSummary(
        samples=total,
        busy_share=min(total / expected, 1.0) if total else 0.0,
        self_frames=[
            FrameShare(frame, count / total, caller(frame))
            for frame, count in leaves.most_common(top)
        ],
        own_code_frames=[FrameShare(frame, count / total) for frame, count in own.most_common(top)],
    )


def cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float | None:
    """User plus system CPU seconds a process has used (``/proc/<pid>/stat``); None when
    it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Recording:
    """A py-spy run in progress, with the process's CPU time when it began."""

    pid: int
    process: subprocess.Popen[bytes]
    output: Path
    duration_s: float
    cpu_at_start: float | None
    started_at: float


def start_recording(pid: int, duration_s: float, output: Path) -> Recording:
    """Starts py-spy sampling ``pid`` for ``duration_s`` without pausing it; summarise the
    recording with :func:`read_profile` once the load it watches is done."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        str(SAMPLING_HZ),
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
    ]
    process = subprocess.Popen(  # noqa: S603 (py-spy next to our interpreter, no shell)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return Recording(pid, process, output, duration_s, cpu_seconds(pid), time.monotonic())


def read_profile(recording: Recording) -> dict[str, object]:
    """Waits for a recording and summarises it, with ``cpu_share``: the CPU the process
    really got over the window, as a share of one core. On a crowded machine a process can
    look busy to the sampler (runnable, its stack not in a wait) while it gets little CPU.
    An ``error`` entry when py-spy failed."""
    _, stderr = recording.process.communicate(timeout=recording.duration_s + 60)
    cpu_now = cpu_seconds(recording.pid)
    elapsed = time.monotonic() - recording.started_at
    cpu_share = (
        None
        if cpu_now is None or recording.cpu_at_start is None or elapsed <= 0
        else round((cpu_now - recording.cpu_at_start) / elapsed, 3)
    )
    if recording.process.returncode != 0 or not recording.output.is_file():
        return {"error": stderr.decode(errors="replace").strip().splitlines()[:1]}
    summary = summarise_collapsed(recording.output.read_text(), recording.duration_s).as_dict()
    return {**summary, "cpu_share": cpu_share}
