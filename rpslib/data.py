"""Getting and loading the Rock-Paper-Scissors images.

* :func:`get_rps` is the one entry point of every chapter: it finds, downloads or generates
  the images and says which set it uses.
* :class:`ImageFolder` is torchvision's ``ImageFolder`` made safe for notebooks: it ignores
  hidden files and folders (``.ipynb_checkpoints``) and names the file when an image is
  corrupt.
* :func:`load_tensors` decodes a split once, resized, and caches the tensors on disk, so that
  training does not spend 94 % of every epoch decoding PNGs.

Introduced in chapter 1.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch.utils.data import TensorDataset
from torchvision import datasets, transforms

from rpslib.download import DownloadError, download_rps, is_complete
from rpslib.handgen import generate_rps, is_generated
from rpslib.progress import progress

__all__ = [
    "CorruptImageError",
    "ImageFolder",
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
CACHE_VERSION = 1


class RPSData(NamedTuple):
    """Where the images are: ``train`` and ``test`` folders, and ``source``: real or synthetic.

    Introduced in chapter 1.
    """

    train: Path
    test: Path
    source: str


def default_root() -> Path:
    """The data folder every chapter shares: ``$RPSLIB_DATA``, else ``~/.cache/rpslib``.

    Notebooks execute in their own folder, so a relative path would put the data inside the
    book's sources; one absolute place also lets every chapter reuse the same download.

    Introduced in chapter 1.
    """
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rpslib"


def get_rps(root: Path | str | None = None, source: str = "auto",
            timeout: float = 10.0) -> RPSData:
    """Find, download or generate the dataset, and say in one line which one is used.

    Args:
        root: data folder (default :func:`default_root`); the real set lives in ``root/real``,
            the generated stand-in in ``root/synthetic``.
        source: ``"auto"`` uses the real set if it is there and verified, else the stand-in if
            it is there, else tries the download once, else generates the stand-in.
            ``"real"`` downloads if needed and never falls back; ``"synthetic"`` always uses
            the stand-in.
        timeout: the connect/read timeout of the download in ``"auto"`` mode, in seconds.

    Returns:
        ``RPSData(train, test, source)``.

    Introduced in chapter 1.
    """
    if source not in ("auto", "real", "synthetic"):
        raise ValueError(f"source must be 'auto', 'real' or 'synthetic', got {source!r}")
    base = Path(root).expanduser() if root is not None else default_root()
    real, synthetic = base / "real", base / "synthetic"
    how_to_real = "get_rps(source='real') downloads the real set where there is internet"

    if source == "real" or (source == "auto" and is_complete(real)):
        train, test = download_rps(real)  # returns at once when the set is complete
        print(f"Using the real Rock-Paper-Scissors images ({ATTRIBUTION}) in {real}")
        return RPSData(train, test, "real")
    why = ""
    if source == "auto" and not is_generated(synthetic):
        try:
            train, test = download_rps(real, timeout=timeout)
        except DownloadError as err:
            why = f" (could not download the real images: {_first_line(err)})"
        else:
            print(f"Using the real Rock-Paper-Scissors images ({ATTRIBUTION}) in {real}")
            return RPSData(train, test, "real")
    train, test = generate_rps(synthetic)
    print(f"Using the generated stand-in (drawn hands, not the real photos) in {synthetic}"
          f"{why}; {how_to_real}.")
    return RPSData(train, test, "synthetic")


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


# --- loading --------------------------------------------------------------------------------


class CorruptImageError(OSError):
    """An image file that cannot be decoded (truncated, corrupt, not an image).

    Introduced in chapter 1.
    """


def _is_hidden(path: Path, root: Path) -> bool:
    """Whether any part of ``path`` below ``root`` starts with a dot (``.ipynb_checkpoints``)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _load_rgb(path: str) -> Image.Image:
    """Open an image as RGB (the alpha channel is dropped), naming the file if it is corrupt."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:
        raise CorruptImageError(
            f"cannot read the image {path}: {err}. The file is corrupt or truncated: "
            "delete it, or replace it with an intact copy (for the generated stand-in, delete "
            "the whole data folder and run get_rps() again)."
        ) from err


class ImageFolder(datasets.ImageFolder):
    """torchvision's ``ImageFolder``, minus hidden files and folders, with clear errors.

    Jupyter and Colab leave ``.ipynb_checkpoints`` folders around; torchvision counts one at
    the top level as a class, and picks up images saved inside class folders.  This version
    skips any file or folder whose name starts with a dot, at any depth, and raises
    :class:`CorruptImageError` naming the file when an image cannot be decoded.
    Same arguments as torchvision's (``root``, ``transform``, ``target_transform``).

    Introduced in chapter 1.
    """

    def __init__(self, root: str | Path, transform: Callable[..., Any] | None = None,
                 target_transform: Callable[..., Any] | None = None) -> None:
        self._root_path = Path(root).expanduser()
        super().__init__(str(self._root_path), transform=transform,
                         target_transform=target_transform, loader=_load_rgb,
                         is_valid_file=self._is_valid)

    def _is_valid(self, path: str) -> bool:
        p = Path(path)
        return (not _is_hidden(p, self._root_path)
                and p.suffix.lower() in datasets.folder.IMG_EXTENSIONS)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        """Class folders, sorted, without hidden ones: ``(classes, class_to_idx)``.

        Introduced in chapter 1.
        """
        classes = sorted(e.name for e in os.scandir(directory)
                         if e.is_dir() and not e.name.startswith("."))
        if not classes:
            raise FileNotFoundError(f"no class folders found in {directory}")
        return classes, {name: i for i, name in enumerate(classes)}


class TensorImageDataset(TensorDataset):
    """A ``TensorDataset`` of ``(images, labels)`` that also knows its class names.

    ``images`` (N, C, H, W) and ``labels`` (N,) as given; ``classes`` names label ``i``.
    ``load_tensors`` returns one.

    Introduced in chapter 1 (with ``load_tensors``).
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
                 progress_bar: bool | None = None) -> TensorImageDataset:
    """All images of a split, resized, as one tensor dataset, cached on disk.

    Equal (``torch.equal``) to torchvision's ``ImageFolder`` with
    ``Compose([Resize(size), ToTensor()])``, image by image, in the same order.

    Args:
        folder: a split folder with one subfolder per class (``.../rps``).
        size: the ``Resize`` argument (the shorter side; the images are square).
        cache: keep the decoded images in ``<folder>/../.tensor-cache/``, keyed by the
            folder's files (names, sizes, modification times), so that the next call, in the
            next chapter too, takes about a second and notices any change.
        progress_bar: ``False`` hides the bar of the first (decoding) load.

    Returns:
        ``TensorImageDataset`` of ``images`` (N, 3, size, size) float32 in [0, 1] and
        ``labels`` (N,) int64, with ``.classes``.

    Introduced in chapter 1.
    """
    folder = Path(folder).expanduser()
    dataset = ImageFolder(folder, transform=transforms.Resize(size))
    key = f"{folder.name}-{size}-v{CACHE_VERSION}-{_folder_fingerprint(dataset)}"
    cache_file = folder.parent / ".tensor-cache" / f"{key}.pt"
    if cache and cache_file.exists():
        saved = _read_cache(cache_file)
        if saved is not None and saved["classes"] == dataset.classes:
            return _as_dataset(saved["images"], saved["labels"], dataset.classes)
    images = torch.empty((len(dataset), 3, size, size), dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.int64)
    bar = progress(range(len(dataset)), desc=f"decoding {folder.name}", unit="img",
                   disable=None if progress_bar is None else not progress_bar)
    for i in bar:
        img, labels[i] = dataset[i]
        images[i] = _pil_to_uint8(img)
    if cache:
        _save_cache(cache_file, {"images": images, "labels": labels,
                                 "classes": dataset.classes}, prefix=f"{folder.name}-{size}-")
    return _as_dataset(images, labels, dataset.classes)


def _pil_to_uint8(img: Image.Image) -> torch.Tensor:
    """(H, W, 3) PIL image -> (3, H, W) uint8, exactly the bytes ``ToTensor`` scales."""
    return transforms.functional.pil_to_tensor(img)


def _as_dataset(images: torch.Tensor, labels: torch.Tensor,
                classes: list[str]) -> TensorImageDataset:
    # ToTensor's own conversion: to float, then divide by 255
    return TensorImageDataset(images.to(torch.float32).div(255), labels, list(classes))


def _read_cache(cache_file: Path) -> dict[str, Any] | None:
    """The cached tensors, or ``None`` (and the file removed) if it cannot be read."""
    try:
        saved: dict[str, Any] = torch.load(cache_file, weights_only=True)
        return saved
    except (OSError, RuntimeError, EOFError, ValueError, KeyError):
        cache_file.unlink(missing_ok=True)  # truncated or from another version: decode again
        return None


def _save_cache(cache_file: Path, payload: dict[str, Any], prefix: str) -> None:
    """Write atomically; remove older caches of the same split and size."""
    tmp = cache_file.with_suffix(f".tmp-{os.getpid()}")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, cache_file)
        for old in cache_file.parent.glob(f"{prefix}*.pt"):
            if old != cache_file:
                old.unlink(missing_ok=True)
    except (OSError, RuntimeError) as err:  # read-only or full disk: work without the cache
        print(f"note: could not cache the tensors in {cache_file.parent} ({err})")
    finally:
        tmp.unlink(missing_ok=True)


def prepare(size: int = 28) -> RPSData:
    """Get the images and fill the tensor cache of both splits, so no chapter pays for it.

    ``python -m rpslib.data`` runs it (``make test`` does, before running the chapters).
    Introduced in chapter 1.
    """
    found = get_rps()
    for folder in (found.train, found.test):
        load_tensors(folder, size=size)
    return found


if __name__ == "__main__":
    prepare()
