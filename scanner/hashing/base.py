"""The one interface every hashing algorithm implements.

An algorithm hashes either the decoded pixels (perceptual hashes) or the raw bytes (MD5,
SHA-1). Each lives in its own module and registers itself in ``scanner.hashing.registry``.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from PIL import Image

from index.hashes import Algorithm, Hash


class Hasher(abc.ABC):
    algorithm: ClassVar[Algorithm]
    # Perceptual hashers need decoded pixels; byte hashers only the raw content.
    needs_pixels: ClassVar[bool] = True

    def hash_image(self, image: Image.Image) -> Hash:
        """Hash decoded pixels exactly as the reference library does."""
        raise NotImplementedError(f"{self.algorithm} does not hash pixels")

    def hash_bytes(self, content: bytes) -> Hash:
        raise NotImplementedError(f"{self.algorithm} does not hash raw bytes")
