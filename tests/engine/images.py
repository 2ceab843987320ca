"""Put the recipe images into a harness's registry, so the engines start empty and must pull.

Each image is pushed with the registry's own protocol, the way ``docker push`` does it: the
gzip layer and the image config as blobs, then a Docker v2 schema 2 manifest under the tag.
Importing into dockerd and pushing from there (the obvious route) took 55 s per harness on a
2-core machine, nearly all of it dockerd re-compressing the layers; the layers here are
compressed once, when they are built and cached. What the engines pull is the same kind of
image either way, and podman's harness needs no dockerd to get it. The Debian images get a
second layer with a stand-in ``nvidia-smi`` (``tests/engine/gpu_tools.py``).
"""

from __future__ import annotations

import hashlib
import json
import platform
from typing import IO
from urllib.parse import urlencode, urlsplit

from tests.engine.daemons import HarnessError
from tests.engine.gpu_tools import ToolsLayer, tools_layer
from tests.engine.imagebuild import LayerBlob
from tests.engine.recipes import PATH, ImageRecipe
from tests.engine.registry import Registry

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def publish(registry: Registry, recipe: ImageRecipe, layer: LayerBlob) -> str:
    """Push ``recipe``'s image; the reference the registry now serves. HarnessError on any
    refusal from the registry."""
    tools = tools_layer() if recipe.builder == "mmdebstrap" else None  # python3 inside
    config = json.dumps(_image_config(recipe, layer, tools), sort_keys=True).encode()
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    with layer.path.open("rb") as body:
        _put_blob(registry, recipe.repository, layer.digest, body, layer.size)
    layers = [{"mediaType": LAYER_TYPE, "size": layer.size, "digest": layer.digest}]
    if tools is not None:
        _put_blob(registry, recipe.repository, tools.digest, tools.blob, len(tools.blob))
        layers.append({"mediaType": LAYER_TYPE, "size": len(tools.blob), "digest": tools.digest})
    _put_blob(registry, recipe.repository, config_digest, config, len(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": config_digest},
        "layers": layers,
    }
    response = registry.request(
        "PUT",
        f"/v2/{recipe.repository}/manifests/{recipe.tag}",
        body=json.dumps(manifest).encode(),
        headers={"Content-Type": MANIFEST_TYPE},
    )
    if response.status != 201:
        raise HarnessError(f"manifest of {recipe.name}: {response.status} {response.body!r}")
    return recipe.reference(registry.address)


def _image_config(
    recipe: ImageRecipe, layer: LayerBlob, tools: ToolsLayer | None
) -> dict[str, object]:
    diff_ids = [layer.diff_id] + ([tools.diff_id] if tools else [])
    return {
        "architecture": _architecture(),
        "os": "linux",
        "created": layer.created,
        "config": {"Cmd": list(recipe.cmd), "Env": [f"PATH={PATH}"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {
                "created": layer.created,
                "created_by": f"rigshare test recipe {recipe.name}: {recipe.builder} "
                + " ".join(recipe.packages),
            }
        ]
        + ([{"created": layer.created, "created_by": "stand-in nvidia-smi"}] if tools else []),
    }


def _architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _put_blob(
    registry: Registry, repository: str, digest: str, body: bytes | IO[bytes], size: int
) -> None:
    exists = registry.request("HEAD", f"/v2/{repository}/blobs/{digest}")
    if exists.status == 200:
        return
    start = registry.request("POST", f"/v2/{repository}/blobs/uploads/")
    if start.status != 202:
        raise HarnessError(f"upload to {repository}: {start.status} {start.body!r}")
    location = urlsplit(start.headers["Location"])
    separator = "&" if location.query else ""
    target = f"{location.path}?{location.query}{separator}{urlencode({'digest': digest})}"
    done = registry.request(
        "PUT",
        target,
        body=body,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
    )
    if done.status != 201:
        raise HarnessError(f"blob {digest} of {repository}: {done.status} {done.body!r}")
