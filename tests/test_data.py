"""Getting and loading the images: get_rps, the hidden-file-safe ImageFolder, load_tensors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from torchvision import datasets, transforms

from rpslib import data, download, handgen
from rpslib.data import CorruptImageError, ImageFolder, get_rps, load_tensors
from rpslib.download import DownloadError
from tests.conftest import TINY


@pytest.fixture
def tiny_copy(tiny_rps: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the tiny training split, free to damage."""
    return Path(shutil.copytree(tiny_rps[0], tmp_path / "rps"))


def add_checkpoints(folder: Path) -> None:
    """What Jupyter leaves behind: .ipynb_checkpoints at the top and inside a class folder."""
    image = next(folder.rglob("*.png"))
    for where in (folder / ".ipynb_checkpoints", folder / "rock" / ".ipynb_checkpoints"):
        where.mkdir()
        shutil.copy(image, where / "rock01-000-checkpoint.png")
    (folder / "paper" / ".hidden.png").write_bytes(image.read_bytes())


# --- ImageFolder ------------------------------------------------------------------------


def test_hidden_folders_change_nothing(tiny_copy: Path) -> None:
    clean = ImageFolder(tiny_copy)
    add_checkpoints(tiny_copy)
    plain = datasets.ImageFolder(str(tiny_copy))  # torchvision is fooled ...
    assert ".ipynb_checkpoints" in plain.classes or len(plain) > len(clean)
    safe = ImageFolder(tiny_copy)  # ... ours is not
    assert safe.classes == clean.classes == ["paper", "rock", "scissors"]
    assert safe.samples == clean.samples
    assert len(safe) == 3 * TINY["rps"]


def test_a_truncated_png_raises_an_error_naming_it(tiny_copy: Path) -> None:
    victim = sorted((tiny_copy / "scissors").glob("*.png"))[1]
    victim.write_bytes(victim.read_bytes()[:2000])
    dataset = ImageFolder(tiny_copy)
    index = [p for p, _ in dataset.samples].index(str(victim))
    with pytest.raises(CorruptImageError, match=victim.name):
        dataset[index]
    with pytest.raises(CorruptImageError, match=victim.name):
        load_tensors(tiny_copy)


def test_loader_drops_the_alpha_channel(tiny_rps: tuple[Path, Path]) -> None:
    image, label = ImageFolder(tiny_rps[0])[0]
    assert image.mode == "RGB" and image.size == (300, 300) and label == 0


# --- load_tensors -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32])
def test_load_tensors_equals_torchvision(tiny_rps: tuple[Path, Path], size: int) -> None:
    ours = load_tensors(tiny_rps[0], size=size, cache=False)
    reference = datasets.ImageFolder(
        str(tiny_rps[0]), transform=transforms.Compose([transforms.Resize(size),
                                                        transforms.ToTensor()]))
    assert len(ours) == len(reference)
    assert ours.classes == reference.classes
    for i in range(len(reference)):
        x, y = reference[i]
        assert torch.equal(ours[i][0], x)
        assert ours[i][1].item() == y
    images = ours.tensors[0]
    assert images.dtype == torch.float32 and images.shape[1:] == (3, size, size)
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_load_tensors_caches_outside_the_class_folders(tiny_copy: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_tensors(tiny_copy)
    caches = list((tiny_copy.parent / ".tensor-cache").glob("*.pt"))
    assert len(caches) == 1
    assert not [p for p in tiny_copy.rglob("*") if p.suffix == ".pt"]

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again although the cache was valid")

    monkeypatch.setattr(data, "_pil_to_uint8", no_decoding)
    second = load_tensors(tiny_copy)
    assert torch.equal(first.tensors[0], second.tensors[0])
    assert torch.equal(first.tensors[1], second.tensors[1])
    assert second.classes == first.classes


def test_the_cache_notices_a_changed_folder(tiny_copy: Path) -> None:
    before = load_tensors(tiny_copy)
    victim = sorted((tiny_copy / "rock").glob("*.png"))[0]
    other = sorted((tiny_copy / "paper").glob("*.png"))[0]
    shutil.copy(other, victim)  # same name, new content
    os.utime(victim, ns=(1, 1))
    (sorted((tiny_copy / "scissors").glob("*.png"))[0]).unlink()  # one image fewer
    after = load_tensors(tiny_copy)
    assert len(after) == len(before) - 1
    index = [p for p, _ in ImageFolder(tiny_copy).samples].index(str(victim))
    assert torch.equal(after[index][0], before[0][0])  # paper's first image, now under rock
    assert len(list((tiny_copy.parent / ".tensor-cache").glob("*.pt"))) == 1


def test_hidden_folders_do_not_reach_the_tensors(tiny_copy: Path) -> None:
    clean = load_tensors(tiny_copy, cache=False)
    add_checkpoints(tiny_copy)
    assert torch.equal(load_tensors(tiny_copy, cache=False).tensors[0], clean.tensors[0])


# --- get_rps ----------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the download at a closed local port: the connection is refused at once."""
    monkeypatch.setattr(download, "DEFAULT_BASE_URL", "http://127.0.0.1:9/")


@pytest.fixture
def tiny_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the 'full' stand-in tiny, so get_rps's generation takes a moment."""
    monkeypatch.setattr(handgen, "SPLITS", dict(TINY))


def test_default_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("RPSLIB_DATA", str(tmp_path))
    assert data.default_root() == tmp_path
    monkeypatch.delenv("RPSLIB_DATA")
    assert data.default_root() == Path.home() / ".cache" / "rpslib"


def test_offline_get_rps_generates_the_stand_in_and_says_so(
        offline: None, tiny_default: None, isolated_data_root: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = get_rps()
    out = capsys.readouterr().out
    assert result.source == "synthetic"
    assert result.train == isolated_data_root / "synthetic" / "rps"
    assert len(list(result.train.rglob("*.png"))) == 3 * TINY["rps"]
    assert out.count("\n") == 1, "get_rps says in one line which set it uses"
    assert "could not download" in out and "stand-in" in out and "source='real'" in out
    # next time it uses the stand-in at once, without trying the network again
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download although the stand-in is there")

    monkeypatch.setattr(data, "download_rps", no_network)
    assert get_rps().source == "synthetic"
    again = capsys.readouterr().out
    assert again.count("\n") == 1 and again.startswith("Using the generated stand-in")


def test_source_real_never_falls_back(offline: None, isolated_data_root: Path) -> None:
    with pytest.raises(DownloadError):
        get_rps(source="real")
    assert not (isolated_data_root / "synthetic").exists()


def test_a_verified_real_set_wins(isolated_data_root: Path, tiny_rps: tuple[Path, Path],
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    real = isolated_data_root / "real"
    for split in tiny_rps:
        shutil.copytree(split, real / split.name)
    def verified(root: object) -> bool:
        return Path(str(root)) == real

    monkeypatch.setattr(data, "is_complete", verified)
    monkeypatch.setattr(download, "is_complete", verified)
    result = get_rps()
    assert result.source == "real" and result.train == real / "rps"
    assert "CC BY 2.0" in capsys.readouterr().out


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="auto"):
        get_rps(source="fake")


def test_the_cache_notices_a_rewritten_file_of_the_same_size(
        tiny_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_tensors(tiny_copy)
    victim = sorted((tiny_copy / "rock").glob("*.png"))[0]
    os.utime(victim, ns=(10**9, 10**9))  # rewritten in place: same size, new time
    decoded = 0
    real = data._pil_to_uint8

    def counting(img: object) -> torch.Tensor:
        nonlocal decoded
        decoded += 1
        return real(img)  # type: ignore[arg-type]

    monkeypatch.setattr(data, "_pil_to_uint8", counting)
    load_tensors(tiny_copy)
    assert decoded == len(ImageFolder(tiny_copy))


def test_an_unreadable_cache_is_decoded_again(tiny_copy: Path) -> None:
    first = load_tensors(tiny_copy)
    cache = next((tiny_copy.parent / ".tensor-cache").glob("*.pt"))
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    assert torch.equal(load_tensors(tiny_copy).tensors[0], first.tensors[0])
    assert torch.load(cache, weights_only=True)["classes"] == first.classes


def test_paths_with_a_tilde_work(tiny_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tiny_copy.parent))
    assert len(ImageFolder("~/rps")) == len(ImageFolder(tiny_copy))
    assert len(load_tensors("~/rps", cache=False)) == len(ImageFolder(tiny_copy))
