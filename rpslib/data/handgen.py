"""Drawing the offline stand-in's hands: one image of rock, paper or scissors at a time.

The real dataset (Laurence Moroney's CGI hands, CC BY 2.0) cannot be downloaded where there is
no network (our machines, CI, some classrooms), so the course draws a stand-in with the same
layout, counts and format (``rpslib.data.stand_in`` writes it to disk): 300x300 RGBA PNG,
opaque white background, one hand per image entering from the right edge.

Each hand is a few rounded shapes (capsules and a rounded palm) drawn at twice the size and
reduced, so edges are smooth: rock is a fist with the thumb across it, paper an open hand with
spread fingers and the thumb out, scissors the index and middle fingers in a V.  A hand
*identity* fixes its geometry (palm size, finger thickness and length), nails, sleeve and
handedness; each image then varies the pose a little (about ±15° rotation, ±15 px shift,
±5 % scale, a few degrees per finger).  As in the real set, the test images come from
identities never seen in training (6 in training, 4 in test), and their hand *geometry* lies
outside the training range: that, not colour, is what makes a test hand unfamiliar to a small
CNN.  The ranges were tuned until the slides' lessons showed; ``tests/test_lessons.py`` keeps
them showing.

The skin tone is not part of an identity: it steps through the whole palette from one image
of a hand to the next, so every hand, easy or hard, in training and in test, wears every tone
equally often.  Were tones fixed per hand, the test hand with the hardest geometry would have
one skin, and a figure of the model's mistakes would read as "the model fails on that skin",
a lesson the generator made up.  ``tools/stand_in_report.py`` prints the validation accuracy
per test hand and per tone.

Everything is deterministic: image ``k`` of a class draws from its own random generator,
seeded by ``(seed, split, class, k)`` (``render_indexed``), so the files are byte-identical
whatever the number of worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw

CLASSES: tuple[str, ...] = ("paper", "rock", "scissors")
SPLITS: Mapping[str, int] = MappingProxyType({"rps": 840, "rps-test-set": 124})
IMAGE_SIZE = 300
SUPERSAMPLE = 2
# the drawing's version, in the stand-in's marker: a set drawn by another is drawn again
GENERATOR_VERSION = 2  # 2: the skin tone cycles within each hand instead of one per hand

# hand "models" per split; each draws images k, k + n, k + 2n, ... of every class
N_IDENTITIES: Mapping[str, int] = MappingProxyType({"rps": 6, "rps-test-set": 4})

Color = tuple[int, int, int]
Point = tuple[float, float]

SKIN_TONES: tuple[Color, ...] = (  # light to dark; muted, so the statistics match the real set
    (211, 195, 180), (200, 180, 167), (195, 171, 157), (190, 160, 140), (179, 152, 134),
    (154, 121, 105), (137, 108, 91), (123, 93, 78), (92, 68, 58), (74, 56, 47),
)
# the palette's own gaps in brightness (luma 158 -> 129 and 100 -> 74) split it in three
TONE_BANDS: Mapping[str, range] = MappingProxyType(
    {"light": range(0, 5), "medium": range(5, 8), "dark": range(8, 10)})
SLEEVES: tuple[Color, ...] = (
    (40, 52, 92), (70, 70, 74), (25, 25, 28), (150, 40, 45), (46, 100, 60), (190, 190, 196),
    (90, 120, 170), (120, 90, 60), (200, 160, 60), (110, 60, 120),
)
POLISH: tuple[Color, ...] = ((180, 20, 40), (220, 90, 140), (90, 20, 90), (30, 30, 40))


@dataclass(frozen=True)
class Identity:
    """One hand "model" as drawn in one image: only its skin (and plain nails) vary by image.

    Lengths are in pixels of the 300x300 image.
    """

    palm_width: float
    palm_length: float
    finger_thickness: float  # as a fraction of palm_width / 4
    finger_length: float  # as a fraction of the default lengths
    skin: Color
    tone: int  # the index of ``skin`` in SKIN_TONES (before the hand's small tint)
    nail: Color
    sleeve: Color | None
    left_handed: bool
    light: float  # shading strength and side, in [-0.35, 0.35]


def _factor(rng: np.random.Generator, train: bool, spread: float,
            unfamiliar: tuple[float, float]) -> float:
    """A geometry factor near 1.

    Training identities lie within ``1 ± spread``; test identities lie outside, at
    ``1 ± unfamiliar`` (a distance drawn between the two bounds, on either side).
    """
    if train:
        return float(1.0 + rng.uniform(-spread, spread))
    side = rng.choice([-1.0, 1.0])
    return float(1.0 + side * rng.uniform(*unfamiliar))


def make_identity(seed: int, split: str, index: int, image: int = 0) -> Identity:
    """The hand identity ``index`` of ``split`` as drawn in its ``image``-th image (of a class).

    Test identities have unfamiliar geometry.  Only the skin depends on ``image``: the tone
    steps through ``SKIN_TONES`` one image after another, from a start of the identity's own,
    so each hand wears every tone as often as the others (give or take one).  A cycle rather
    than a random tone per image: a test hand has 31 images per class, and random draws would
    give it some tones 7 times and others never, noise that would show in a table per tone.

    The ranges were tuned so that the slides' lessons show (see ``tests/test_lessons.py``):
    a narrow range within training lets CNN2 fit it almost perfectly and dropout help, and
    test geometry outside it puts validation accuracy near the real set's (about 80 %).
    """
    rng = np.random.default_rng([seed, 7, list(SPLITS).index(split), index])
    train = split == "rps"
    size = _factor(rng, train, 0.04, (0.105, 0.18))
    thick = _factor(rng, train, 0.05, (0.14375, 0.275))
    # version 2 put every tone in training, so a test hand's skin no longer looked new; its
    # fingers now lie further out (was 0.1375-0.25), or dropout's gain fell to about 1 point
    length = _factor(rng, train, 0.05, (0.19, 0.34))
    # where the identity's cycle of tones starts: test identities start spread over the palette
    start = rng.integers(len(SKIN_TONES)) if train else (index * 3 + 1) % len(SKIN_TONES)
    tone = (start + image) % len(SKIN_TONES)
    skin = np.array(SKIN_TONES[tone], dtype=float)
    skin = np.clip(skin + rng.normal(0, 6, 3), 0, 255)
    if rng.random() < 0.25:
        nail = np.array(POLISH[rng.integers(len(POLISH))], dtype=float)
    else:
        nail = skin + (255 - skin) * 0.45 + np.array([6.0, -4.0, -2.0])
    sleeve = None if rng.random() < 0.15 else SLEEVES[rng.integers(len(SLEEVES))]
    return Identity(
        palm_width=112.0 * size,
        palm_length=116.5 * size,
        finger_thickness=thick,
        finger_length=length,
        skin=_color(skin),
        tone=int(tone),
        nail=_color(nail),
        sleeve=sleeve,
        left_handed=bool(rng.random() < 0.5),
        light=float(rng.uniform(-0.35, 0.35)),
    )


def _color(c: np.ndarray | Sequence[float]) -> Color:
    r, g, b = (int(round(min(255.0, max(0.0, float(v))))) for v in c)
    return (r, g, b)


def _shade(c: Color, f: float) -> Color:
    return _color([v * f for v in c])


# --- shapes, in the hand's own frame: v points along the fingers, u across the palm ---------


def capsule(a: Point, b: Point, radius: float, n: int = 10) -> list[Point]:
    """The outline of a rounded segment from ``a`` to ``b`` (a finger), as polygon points.
    """
    ax, ay = a
    bx, by = b
    angle = math.atan2(by - ay, bx - ax)
    points = []
    for k in range(n + 1):  # cap around b, then around a
        t = angle - math.pi / 2 + math.pi * k / n
        points.append((bx + radius * math.cos(t), by + radius * math.sin(t)))
    for k in range(n + 1):
        t = angle + math.pi / 2 + math.pi * k / n
        points.append((ax + radius * math.cos(t), ay + radius * math.sin(t)))
    return points


def rounded_rect(u0: float, v0: float, u1: float, v1: float, r: float, n: int = 6) -> list[Point]:
    """The outline of an axis-aligned rectangle with rounded corners (the palm).
    """
    corners = ((u1 - r, v1 - r, 0.0), (u0 + r, v1 - r, 0.5), (u0 + r, v0 + r, 1.0),
               (u1 - r, v0 + r, 1.5))
    points = []
    for cu, cv, start in corners:
        for k in range(n + 1):
            t = math.pi * (start + 0.5 * k / n)
            points.append((cu + r * math.cos(t), cv + r * math.sin(t)))
    return points


def _direction(angle_deg: float) -> Point:
    t = math.radians(angle_deg)
    return (math.sin(t), math.cos(t))


@dataclass
class Part:
    """One shape of a hand, in the hand frame: a filled polygon, or a crease line.

    ``points`` outline a polygon filled with ``fill`` and edged with ``outline`` (``None``: no
    edge) ``width`` pixels wide; exactly two points make a crease line of colour ``fill``.
    """

    points: list[Point]
    fill: Color
    outline: Color | None = None
    width: float = 1.5


def hand_parts(pose: str, ident: Identity, rng: np.random.Generator) -> list[Part]:
    """The shapes of one hand in drawing order, in the hand frame (wrist at the origin).
    """
    w, length = ident.palm_width, ident.palm_length
    thick = w / 4 * 0.92 * ident.finger_thickness
    skin, edge = ident.skin, _shade(ident.skin, 0.68)
    parts: list[Part] = []
    arm_w = 0.40 * w
    parts.append(Part([(-arm_w, 0.1 * length), (arm_w, 0.1 * length), (arm_w * 1.05, -400),
                       (-arm_w * 1.05, -400)], skin, edge))
    if ident.sleeve is not None:
        start = -length * rng.uniform(0.2, 0.45)
        sw = arm_w * 1.3
        parts.append(Part([(-sw, start), (sw, start), (sw, -400), (-sw, -400)], ident.sleeve,
                          _shade(ident.sleeve, 0.7)))
    parts.append(Part(rounded_rect(-w / 2, 0, w / 2, length, 0.28 * w), skin, edge))

    bases = [(-0.375 + 0.25 * k) * w for k in range(4)]  # index, middle, ring, pinky
    lengths = [0.78, 0.88, 0.80, 0.62]
    jitter = rng.normal(0, 2.5, 4)

    def extended(k: int, angle: float) -> None:
        base = (bases[k], 0.86 * length)
        d = _direction(angle + jitter[k])
        flen = lengths[k] * length * ident.finger_length * rng.uniform(0.97, 1.03)
        tip = (base[0] + d[0] * flen, base[1] + d[1] * flen)
        parts.append(Part(capsule(base, tip, thick / 2), skin, edge))
        crease = (base[0] + d[0] * flen * 0.55, base[1] + d[1] * flen * 0.55)
        nx, ny = d[1], -d[0]
        r = thick * 0.28
        parts.append(Part([(crease[0] - nx * r, crease[1] - ny * r),
                           (crease[0] + nx * r, crease[1] + ny * r)], edge, None))
        nb = (base[0] + d[0] * (flen - thick * 0.55), base[1] + d[1] * (flen - thick * 0.55))
        parts.append(Part(capsule(nb, (nb[0] + d[0] * thick * 0.3, nb[1] + d[1] * thick * 0.3),
                                  thick * 0.3), ident.nail, _shade(ident.nail, 0.8), 1.0))

    def folded(k: int) -> None:
        top = (bases[k], length * (1.02 if k in (1, 2) else 0.98))
        bottom = (bases[k] + 0.02 * w, length * 0.58)
        parts.append(Part(capsule(bottom, top, thick * 0.55), skin, edge))

    def thumb_out(angle: float) -> None:
        base = (-0.42 * w, 0.32 * length)
        d = _direction(-angle)
        tlen = 0.62 * length * ident.finger_length
        tip = (base[0] + d[0] * tlen, base[1] + d[1] * tlen)
        parts.append(Part(capsule(base, tip, thick * 0.58), skin, edge))
        nb = (base[0] + d[0] * (tlen - thick * 0.6), base[1] + d[1] * (tlen - thick * 0.6))
        parts.append(Part(capsule(nb, (nb[0] + d[0] * thick * 0.3, nb[1] + d[1] * thick * 0.3),
                                  thick * 0.32), ident.nail, _shade(ident.nail, 0.8), 1.0))

    def thumb_across(reach: float, height: float) -> None:
        base = (-0.5 * w, 0.30 * length)
        tip = (reach * w, height * length)
        parts.append(Part(capsule(base, tip, thick * 0.6), skin, edge))

    if pose == "paper":
        for k, angle in enumerate((-13.0, -4.0, 5.0, 15.0)):
            extended(k, angle * rng.uniform(0.8, 1.25))
        thumb_out(rng.uniform(45, 62))
    elif pose == "rock":
        for k in range(4):
            folded(k)
        thumb_across(rng.uniform(0.0, 0.15), rng.uniform(0.55, 0.62))
    elif pose == "scissors":
        for k in (2, 3):
            folded(k)
        spread = rng.uniform(9.0, 14.0)
        extended(0, -spread)
        extended(1, spread * 0.6)
        thumb_across(rng.uniform(0.2, 0.32), rng.uniform(0.56, 0.64))
    else:
        raise ValueError(f"unknown pose {pose!r}: expected one of {CLASSES}")
    return parts


def render(pose: str, ident: Identity, rng: np.random.Generator) -> Image.Image:
    """One 300x300 RGBA image of ``ident`` showing ``pose``, posed at random by ``rng``.
    """
    s = SUPERSAMPLE
    size = IMAGE_SIZE * s
    parts = hand_parts(pose, ident, rng)
    angle = math.radians(rng.uniform(-15, 15))
    scale = rng.uniform(0.95, 1.05) * s
    # the wrist sits right of centre; the fingers point left, the arm leaves by the right edge
    cx = (IMAGE_SIZE * 0.76 + rng.uniform(-15, 15)) * s
    cy = (IMAGE_SIZE * 0.5 + rng.uniform(-15, 15)) * s
    # hand frame -> image: v (fingers) maps to (-cos, -sin), u to (-sin, cos) (mirrored if left)
    vx, vy = -math.cos(angle), -math.sin(angle)
    mirror = -1.0 if ident.left_handed else 1.0
    ux, uy = -math.sin(angle) * mirror, math.cos(angle) * mirror

    def to_image(p: Point) -> Point:
        u, v = p
        return (cx + scale * (u * ux + v * vx), cy + scale * (u * uy + v * vy))

    img = Image.new("RGB", (size, size), (255, 255, 255))
    mask = Image.new("L", (size, size), 0)
    draw, draw_mask = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for part in parts:
        pts = [to_image(p) for p in part.points]
        if len(pts) == 2:  # a crease line
            draw.line(pts, fill=part.fill, width=max(1, round(1.2 * s)))
            continue
        draw.polygon(pts, fill=part.fill, outline=part.outline, width=round(part.width * s))
        draw_mask.polygon(pts, fill=255)

    # soft light from one side of the hand: darken across u (computed at the final size)
    img, mask = img.reduce(s), mask.reduce(s)
    pixels = np.asarray(img, dtype=np.float32)
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) * s
    u = ((xs - cx) * ux + (ys - cy) * uy) / (scale * ident.palm_width)
    shade = 1.0 - ident.light * np.clip(u, -1.0, 1.0) - 0.08 * np.clip(np.abs(u), 0, 1)
    factor = 1.0 + alpha * (shade - 1.0)
    pixels = np.clip(pixels * factor[..., None], 0, 255).astype(np.uint8)
    out = Image.fromarray(pixels, "RGB")
    out.putalpha(255)
    return out


def render_indexed(seed: int, split: str, pose: str, k: int) -> Image.Image:
    """Image ``k`` of class ``pose`` in ``split``: its own generator, so any order gives it.
    """
    n_id = N_IDENTITIES[split]
    ident = make_identity(seed, split, k % n_id, k // n_id)
    rng = np.random.default_rng([seed, list(SPLITS).index(split), CLASSES.index(pose), k])
    return render(pose, ident, rng)


def skin_tone(seed: int, split: str, k: int) -> int:
    """The index in ``SKIN_TONES`` of the skin of image ``k`` (of every class) in ``split``.

    Lets a reader (or ``tools/stand_in_report.py``) group results by skin tone; see
    :func:`image_of` for the ``k`` of a file name and :func:`tone_band` for the band.
    No chapter uses it (a reader of ``tools/stand_in_report.py`` may).
    """
    n_id = N_IDENTITIES[split]
    return make_identity(seed, split, k % n_id, k // n_id).tone


def tone_band(tone: int) -> str:
    """The band of a skin tone index: ``"light"``, ``"medium"`` or ``"dark"`` (``TONE_BANDS``).

    No chapter uses it (``tools/stand_in_report.py`` does).
    """
    for band, tones in TONE_BANDS.items():
        if tone in tones:
            return band
    raise ValueError(f"no skin tone {tone}: expected 0 to {len(SKIN_TONES) - 1}")
