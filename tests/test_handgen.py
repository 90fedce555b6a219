"""Drawing the stand-in's hands: layout, format, pinned pixels and tensors, the test hands'
geometry, and every hand in every skin tone."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rpslib.data import handgen, load_tensors
from rpslib.data.handgen import CLASSES
from tests.conftest import TINY

# sha256 of the pixels (RGBA bytes) of a few images of seed 0: both splits, every class,
# five hands, five skin tones.  Pixels, not PNG files: zlib may pack the same pixels in other
# bytes, which changes nothing a reader sees.
PINNED_PIXELS = {
    ("rps", "paper", 0): "f41cbc4351f4c2754718f0499d9096fe54e0c596c7582a169708d91fc5bd7029",
    ("rps", "rock", 423): "ef30772e3dd1f867cdddea9ff4a68093fd0b1f156b469a8d661f916be59a345d",
    ("rps", "scissors", 839): "9813800bc0632bd306464a59ae2e0de571c799fe7cf9eac1c68d54bd35d14a6b",
    ("rps-test-set", "paper", 50):
        "054ced9904d84c61c4079d5d71258f57ea089054e1f824ea897fd7eaf193c6d5",
    ("rps-test-set", "scissors", 123):
        "8536343b30e7fe3ae9642113639349cfe60b6774bba0c595804974f01fdf08b4",
}
# sha256 of what load_tensors caches for the TINY training split (images, labels, classes)
PINNED_TENSORS = "1ef1367c93a03d2e277d3a9cd012cab136a91b41e161573fead8b101e4ed91b0"
REPIN = ("if the change is intended, bump {version} (so that sets drawn or cached before are "
         "redone) and update the hashes in tests/test_handgen.py; if not, pin the library that "
         "changed (numpy, Pillow, torch or torchvision)")


def test_the_drawn_pixels_are_pinned() -> None:
    changed = []
    for (split, pose, k), pinned in PINNED_PIXELS.items():
        img = handgen.render_indexed(0, split, pose, k)
        assert img.mode == "RGBA" and img.size == (300, 300)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG", compress_level=1)  # as _write_one saves it
        with Image.open(buffer) as png:
            pixels = png.tobytes()
        assert pixels == img.tobytes(), "PNG must store the drawn pixels unchanged"
        if hashlib.sha256(pixels).hexdigest() != pinned:
            changed.append(f"{split}/{pose} image {k}")
    assert not changed, (f"the stand-in's pixels changed ({', '.join(changed)}): "
                         + REPIN.format(version="handgen.GENERATOR_VERSION"))


def test_the_cached_tensors_are_pinned(tiny_rps: tuple[Path, Path]) -> None:
    # torch.save's bytes are not reproducible from one drawing to the next: the zip inside
    # names its folder after the cache file, whose name holds the files' modification times.
    # So this hashes what the file holds.
    train = tiny_rps[0]
    load_tensors(train, size=28)
    (cache_file,) = (train.parent / ".tensor-cache").glob(f"{train.name}-28-*.pt")
    saved = torch.load(cache_file, weights_only=True)
    images, labels, classes = saved["images"], saved["labels"], saved["classes"]
    assert images.dtype == torch.uint8 and images.shape == (3 * TINY["rps"], 3, 28, 28)
    digest = hashlib.sha256(repr(classes).encode())
    digest.update(images.numpy().tobytes())
    digest.update(labels.numpy().tobytes())
    assert digest.hexdigest() == PINNED_TENSORS, (
        "the stand-in's cached 28x28 tensors changed (the drawing, or torchvision's Resize): "
        + REPIN.format(version="handgen.GENERATOR_VERSION (a new drawing) or "
                       "data.CACHE_VERSION (a new resize)"))


def test_layout_counts_and_format(tiny_rps: tuple[Path, Path]) -> None:
    train, test = tiny_rps
    assert train.name == "rps" and test.name == "rps-test-set"
    for folder, per_class in ((train, TINY["rps"]), (test, TINY["rps-test-set"])):
        assert sorted(p.name for p in folder.iterdir()) == list(CLASSES)
        for pose in CLASSES:
            files = sorted((folder / pose).glob("*.png"))
            assert len(files) == per_class
            for f in files:
                with Image.open(f) as img:
                    assert img.format == "PNG" and img.mode == "RGBA"
                    assert img.size == (300, 300)
                    rgba = np.asarray(img)
                assert (rgba[..., 3] == 255).all(), "the background must be opaque"
                # white background in the top-left corner, a hand touching the right edge
                assert (rgba[:5, :5, :3] == 255).all()
                assert (rgba[:, -1, :3] < 250).any(axis=1).sum() > 10


def test_test_hands_have_geometry_outside_the_training_range() -> None:
    train = [handgen.make_identity(0, "rps", i) for i in range(handgen.N_IDENTITIES["rps"])]
    test = [handgen.make_identity(0, "rps-test-set", i)
            for i in range(handgen.N_IDENTITIES["rps-test-set"])]
    for feature in ("palm_width", "finger_thickness", "finger_length"):
        lo = min(getattr(i, feature) for i in train)
        hi = max(getattr(i, feature) for i in train)
        outside = [not lo <= getattr(i, feature) <= hi for i in test]
        assert all(outside), f"{feature}: a test hand lies within the training range"


@pytest.mark.parametrize("seed", [0, 1])
def test_every_hand_wears_every_skin_tone(seed: int) -> None:
    # Difficulty comes from a hand's geometry; if a test identity had one tone, its mistakes
    # would read as "the model fails on that skin" (issue 6, item 13)
    for split, per_class in handgen.SPLITS.items():
        n_id = handgen.N_IDENTITIES[split]
        for ident in range(n_id):
            tones = Counter(handgen.skin_tone(seed, split, k)
                            for k in range(ident, per_class, n_id))
            assert sorted(tones) == list(range(len(handgen.SKIN_TONES))), (
                f"{split}, identity {ident + 1:02d}: only the skin tones {sorted(tones)}")
            assert max(tones.values()) - min(tones.values()) <= 1, (
                f"{split}, identity {ident + 1:02d}: tones unevenly spread {dict(tones)}")


def test_tone_bands_split_the_palette_from_light_to_dark() -> None:
    tones = range(len(handgen.SKIN_TONES))
    assert [handgen.tone_band(t) for t in tones] == [
        band for band, members in handgen.TONE_BANDS.items() for _ in members]
    luma = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in handgen.SKIN_TONES]
    assert luma == sorted(luma, reverse=True)
    with pytest.raises(ValueError, match="no skin tone"):
        handgen.tone_band(len(tones))
