"""Getting and loading the images: get_rps, the hidden-file-safe ImageFolder, load_tensors."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets, transforms

from rpslib import data
from rpslib.data import (
    CorruptImageError,
    ImageFolder,
    OddImageError,
    download,
    get_rps,
    load_tensors,
    stand_in,
)
from rpslib.data.download import DownloadError
from rpslib.data.folders import NotEnoughSpaceError
from tests.conftest import TINY
from tests.local_archives import (
    Server,
    leftovers,
    serve_all,
    ssl_failing_urlopen,
)


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
def mirror(server: Server, archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch,
           offline: None) -> Server:
    """A classroom mirror on 127.0.0.1 serving tiny real archives (``ARCHIVES`` patched); the
    fixtures it builds on are tests/conftest.py's."""
    serve_all(server, archives)
    monkeypatch.setattr(download, "DEFAULT_BASE_URL", server.base_url)
    return server


@pytest.fixture
def tiny_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the 'full' stand-in tiny, so get_rps's generation takes a moment."""
    monkeypatch.setattr(stand_in, "SPLITS", dict(TINY))  # the counts it draws by default


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


def test_a_verified_real_set_wins(mirror: Server, isolated_data_root: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    real = isolated_data_root / "real"
    download.download_rps(real, base_url=mirror.base_url, progress=False)  # the real marker
    result = get_rps()  # auto: the verified set, at once: no request, no hashing
    assert result == (real / "rps", real / "rps-test-set", "real")
    assert "CC BY 2.0" in capsys.readouterr().out
    assert len(mirror.requests) == 2 and not (isolated_data_root / "synthetic").exists()

    (real / download.MARKER_NAME).unlink()  # not verified: auto tries the download again
    assert get_rps().source == "real" and len(mirror.requests) == 2  # archives on disk


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


# --- a read-only data folder --------------------------------------------------------------


def test_a_read_only_folder_with_a_complete_stand_in_works(
        offline: None, tiny_default: None, isolated_data_root: Path,
        read_only: Callable[[Path], None], capsys: pytest.CaptureFixture[str]) -> None:
    train, test, _ = get_rps()
    cached = load_tensors(train)  # the training split has a cache, the test split none
    read_only(isolated_data_root)  # a classroom's shared, read-only copy
    capsys.readouterr()

    assert get_rps() == (train, test, "synthetic")
    assert torch.equal(load_tensors(train).tensors[0], cached.tensors[0])
    assert capsys.readouterr().out.startswith("Using the generated stand-in")
    assert len(load_tensors(test)) == 3 * TINY["rps-test-set"]
    note = capsys.readouterr().out
    assert note.count("\n") == 1 and "read-only" in note and "RPSLIB_DATA" in note


def test_a_read_only_real_set_works(mirror: Server, isolated_data_root: Path,
                                    read_only: Callable[[Path], None]) -> None:
    download.download_rps(isolated_data_root / "real", base_url=mirror.base_url, progress=False)
    read_only(isolated_data_root)
    assert get_rps().source == "real"
    assert get_rps(source="real").source == "real"


def test_a_damaged_cache_in_a_read_only_folder_is_decoded_again(
        tiny_copy: Path, read_only: Callable[[Path], None]) -> None:
    first = load_tensors(tiny_copy)
    cache = next((tiny_copy.parent / ".tensor-cache").glob("*.pt"))
    cache.write_bytes(cache.read_bytes()[:100])
    read_only(tiny_copy.parent)
    assert torch.equal(load_tensors(tiny_copy).tensors[0], first.tensors[0])


@pytest.mark.parametrize("source", ["auto", "synthetic", "real"])
def test_a_read_only_folder_without_the_data_says_what_to_do(
        source: str, offline: None, isolated_data_root: Path,
        read_only: Callable[[Path], None]) -> None:
    read_only(isolated_data_root)  # empty
    with pytest.raises(PermissionError, match="RPSLIB_DATA") as caught:
        get_rps(source=source)
    assert "not writable" in str(caught.value) and str(isolated_data_root) in str(caught.value)


# --- a full disk ------------------------------------------------------------------------


def test_a_full_disk_while_drawing_names_the_folder_and_the_space(
        tmp_path: Path, small_disk: Callable[[Path, int], None]) -> None:
    root = tmp_path / "small"
    small_disk(root, 64)
    with pytest.raises(NotEnoughSpaceError) as caught:
        stand_in.generate_rps(root, workers=1, progress_bar=False, counts=TINY)
    assert str(root) in str(caught.value) and "MB" in str(caught.value)
    assert sorted(p.name for p in root.iterdir()) == [".lock"]


def disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_drawing_without_tmpfs(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stand_in, "_write_one", disk_full)
    with pytest.raises(NotEnoughSpaceError, match="not enough space") as caught:
        stand_in.generate_rps(tmp_path, workers=1, progress_bar=False, counts=TINY)
    assert str(tmp_path) in str(caught.value) and "MB" in str(caught.value)
    assert leftovers(tmp_path) == [] and not stand_in.is_generated(tmp_path, counts=TINY)


def test_auto_draws_the_stand_in_when_the_real_set_does_not_fit(
        mirror: Server, tiny_default: None, isolated_data_root: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(download, "_stream", disk_full)
    assert get_rps().source == "synthetic"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "not enough space" in out and "stand-in" in out
    assert leftovers(isolated_data_root) == []


def test_auto_says_what_is_needed_when_nothing_fits(
        mirror: Server, tiny_default: None, isolated_data_root: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "_stream", disk_full)
    monkeypatch.setattr(stand_in, "_write_one", disk_full)
    with pytest.raises(NotEnoughSpaceError, match="stand-in") as caught:
        get_rps()
    assert str(isolated_data_root / "synthetic") in str(caught.value)
    assert leftovers(isolated_data_root) == []


def test_a_full_disk_while_caching_keeps_working_with_one_note(
        tiny_copy: Path, small_disk: Callable[[Path, int], None],
        capsys: pytest.CaptureFixture[str]) -> None:
    cache = tiny_copy.parent / ".tensor-cache"
    small_disk(cache, 8)  # the tensors take 28 KB
    loaded = load_tensors(tiny_copy)
    assert torch.equal(loaded.tensors[0], load_tensors(tiny_copy, cache=False).tensors[0])
    note = capsys.readouterr().out
    assert note.count("\n") == 1 and "not enough space" in note and str(cache) in note
    assert [p.name for p in cache.iterdir() if p.name != ".lock"] == []


def test_a_full_disk_while_caching_without_tmpfs(tiny_copy: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def half_written(payload: object, path: Path) -> None:
        Path(path).write_bytes(b"half")
        disk_full()

    monkeypatch.setattr(torch, "save", half_written)
    assert len(load_tensors(tiny_copy)) == 3 * TINY["rps"]
    note = capsys.readouterr().out
    assert note.count("\n") == 1 and "not enough space" in note
    assert leftovers(tiny_copy.parent) == []


# --- leftovers of a killed run ----------------------------------------------------------


def test_leftovers_of_a_killed_run_are_removed_by_the_next(
        offline: None, tiny_default: None, isolated_data_root: Path) -> None:
    real, synthetic = isolated_data_root / "real", isolated_data_root / "synthetic"
    for folder in (real / ".extract-k1ll3d" / "rps", synthetic / ".generating-k1ll3d" / "rps"):
        folder.mkdir(parents=True)
    for file in (real / "archives" / "rps.zip.part-0badf00d",
                 synthetic / ".tensor-cache" / "rps-28-v1-0123.pt.tmp-99999"):
        file.parent.mkdir(parents=True)
        file.write_bytes(b"half")

    train, test, _ = get_rps()
    load_tensors(train)

    assert leftovers(isolated_data_root) == []


# --- the tensor cache never returns wrong pixels ----------------------------------------


def test_a_cache_corrupted_mid_file_is_decoded_again(tiny_copy: Path) -> None:
    first = load_tensors(tiny_copy)
    cache = next((tiny_copy.parent / ".tensor-cache").glob("*.pt"))
    body = bytearray(cache.read_bytes())
    for i in range(len(body) // 2, len(body) // 2 + 16):  # inside the images' bytes
        body[i] ^= 0xFF
    cache.write_bytes(bytes(body))
    assert torch.equal(load_tensors(tiny_copy).tensors[0], first.tensors[0])


class NotATensor:
    """Something the weights-only loader refuses to unpickle."""


def test_a_cache_the_weights_only_loader_rejects_is_decoded_again(tiny_copy: Path) -> None:
    first = load_tensors(tiny_copy)
    cache = next((tiny_copy.parent / ".tensor-cache").glob("*.pt"))
    torch.save({"images": NotATensor(), "labels": first.tensors[1],
                "classes": first.classes}, cache)
    assert torch.equal(load_tensors(tiny_copy).tensors[0], first.tensors[0])


# --- odd images -------------------------------------------------------------------------


def replace_image(folder: Path, image: Image.Image) -> Path:
    victim = sorted((folder / "rock").glob("*.png"))[1]
    image.save(victim)
    return victim


def test_a_non_square_image_is_named(tiny_copy: Path) -> None:
    victim = replace_image(tiny_copy, Image.new("RGB", (300, 200), "white"))
    with pytest.raises(OddImageError, match=f"{victim.name}.*300x200.*square"):
        load_tensors(tiny_copy)


@pytest.mark.parametrize("limit", [60_000, 30_000], ids=["warning", "error"])
def test_a_very_large_image_is_named(limit: int, tiny_copy: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # PIL warns above MAX_IMAGE_PIXELS and refuses above twice that: a 300x300 image plays
    # the 100-megapixel one
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    first = sorted(ImageFolder(tiny_copy).samples)[0][0]
    with pytest.raises(OddImageError, match=f"{Path(first).name}.*MAX_IMAGE_PIXELS"):
        load_tensors(tiny_copy, cache=False)


def test_a_16_bit_png_is_scaled_not_clipped(tiny_copy: Path) -> None:
    mid_grey = np.full((300, 300), 128 * 257, dtype=np.uint16)  # 50 % grey in 16 bits
    victim = replace_image(tiny_copy, Image.fromarray(mid_grey))
    assert Image.open(victim).mode in ("I;16", "I")  # Pillow 10.0 reads it as 32-bit "I"
    loaded = load_tensors(tiny_copy, cache=False)
    index = [p for p, _ in ImageFolder(tiny_copy).samples].index(str(victim))
    assert torch.equal(loaded[index][0], torch.full((3, 28, 28), 128 / 255))


def test_the_test_split_keeps_the_training_labels(tiny_rps: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    train = load_tensors(tiny_rps[0], cache=False)
    test = Path(shutil.copytree(tiny_rps[1], tmp_path / "rps-test-set"))
    shutil.rmtree(test / "paper")  # a test split without paper: rock must stay label 1
    loaded = load_tensors(test, classes=train.classes)
    assert loaded.classes == train.classes == ["paper", "rock", "scissors"]
    assert sorted(set(loaded.tensors[1].tolist())) == [1, 2]

    shutil.copytree(test / "rock", test / "lizard")  # a class the model never saw
    with pytest.raises(ValueError, match=f"lizard.*{test}"):
        load_tensors(test, classes=train.classes)


def test_get_rps_refuses_splits_with_different_class_folders(
        offline: None, tiny_default: None) -> None:
    train, test, _ = get_rps()
    shutil.rmtree(test / "paper")
    with pytest.raises(ValueError, match=f"paper.*{test}"):
        get_rps()


# --- the network ------------------------------------------------------------------------


def test_get_rps_passes_base_url_and_timeout(mirror: Server, isolated_data_root: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "DEFAULT_BASE_URL", "http://127.0.0.1:9/")  # not the mirror
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/data/"
        with pytest.raises(DownloadError, match="within 0.2 s"):
            get_rps(source="real", base_url=url, timeout=0.2)
    result = get_rps(source="real", base_url=mirror.base_url)
    assert result == (isolated_data_root / "real" / "rps",
                      isolated_data_root / "real" / "rps-test-set", "real")


def test_auto_falls_back_after_an_ssl_error_mid_download(
        offline: None, tiny_default: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", ssl_failing_urlopen)
    assert get_rps().source == "synthetic"
    assert "could not download" in capsys.readouterr().out


def test_the_readme_mirror_example_fills_the_folder_get_rps_uses(
        mirror: Server, isolated_data_root: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                   if "base_url=" in block)
    scope: dict[str, object] = {}
    exec(re.sub(r'base_url="[^"]*"', f'base_url="{mirror.base_url}"', example), scope)
    assert get_rps() == (isolated_data_root / "real" / "rps",
                         isolated_data_root / "real" / "rps-test-set", "real")
    assert len(mirror.requests) == 2  # the example downloaded; get_rps found it
