"""Reading model weight files safely, with one-line errors for damaged and unsafe files."""
from __future__ import annotations

import os
import pickle
import warnings

import torch

from ..errors import BadInputError


def load_weights(path: str, what: str, fix: str, mmap: bool = False) -> object:
    """``torch.load`` of ``path`` onto the CPU with ``weights_only=True`` (or a ``.safetensors`` file).

    ``what`` names the file's role in messages (e.g. "Whisper checkpoint"); ``fix`` is the
    sentence telling the user what to do instead (e.g. "Download it again from URL."). ``mmap``
    maps tensors from the file where its format allows.

    Raises:
        BadInputError: a pickle that holds Python objects besides tensors (loading it could run
            code), or a file that is damaged, incomplete or no weights file at all.
    """
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols of files it then refuses
            warnings.simplefilter("ignore", UserWarning)
            return _load(path, mmap)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err):  # the weights-only unpickler met a class or function to call
            raise BadInputError(
                f"Refused to load {what} '{path}': it is not a plain weights file (it contains Python objects "
                f"besides tensors, so loading it could run code). {fix}"
            ) from None
        raise _damaged(path, what, fix) from err
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - zip, pickle, safetensors and EOF errors all mean "unreadable"
        raise _damaged(path, what, fix) from err


def _load(path: str, mmap: bool) -> object:
    if path.lower().endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError as err:
        if not mmap or "mmap" not in str(err):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def _damaged(path: str, what: str, fix: str) -> BadInputError:
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    return BadInputError(
        f"Cannot read {what} '{path}': it is damaged or incomplete, or not a weights file ({size:,} bytes). {fix}"
    )
