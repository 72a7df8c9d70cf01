"""The one interface every hashing algorithm implements.

An algorithm hashes either the decoded pixels (perceptual hashes) or the raw bytes (MD5,
SHA-1). Each is defined in ``index.algorithms``; its hasher lives in its own module here and is
registered in the one ``scanner.hashing.HASHERS`` list.
Perceptual hashers have two paths: ``hash_image`` reproduces the reference library bit for bit
on a full-resolution Pillow image (exact mode); ``hash_pixels`` works from a frame prepared once
for all hashers, possibly at reduced scale (fast mode), and stays within a few bits of it.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from PIL import Image

from index.hashes import Algorithm, Hash
from scanner.hashing.pixels import Pixels


class Hasher(abc.ABC):
    algorithm: ClassVar[Algorithm]
    # Perceptual hashers need decoded pixels; byte hashers only the raw content.
    needs_pixels: ClassVar[bool] = True

    def hash_image(self, image: Image.Image) -> Hash:
        """Hash decoded pixels exactly as the reference library does."""
        raise NotImplementedError(f"{self.algorithm} does not hash pixels")

    def hash_pixels(self, pixels: Pixels) -> Hash:
        """Hash a prepared frame (fast mode). Defaults to the exact path on the gray image."""
        return self.hash_image(pixels.gray)

    def hash_bytes(self, content: bytes) -> Hash:
        raise NotImplementedError(f"{self.algorithm} does not hash raw bytes")
