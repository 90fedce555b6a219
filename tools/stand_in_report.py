"""Validation accuracy on the generated stand-in, per test hand and per skin tone (markdown).

The stand-in's test hands are hard because of their *geometry* (palm size, finger thickness
and length outside the training range), never because of their skin: every hand wears every
skin tone (issue 6, item 13).  This script shows whether that holds.  It trains the slides'
recipe, the one ``tests/test_lessons.py`` checks -- CNN2 with ``n_feature=5``, without and with
dropout (``p=0`` and ``p=0.3``), Adam with ``lr=3e-4``, batches of 16, 28x28 images
standardized with the *training* statistics, 10 epochs, seeds 13, 42 and 7 -- and prints the
validation accuracy averaged over the seeds per test identity, per skin tone and per tone band,
with the channel statistics and each run's accuracies.

Usage::

    python -m tools.stand_in_report [FOLDER]

``FOLDER`` holds ``rps/`` and ``rps-test-set/`` drawn by ``rpslib.data.stand_in`` (or is a data root
holding ``synthetic/``); by default the stand-in of ``$RPSLIB_DATA`` (else ``~/.cache/rpslib``),
drawn if missing.  Six trainings: one to two minutes on one core.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from rpslib import Architecture
from rpslib.data import ImageFolder, get_rps, handgen, stand_in
from rpslib.parallel import train_side_by_side
from rpslib.recipes import accuracy, build_cnn2, standardized_loaders, train_cnn2
from tools.tables import markdown_table

SEEDS = (13, 42, 7)
DROPOUTS = (0.0, 0.3)
EPOCHS = 10
Loader = DataLoader[tuple[torch.Tensor, ...]]


@dataclass
class Run:
    """One training of the recipe: its dropout, seed, accuracies, and which images it got right.

    ``correct`` is a bool tensor (N,) over the validation images, in the loader's order.
    """

    p: float
    seed: int
    train_acc: float
    val_acc: float
    correct: torch.Tensor


def train_once(train_loader: Loader, val_loader: Loader, p: float, seed: int) -> Run:
    """Train CNN2 (``n_feature=5``, dropout ``p``) with Adam for ``EPOCHS`` epochs."""
    arch = train_cnn2(train_loader, val_loader, p=p, seed=seed, epochs=EPOCHS)
    return evaluate(arch, p, seed)


def evaluate(arch: Architecture, p: float, seed: int) -> Run:
    """The ``Run`` of a trained recipe: accuracies, and which validation images it got right."""
    train_loader, val_loader = arch.train_loader, arch.val_loader
    assert train_loader is not None and val_loader is not None
    dataset = val_loader.dataset
    assert isinstance(dataset, TensorDataset), "the validation loader must hold the tensors"
    xv, yv = dataset.tensors
    predicted = torch.as_tensor(arch.predict(xv)).argmax(dim=1)
    return Run(p, seed, accuracy(arch, train_loader), accuracy(arch, val_loader),
               predicted == yv)


def train_runs(train_loader: Loader, val_loader: Loader, seeds: Sequence[int] = SEEDS,
               dropouts: Sequence[float] = DROPOUTS) -> list[Run]:
    """Every (dropout, seed) pair of the recipe, dropout first (trained side by side)."""
    pairs = [(p, seed) for p in dropouts for seed in seeds]
    archs = [build_cnn2(train_loader, val_loader, p=p, seed=seed) for p, seed in pairs]
    train_side_by_side(archs, EPOCHS, seed=[seed for _, seed in pairs], progress=False)
    return [evaluate(arch, p, seed) for arch, (p, seed) in zip(archs, pairs, strict=True)]


def image_groups(test_dir: Path) -> list[tuple[int, int]]:
    """``(identity, skin tone)`` of each validation image, in the loader's order.

    The identity (0-based) and ``k`` come from the file name, the tone from the generator
    (``handgen.skin_tone``), with the seed the set was drawn with (its marker file).
    """
    marker = json.loads((test_dir.parent / stand_in.MARKER).read_text())
    if marker.get("version") != handgen.GENERATOR_VERSION:
        raise SystemExit(f"{test_dir.parent} was drawn by generator version "
                         f"{marker.get('version')}, this code is version "
                         f"{handgen.GENERATOR_VERSION}: draw it again (get_rps redraws it) to "
                         "recompute its skin tones")
    groups = []
    for path, _ in ImageFolder(test_dir).samples:
        split, _, k = stand_in.image_of(Path(path).name)
        groups.append((k % handgen.N_IDENTITIES[split],
                       handgen.skin_tone(marker["seed"], split, k)))
    return groups


def mean_accuracy(runs: Iterable[Run], keys: Sequence[Hashable]) -> dict[Hashable, float]:
    """Accuracy per key (one key per validation image), over all images and runs given."""
    hits: dict[Hashable, list[float]] = {}
    for run in runs:
        for key, ok in zip(keys, run.correct.tolist(), strict=True):
            hits.setdefault(key, []).append(float(ok))
    return {key: sum(v) / len(v) for key, v in hits.items()}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def report(train_dir: Path, test_dir: Path, seeds: Sequence[int] = SEEDS) -> str:
    """Train the recipe and return the markdown report (tables, statistics, runs)."""
    groups = image_groups(test_dir)
    seed = json.loads((test_dir.parent / stand_in.MARKER).read_text())["seed"]
    train_loader, val_loader, normalizer = standardized_loaders(train_dir, test_dir)
    runs = train_runs(train_loader, val_loader, seeds)
    by_p = {p: [r for r in runs if r.p == p] for p in DROPOUTS}
    cols = [f"p={p}" for p in DROPOUTS]
    out = [f"Stand-in in {train_dir.parent} (generator version {handgen.GENERATOR_VERSION}, "
           f"seed {seed}); validation accuracy in %, mean over seeds {', '.join(map(str, seeds))}."]

    ident_keys = [i for i, _ in groups]
    acc = {p: mean_accuracy(by_p[p], ident_keys) for p in DROPOUTS}
    rows = []
    for i in sorted(set(ident_keys)):
        h = handgen.make_identity(seed, "rps-test-set", i)
        tones = sorted({t for j, t in groups if j == i})
        rows.append([f"{i + 1:02d}", ident_keys.count(i), f"{h.palm_width / 112:.3f}",
                     f"{h.finger_thickness:.3f}", f"{h.finger_length:.3f}",
                     ", ".join(map(str, tones)), *(_pct(acc[p][i]) for p in DROPOUTS)])
    out += ["", "**Per test identity** (geometry as factors of the default hand)", "",
            markdown_table(["identity", "images", "palm", "finger thickness",
                            "finger length", "skin tones", *cols], rows)]

    tone_keys = [t for _, t in groups]
    acc = {p: mean_accuracy(by_p[p], tone_keys) for p in DROPOUTS}
    rows = [[t, handgen.tone_band(t), "#{:02x}{:02x}{:02x}".format(*handgen.SKIN_TONES[t]),
             tone_keys.count(t), *(_pct(acc[p].get(t)) for p in DROPOUTS)]
            for t in range(len(handgen.SKIN_TONES))]
    out += ["", "**Per skin tone** (index in `handgen.SKIN_TONES`, light to dark)", "",
            markdown_table(["tone", "band", "colour", "images", *cols], rows)]

    band_keys = [handgen.tone_band(t) for t in tone_keys]
    acc = {p: mean_accuracy(by_p[p], band_keys) for p in DROPOUTS}
    rows = [[band, f"{tones.start}–{tones.stop - 1}", band_keys.count(band),
             *(_pct(acc[p].get(band)) for p in DROPOUTS)]
            for band, tones in handgen.TONE_BANDS.items()]
    out += ["", "**Per tone band**", "", markdown_table(["band", "tones", "images", *cols], rows)]

    both = [(i, handgen.tone_band(t)) for i, t in groups]
    acc = {p: mean_accuracy(by_p[p], both) for p in DROPOUTS}
    rows = [[f"{i + 1:02d}", *(f"{_pct(acc[0.0].get((i, b)))} / {_pct(acc[0.3].get((i, b)))}"
                               for b in handgen.TONE_BANDS)]
            for i in sorted(set(ident_keys))]
    out += ["", "**Per test identity and tone band** (p=0.0 / p=0.3)", "",
            markdown_table(["identity", *handgen.TONE_BANDS], rows)]

    mean = ", ".join(f"{v:.3f}" for v in torch.as_tensor(normalizer.mean).flatten().tolist())
    std = ", ".join(f"{v:.3f}" for v in torch.as_tensor(normalizer.std).flatten().tolist())
    rows = [[f"p={r.p}", r.seed, _pct(r.train_acc), _pct(r.val_acc)] for r in runs]
    val = {p: sum(r.val_acc for r in by_p[p]) / len(by_p[p]) for p in DROPOUTS}
    out += ["", "**Runs**", "",
            markdown_table(["dropout", "seed", "train", "validation"], rows), "",
            f"Mean validation accuracy: {_pct(val[0.0])} without dropout, {_pct(val[0.3])} with "
            f"(gain {100 * (val[0.3] - val[0.0]):+.1f} points).", "",
            f"Training statistics per channel: mean ({mean}), std ({std}).", ""]
    return "\n".join(out)


def _split_folders(folder: Path) -> tuple[Path, Path]:
    for root in (folder, folder / "synthetic"):
        if (root / "rps").is_dir() and (root / "rps-test-set").is_dir():
            return root / "rps", root / "rps-test-set"
    raise SystemExit(f"no rps/ and rps-test-set/ in {folder} or {folder / 'synthetic'}")


def main(argv: Sequence[str]) -> None:
    """``python -m tools.stand_in_report [FOLDER]``: print the report."""
    torch.set_num_threads(1)  # see ENVIRONMENT.md: two threads crawl on a busy 2-core machine
    if argv:
        train_dir, test_dir = _split_folders(Path(argv[0]).expanduser())
    else:
        train_dir, test_dir, _ = get_rps(source="synthetic")
    print(report(train_dir, test_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
