"""Getting and loading the Rock-Paper-Scissors images.

* :func:`get_rps` is the one entry point of every chapter: it finds, downloads or generates
  the images and says which set it uses.
* :class:`ImageFolder` is torchvision's ``ImageFolder`` made safe for notebooks: it ignores
  hidden files and folders (``.ipynb_checkpoints``) and names the file when an image is
  corrupt.
* :func:`load_tensors` decodes a split once, resized, and caches the tensors on disk, so that
  training does not spend 94 % of every epoch decoding PNGs.

Reading never writes: a complete set in a read-only folder (a classroom's shared copy) works,
without a tensor cache if there is none yet.

Introduced in chapter 1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import TensorDataset
from torchvision import datasets, transforms

from rpslib.data.download import DownloadError, download_rps, is_complete
from rpslib.data.folders import (
    FolderNotWritableError,
    NotEnoughSpaceError,
    is_disk_full,
    locked,
    remove_leftovers,
)
from rpslib.data.stand_in import generate_rps, is_generated
from rpslib.progress import progress

__all__ = [
    "CorruptImageError",
    "ImageFolder",
    "NotEnoughSpaceError",
    "OddImageError",
    "RPSData",
    "TensorImageDataset",
    "default_root",
    "download_rps",
    "generate_rps",
    "get_rps",
    "load_tensors",
]

DATA_ENV = "RPSLIB_DATA"
ATTRIBUTION = "Laurence Moroney's CGI hands, CC BY 2.0"
CACHE_VERSION = 2  # 2: the payload carries a sha256 of its tensors


class RPSData(NamedTuple):
    """Where the images are: ``train`` and ``test`` folders, and ``source``: real or synthetic."""

    train: Path
    test: Path
    source: str


def default_root() -> Path:
    """The data folder every chapter shares: ``$RPSLIB_DATA``, else ``~/.cache/rpslib``.

    Notebooks execute in their own folder, so a relative path would put the data inside the
    book's sources; one absolute place also lets every chapter reuse the same download.
    """
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rpslib"


def get_rps(root: Path | str | None = None, source: str = "auto",
            base_url: str | None = None, timeout: float = 10.0) -> RPSData:
    """Find, download or generate the dataset, and say in one line which one is used.

    Args:
        root: data folder (default :func:`default_root`); the real set lives in ``root/real``,
            the generated stand-in in ``root/synthetic``.
        source: ``"auto"`` uses the real set if it is there and verified, else the stand-in if
            it is there, else tries the download once, else (no network, or no room for the
            real set's 460 MB) generates the stand-in (about 60 MB).
            ``"real"`` downloads if needed and never falls back; ``"synthetic"`` always uses
            the stand-in.
        base_url: where to download the real set's archives from (a classroom mirror);
            ``None``: the official address.
        timeout: the download's connect/read timeout, in seconds.

    Returns:
        ``RPSData(train, test, source)``.

    Raises:
        DownloadError: ``source="real"`` and the download failed (the message says why).
        NotEnoughSpaceError: the disk is full; the message names the folder and the space
            needed (in ``"auto"``: not even the stand-in fits).
        FolderNotWritableError: ``root`` is read-only and lacks a complete set.
        ValueError: the training and test splits have different class folders.

    Introduced in chapter 1.
    """
    if source not in ("auto", "real", "synthetic"):
        raise ValueError(f"source must be 'auto', 'real' or 'synthetic', got {source!r}")
    base = Path(root).expanduser() if root is not None else default_root()
    real, synthetic = base / "real", base / "synthetic"
    how_to_real = "get_rps(source='real') downloads the real set where there is internet"

    if source == "real" or (source == "auto" and is_complete(real)):
        # returns at once, writing nothing, when the set is complete
        train, test = download_rps(real, base_url=base_url, timeout=timeout)
        return _using(train, test, "real",
                      f"the real Rock-Paper-Scissors images ({ATTRIBUTION}) in {_shown(real)}")
    why = ""
    if source == "auto" and not is_generated(synthetic):
        try:
            train, test = download_rps(real, base_url=base_url, timeout=timeout)
        except (DownloadError, NotEnoughSpaceError) as err:
            why = f" (could not download the real images: {_first_line(err)})"
        else:
            return _using(train, test, "real",
                          f"the real Rock-Paper-Scissors images ({ATTRIBUTION}) in {_shown(real)}")
    train, test = generate_rps(synthetic)
    return _using(train, test, "synthetic",
                  f"the generated stand-in (drawn hands, not the real photos) in "
                  f"{_shown(synthetic)}{why}; {how_to_real}")


def _using(train: Path, test: Path, source: str, what: str) -> RPSData:
    """Check that both splits have the same classes, say which set is used, return it."""
    train_classes, test_classes = _class_folders(train), _class_folders(test)
    if train_classes != test_classes:
        raise ValueError(
            f"the training split {train} has the class folders {train_classes}, but the test "
            f"split {test} has {test_classes}: their labels would not match. Put the missing "
            f"folders back, or delete {train.parent} and run get_rps() again to start afresh.")
    print(f"Using {what}.")
    return RPSData(train, test, source)


def _shown(path: Path) -> str:
    """``path`` as a reader would type it: ``~/...`` below the home folder (a web page built
    from a chapter then shows no user name of the machine that ran it)."""
    try:
        return f"~/{path.resolve().relative_to(Path.home().resolve()).as_posix()}"
    except ValueError:  # not below the home folder
        return str(path)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


# --- loading --------------------------------------------------------------------------------


class CorruptImageError(OSError):
    """An image file that cannot be decoded (truncated, corrupt, not an image)."""


def _is_hidden(path: Path, root: Path) -> bool:
    """Whether any part of ``path`` below ``root`` starts with a dot (``.ipynb_checkpoints``)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _load_rgb(path: str) -> Image.Image:
    """Open an image as RGB (the alpha channel is dropped), naming the file if it is corrupt."""
    try:
        with warnings.catch_warnings():  # PIL only warns up to twice its limit: refuse both
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return _to_rgb(img)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise OddImageError(
            f"the image {path} is too large to open safely ({err}). Shrink it (the dataset's "
            "images are 300x300); if you trust it, raise PIL.Image.MAX_IMAGE_PIXELS.") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise CorruptImageError(
            f"cannot read the image {path}: {err}. The file is corrupt or truncated: "
            "delete it, or replace it with an intact copy (for the generated stand-in, delete "
            "the whole data folder and run get_rps() again)."
        ) from err


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB; 16-bit greyscale is scaled to 8 bits (PIL's own conversion would clip it)."""
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I": 16-bit greyscale PNGs
        grey = np.rint(np.asarray(img, dtype=np.float64) / 257)  # 65535 -> 255
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def _class_folders(directory: str | Path) -> list[str]:
    """The class folders of a split, sorted, without hidden ones."""
    return sorted(e.name for e in os.scandir(directory)
                  if e.is_dir() and not e.name.startswith("."))


class OddImageError(ValueError):
    """An intact image that cannot be used as it is (not square, or too large)."""


class ImageFolder(datasets.ImageFolder):
    """torchvision's ``ImageFolder``, minus hidden files and folders, with clear errors.

    Jupyter and Colab leave ``.ipynb_checkpoints`` folders around; torchvision counts one at
    the top level as a class, and picks up images saved inside class folders.  This version
    skips any file or folder whose name starts with a dot, at any depth, and raises
    :class:`CorruptImageError` naming the file when an image cannot be decoded
    (:class:`OddImageError` when it is too large).  16-bit greyscale images are scaled to 8 bits.
    Same arguments as torchvision's (``root``, ``transform``, ``target_transform``), and
    ``classes``: the class names whose labels to use (see :func:`load_tensors`).

    Introduced in chapter 1.
    """

    def __init__(self, root: str | Path, transform: Callable[..., Any] | None = None,
                 target_transform: Callable[..., Any] | None = None,
                 classes: Sequence[str] | None = None) -> None:
        self._root_path = Path(root).expanduser()
        self._wanted = None if classes is None else list(classes)
        super().__init__(str(self._root_path), transform=transform,
                         target_transform=target_transform, loader=_load_rgb,
                         is_valid_file=self._is_valid)

    def _is_valid(self, path: str) -> bool:
        p = Path(path)
        return (not _is_hidden(p, self._root_path)
                and p.suffix.lower() in datasets.folder.IMG_EXTENSIONS)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        """Class folders, sorted, without hidden ones: ``(classes, class_to_idx)``.

        With ``classes=``, those classes and their labels; ``class_to_idx`` holds the ones
        that have a folder here.
        """
        found = _class_folders(directory)
        if self._wanted is None:
            if not found:
                raise FileNotFoundError(f"no class folders found in {directory}")
            return found, {name: i for i, name in enumerate(found)}
        extra = [name for name in found if name not in self._wanted]
        if extra:
            raise ValueError(
                f"the class folders {extra} in {directory} are not among the classes "
                f"{self._wanted}: their images would get a wrong label. Remove or rename "
                "them, so that both splits have the same class folders.")
        return self._wanted, {name: i for i, name in enumerate(self._wanted) if name in found}


class TensorImageDataset(TensorDataset):
    """A ``TensorDataset`` of ``(images, labels)`` that also knows its class names.

    ``images`` (N, C, H, W) and ``labels`` (N,) as given; ``classes`` names label ``i``.
    ``load_tensors`` returns one.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> None:
        super().__init__(images, labels)
        self.classes = classes


def _folder_fingerprint(dataset: ImageFolder) -> str:
    """A hash of the files' names, sizes and modification times: it changes with the folder."""
    digest = hashlib.sha256()
    for path, label in dataset.samples:
        st = os.stat(path)
        rel = Path(path).relative_to(dataset.root)
        digest.update(f"{rel}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_tensors(folder: Path | str, size: int = 28, cache: bool = True,
                 progress_bar: bool | None = None,
                 classes: Sequence[str] | None = None) -> TensorImageDataset:
    """All images of a split, resized, as one tensor dataset, cached on disk.

    Equal (``torch.equal``) to torchvision's ``ImageFolder`` with
    ``Compose([Resize(size), ToTensor()])``, image by image, in the same order.

    Args:
        folder: a split folder with one subfolder per class (``.../rps``).
        size: the ``Resize`` argument (the shorter side; the images must be square).
        cache: keep the decoded images in ``<folder>/../.tensor-cache/``, keyed by the
            folder's files (names, sizes, modification times), so that the next call, in the
            next chapter too, takes about a second and notices any change. A cache that is
            damaged is decoded again; where it cannot be written (a read-only folder, a full
            disk) the images are decoded without one, with a one-line note.
        progress_bar: ``False`` hides the bar of the first (decoding) load.
        classes: the class names whose labels to use, for a test split:
            ``load_tensors(test_dir, classes=train.classes)``. The labels then match the
            training split's even if this split lacks a class; a class folder not in
            ``classes`` is an error. ``None``: this split's own class folders.

    Returns:
        ``TensorImageDataset`` of ``images`` (N, 3, size, size) float32 in [0, 1] and
        ``labels`` (N,) int64, with ``.classes``.

    Raises:
        CorruptImageError: an image cannot be decoded (the message names it).
        OddImageError: an image is not square, or too large (the message names it).
        ValueError: a class folder is not in ``classes``.

    Introduced in chapter 1.
    """
    folder = Path(folder).expanduser()
    dataset = ImageFolder(folder, transform=transforms.Resize(size), classes=classes)
    key = f"{folder.name}-{size}-v{CACHE_VERSION}-{_folder_fingerprint(dataset)}"
    cache_file = folder.parent / ".tensor-cache" / f"{key}.pt"
    if cache and cache_file.exists():
        saved = _read_cache(cache_file, dataset.classes)
        if saved is not None:
            return _as_dataset(*saved, dataset.classes)
    images = torch.empty((len(dataset), 3, size, size), dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.int64)
    bar = progress(range(len(dataset)), desc=f"decoding {folder.name}", unit="img",
                   disable=None if progress_bar is None else not progress_bar)
    for i in bar:
        img, labels[i] = dataset[i]
        if img.size != (size, size):
            raise _not_square(dataset.samples[i][0], size)
        images[i] = _pil_to_uint8(img)
    if cache:
        payload = {"images": images, "labels": labels, "classes": dataset.classes,
                   "sha256": _digest(images, labels, dataset.classes)}
        _save_cache(cache_file, payload, prefix=f"{folder.name}-{size}-")
    return _as_dataset(images, labels, dataset.classes)


def _not_square(path: str, size: int) -> OddImageError:
    with Image.open(path) as img:
        width, height = img.size
    return OddImageError(
        f"the image {path} is {width}x{height} pixels, not square: load_tensors resizes the "
        f"shorter side to {size} and needs square images (the dataset's are 300x300). Crop "
        "it to a square, or remove it.")


def _pil_to_uint8(img: Image.Image) -> torch.Tensor:
    """(H, W, 3) PIL image -> (3, H, W) uint8, exactly the bytes ``ToTensor`` scales."""
    return transforms.functional.pil_to_tensor(img)


def _as_dataset(images: torch.Tensor, labels: torch.Tensor,
                classes: list[str]) -> TensorImageDataset:
    # ToTensor's own conversion: to float, then divide by 255
    return TensorImageDataset(images.to(torch.float32).div(255), labels, list(classes))


# --- the tensor cache -------------------------------------------------------------------


def _digest(images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> str:
    """A sha256 of the tensors' bytes, shapes and class names: a damaged cache fails it."""
    digest = hashlib.sha256(repr((images.shape, images.dtype, labels.shape, labels.dtype,
                                  classes)).encode())
    digest.update(images.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _read_cache(cache_file: Path,
                classes: list[str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The cached ``(images, labels)`` if intact and for ``classes``; else ``None``."""
    try:
        saved = torch.load(cache_file, weights_only=True)
        images, labels = saved["images"], saved["labels"]
        if saved["classes"] == classes and saved["sha256"] == _digest(images, labels, classes):
            return images, labels
    except Exception:  # truncated, rejected by the weights-only loader, not a dict, ...
        pass
    try:
        cache_file.unlink(missing_ok=True)  # damaged or stale: decode again
    except OSError:
        pass  # a read-only folder: leave it
    return None


def _save_cache(cache_file: Path, payload: dict[str, Any], prefix: str) -> None:
    """Write atomically; remove older caches of the same split and size, and leftovers."""
    folder = cache_file.parent
    tmp = folder / f"{cache_file.name}.tmp-{os.getpid()}"
    try:
        with locked(folder, "writing the tensor cache"):
            remove_leftovers(folder, "*.tmp-*")  # of a killed run: every writer holds the lock
            torch.save(payload, tmp)
            os.replace(tmp, cache_file)
            for old in folder.glob(f"{prefix}*.pt"):
                if old != cache_file:
                    old.unlink(missing_ok=True)
    except (OSError, RuntimeError) as err:  # work without the cache
        print(f"note: the tensors are not cached: {_cache_problem(folder, err, payload)}; "
              "the next load decodes the images again.")
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _cache_problem(folder: Path, err: BaseException, payload: dict[str, Any]) -> str:
    """What stopped the cache, in a few words (torch reports a full disk without an errno)."""
    if isinstance(err, FolderNotWritableError):
        return (f"{folder.parent} is read-only (point RPSLIB_DATA at a writable folder to "
                "keep a cache)")
    needed = payload["images"].numel() + 8 * payload["labels"].numel()
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = needed
    if is_disk_full(err) or free < needed:
        return (f"not enough space in {folder} (it needs {needed / 1e6:,.1f} MB, "
                f"{free / 1e6:,.1f} MB free)")
    return f"could not write {folder} ({_first_line(err)})"


def prepare(size: int = 28) -> RPSData:
    """Get the images and fill the tensor cache of both splits, so no chapter pays for it.

    ``python -m rpslib.data`` runs it (``make test`` does, before running the chapters).
    """
    found = get_rps()
    for folder in (found.train, found.test):
        load_tensors(folder, size=size)
    return found
