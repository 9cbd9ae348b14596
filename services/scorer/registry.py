"""The model registry: published bundles on disk, one directory per version, and the
history of activations that ``rollback`` walks back.

Every scorer process writes that history from the ``active`` records it applies from
``models.control`` (not the process that took the admin call), so a rollback sent to any
process finds the same previous version, whether or not the processes share the directory.

Layout under the registry root::

    <version>/manifest.json, model.onnx, <reason table>   a published, gated bundle
    activations.json                                       {"history": [versions, oldest first]}
    .staging/                                              bundles being gated
    .lock                                                  serialises writers across processes

Publishing copies the bundle into ``.staging``, gates the copy (so what was checked is
exactly what is served) and renames it into place: a version directory is always complete.
Every function blocks on the filesystem; call them off the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from riskmodel.errors import GateRefusedError
from riskmodel.loading import LoadedModel, check_adverse_impact, open_bundle, read_manifest
from riskmodel.manifest import MANIFEST_FILE, BundleManifest
from schemas.features import FeatureSchema
from services.scorer.errors import RegistryError

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HISTORY_FILE = "activations.json"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A published version as ``GET /v1/models`` lists it."""

    model_version: str
    path: Path
    created_at: datetime
    feature_schema_version: int
    data_fingerprint: str
    metrics: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "path": str(self.path),
            "created_at": self.created_at.isoformat(),
            "feature_schema_version": self.feature_schema_version,
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.metrics,
        }


def _registered(manifest: BundleManifest, path: Path) -> RegisteredModel:
    return RegisteredModel(
        model_version=manifest.model_version,
        path=path,
        created_at=manifest.created_at,
        feature_schema_version=manifest.feature_schema_version,
        data_fingerprint=manifest.data_fingerprint,
        metrics=dict(manifest.metrics),
    )


def _digest(directory: Path) -> str:
    """sha256 over every file's relative name and content, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


class ModelRegistry:
    def __init__(
        self, root: Path, schema: FeatureSchema, min_adverse_impact_ratio: float | None = None
    ) -> None:
        self.root = root
        self._schema = schema
        self._min_adverse_impact_ratio = min_adverse_impact_ratio

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def publish(self, source: Path) -> tuple[RegisteredModel, bool]:
        """Gates a copy of the bundle directory ``source`` and stores it under its version.
        With a minimum adverse-impact ratio set, a bundle measured below it is refused.

        Returns the entry and whether it was new (publishing the same content again is a
        no-op). Raises GateRefusedError when the gate refuses it, and RegistryError
        ``version_conflict`` when the version exists with other content.
        """
        try:
            is_directory = source.is_dir()
        except OSError as error:  # a name too long for the filesystem, for one
            raise GateRefusedError("bundle_missing", f"{source} cannot be read") from error
        if not is_directory:
            raise GateRefusedError("bundle_missing", f"{source} is not a bundle directory")
        if not (source / MANIFEST_FILE).is_file():
            raise GateRefusedError("manifest_missing", f"{source / MANIFEST_FILE} does not exist")
        staging = self.root / ".staging" / uuid.uuid4().hex
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            _copy_bundle_files(source, staging)
            model = open_bundle(staging, self._schema)
            check_adverse_impact(model.manifest, self._min_adverse_impact_ratio)
            version = model.version
            if not _VERSION.match(version):
                raise GateRefusedError(
                    "version_invalid",
                    f"model version {version!r} must be 1-64 letters, digits, '.', '_' or '-'",
                )
            target = self.root / version
            with self._locked():
                if target.exists():
                    if _digest(target) != _digest(staging):
                        raise RegistryError(
                            "version_conflict",
                            f"version {version} is already published with other content",
                        )
                    return _registered(model.manifest, target), False
                os.replace(staging, target)
            return _registered(model.manifest, target), True
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def path_of(self, version: str) -> Path:
        """The directory of a published version; RegistryError ``unknown_version``."""
        target = self.root / version
        if not _VERSION.match(version) or not (target / "manifest.json").is_file():
            raise RegistryError("unknown_version", f"version {version} is not published")
        return target

    def open(self, version: str) -> LoadedModel:
        """Loads a published version through the gate again (files may have changed)."""
        return open_bundle(self.path_of(version), self._schema)

    def entries(self) -> list[RegisteredModel]:
        """Every published version, newest bundle first (from the manifests; entries whose
        manifest cannot be read are skipped)."""
        entries = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.name.startswith(".") or not path.is_dir():
                    continue
                try:
                    entries.append(_registered(read_manifest(path), path))
                except GateRefusedError:
                    continue
        return sorted(entries, key=lambda e: e.created_at, reverse=True)

    def history(self) -> list[str]:
        """Activated versions, oldest first; the last one is serving."""
        path = self.root / _HISTORY_FILE
        if not path.is_file():
            return []
        history = orjson.loads(path.read_bytes()).get("history", [])
        return [str(v) for v in history]

    def _write_history(self, history: list[str]) -> None:
        path = self.root / _HISTORY_FILE
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(orjson.dumps({"history": history}))
        os.replace(temporary, path)

    def record_activation(self, version: str) -> None:
        """Makes ``version`` the last entry of the history: nothing changes when it already
        is; when it is the last but one (a rollback, or re-activating the version before),
        the last entry is dropped; otherwise it is appended.

        Each process records what it reads on ``models.control``, and a control record
        does not say whether it came from an activation or a rollback: this rule makes
        the history follow the champion either way, and recording one record twice (two
        processes sharing the directory) changes nothing the second time.
        """
        with self._locked():
            history = self.history()
            if history and history[-1] == version:
                return
            if len(history) >= 2 and history[-2] == version:
                self._write_history(history[:-1])
            else:
                self._write_history([*history, version])

    def previous(self) -> tuple[str, str]:
        """``(serving, previous)`` versions; RegistryError ``nothing_to_roll_back``."""
        history = self.history()
        if len(history) < 2:
            raise RegistryError("nothing_to_roll_back", "no earlier activation to roll back to")
        return history[-1], history[-2]


MAX_BUNDLE_BYTES = 1024 * 1024 * 1024
"""Largest bundle the registry copies (model, reason table, manifest, report)."""


def _copy_bundle_files(source: Path, staging: Path) -> None:
    """Copies the regular files at the top of ``source`` (a bundle is flat), refusing a
    directory larger than :data:`MAX_BUNDLE_BYTES`: an admin pointing at the wrong path
    must not make the scorer copy a filesystem."""
    files = [entry for entry in source.iterdir() if entry.is_file() and not entry.is_symlink()]
    size = sum(entry.stat().st_size for entry in files)
    if size > MAX_BUNDLE_BYTES:
        raise GateRefusedError(
            "bundle_too_large", f"{source} holds {size} bytes; a bundle may hold {MAX_BUNDLE_BYTES}"
        )
    staging.mkdir(parents=True)
    for entry in files:
        shutil.copy2(entry, staging / entry.name)
