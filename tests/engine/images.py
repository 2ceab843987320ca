"""Put the recipe images into the harness's registry through a real engine, and nowhere else.

Each tarball is imported into dockerd (``POST /images/create?fromSrc=-`` with the image config
as ``changes``), pushed to the registry and removed from dockerd again, so the engine starts
empty and the backend under test has to pull, exactly as on a provider's host.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.engine.recipes import PATH, ImageRecipe
from tests.engine.unixhttp import UnixHttp

IMPORT_TIMEOUT_S = 300.0
# The push endpoint insists on this header even for a registry without authentication.
_NO_AUTH = base64.urlsafe_b64encode(json.dumps({}).encode()).decode()


def publish(api: UnixHttp, registry: str, recipe: ImageRecipe, tarball: Path) -> str:
    """Import, push, remove locally; the image reference the registry now serves."""
    reference = recipe.reference(registry)
    repository = reference.rsplit(":", 1)[0]
    changes = [f"CMD {json.dumps(list(recipe.cmd))}", f"ENV PATH={PATH}"]
    with tarball.open("rb") as body:
        api.stream_json(
            "POST",
            "/images/create",
            query={"fromSrc": "-", "repo": repository, "tag": recipe.tag, "changes": changes},
            body=body,
            headers={
                "Content-Type": "application/x-tar",
                "Content-Length": str(tarball.stat().st_size),
            },
            timeout=IMPORT_TIMEOUT_S,
        )
    api.stream_json(
        "POST",
        f"/images/{repository}/push",
        query={"tag": recipe.tag},
        headers={"X-Registry-Auth": _NO_AUTH},
        timeout=IMPORT_TIMEOUT_S,
    )
    api.call("DELETE", f"/images/{reference}")
    return reference
