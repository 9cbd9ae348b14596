"""The console's calls to the warning service and the scorer: their HTTP APIs with the
console's delegate key, acting for the signed-in user (``X-Riskstream-Actor`` and
``X-Riskstream-Actor-Role``), so every service checks the user's role and the four-eyes
rule itself and audits the user's name."""

from __future__ import annotations

from typing import Any

import httpx

from services.common.auth import ACTOR_HEADER, ACTOR_ROLE_HEADER
from services.console.errors import UpstreamError
from services.console.sessions import Session
from services.console.settings import ConsoleSettings


class Upstream:
    """One service's API."""

    def __init__(self, name: str, base_url: str, settings: ConsoleSettings) -> None:
        self.name = name
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=settings.upstream_timeout_s,
            headers={"Authorization": f"Bearer {settings.console_api_key.get_secret_value()}"},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        session: Session,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer; UpstreamError with the service's status and error code when it
        refuses, 503 ``<name>_unreachable`` when it does not answer."""
        headers = {ACTOR_HEADER: session.user, ACTOR_ROLE_HEADER: str(session.role)}
        try:
            response = await self._client.request(
                method, path, json=body, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            raise UpstreamError(
                503, f"{self.name}_unreachable", f"{self.name}: {type(error).__name__}"
            ) from error
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": "invalid_answer", "detail": response.text[:200]}
        if response.status_code >= 400:
            error_code = answer.get("error", "error") if isinstance(answer, dict) else "error"
            detail = answer.get("detail", "") if isinstance(answer, dict) else answer
            raise UpstreamError(response.status_code, str(error_code), detail)
        return answer

    async def text(self, path: str) -> str:
        """A public text resource (``/metrics``); empty when unreachable."""
        try:
            response = await self._client.get(path)
        except httpx.HTTPError:
            return ""
        return response.text if response.status_code == 200 else ""
