"""The test images, as data: what goes into each and how it starts.

Everything comes from Debian's packages (the only reachable source), so the images are stand-ins
for what renters bring: a plain distribution image without sshd, a Jupyter image, a "PyTorch"
image (NumPy; nothing CUDA exists offline) and a tiny static-busybox image with no C library
at all, unlike any Debian one. The backend under test must give all of them SSH.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

SUITE = "bookworm"
REPOSITORY_PREFIX = "rigshare-test"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the way images are built changes, so cached tarballs are rebuilt.
BUILD_FORMAT = 1

BASE_PACKAGES = ("bash", "procps", "iproute2", "python3")


@dataclass(frozen=True)
class ImageRecipe:
    name: str  # the key in EngineHarness.images
    tag: str
    builder: str  # "mmdebstrap": Debian SUITE, variant apt; "busybox": the host's busybox-static
    packages: tuple[str, ...]  # Debian packages on top of the variant (mmdebstrap only)
    cmd: tuple[str, ...]

    @property
    def repository(self) -> str:
        return f"{REPOSITORY_PREFIX}/{self.name}"

    def reference(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"

    def cache_key(self, builder_input: str = "") -> str:
        """Names the cached tarball; ``builder_input`` adds what the recipe does not say (the
        host busybox binary's digest)."""
        fields = {**asdict(self), "suite": SUITE, "format": BUILD_FORMAT, "input": builder_input}
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        return f"{self.name}-{digest[:16]}"


RECIPES: tuple[ImageRecipe, ...] = (
    ImageRecipe("base", "1", "mmdebstrap", BASE_PACKAGES, ("/bin/bash",)),
    ImageRecipe(
        "jupyter",
        "1",
        "mmdebstrap",
        (*BASE_PACKAGES, "jupyter-notebook"),
        ("jupyter-notebook", "--ip=0.0.0.0", "--port=8888", "--allow-root", "--no-browser"),
    ),
    ImageRecipe("pytorch", "1", "mmdebstrap", (*BASE_PACKAGES, "python3-numpy"), ("/bin/bash",)),
    ImageRecipe("tiny", "1", "busybox", (), ("/bin/sh",)),
)
