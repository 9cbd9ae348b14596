"""Programs the platform takes from the distribution: redis-server, prometheus, promtool,
and the chromium the console's browser tests drive."""

from __future__ import annotations

import os
import shutil
import subprocess

from deploy.platform.processes import PlatformError


def debian_binary(name: str, package: str) -> str:
    """Path of the program ``name``; when it is missing, installs the Debian ``package``
    that ships it first (needs apt-get and root, else raises PlatformError)."""
    found = shutil.which(name)
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise PlatformError(f"{name} is missing: install it (apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update"], [apt_get, "install", "-y", package]):
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, env=env, check=False
        )
        if result.returncode != 0:
            raise PlatformError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    found = shutil.which(name)
    if found is None:
        raise PlatformError(f"{name} is still missing after apt-get install {package}")
    return found


CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""How the browser tests start Debian's chromium: headless, as root without the sandbox,
and with nothing that reaches out of the machine (updates, sync, background requests)."""


def chromium() -> str:
    """Debian's chromium (``/usr/bin/chromium``), installed with apt-get when missing; the
    browser tests drive it through Playwright, which never downloads a browser here."""
    return debian_binary("chromium", "chromium")
