"""Where and how a run executes: device choice, seeding, and the provenance every result records."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import platform
import random
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import torch


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given, else CUDA when present, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


Precision = Literal["auto", "fp32", "bf16"]
"""How the encoder pass computes: ``fp32``; ``bf16`` mixed precision (matrix products in bfloat16, weights,
gradients, pooling and losses in float32); ``auto``: bf16 on a CUDA device that supports it, else fp32."""
ResolvedPrecision = Literal["fp32", "bf16"]
"""What ran: a :data:`Precision` with ``auto`` decided for a device (what result lines record)."""


def resolve_precision(device: torch.device, precision: Precision = "auto") -> ResolvedPrecision:
    """``precision`` with ``auto`` decided for ``device`` (CPUs stay in fp32: most have no fast bf16 units)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    return precision


def autocast(device: torch.device, precision: Precision = "auto") -> AbstractContextManager:
    """The mixed-precision context of an encoder pass on ``device`` (nothing for fp32). bfloat16 keeps
    float32's range, so no loss scaling is needed."""
    if resolve_precision(device, precision) == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@functools.lru_cache(maxsize=None)
def _libc(name: str):
    """glibc's function ``name``, or ``None`` where the C library has none (macOS, musl, Windows)."""
    lib = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(lib), name, None) if lib else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Hand the heap memory freed so far back to the operating system.

    PyTorch on CPU allocates and frees buffers of many sizes (each batch has other lengths); glibc keeps
    freed blocks for reuse, so a long prediction run's resident size creeps upwards although nothing is
    kept (measured over 300 BioRED test documents in chunks of 50: 744 MiB resident after the first
    chunk, 818 after the sixth; with this called after every chunk, 522 then 524). Called
    between chunks of streaming prediction; a no-op where the C library cannot trim.
    """
    gc.collect()
    trim = _libc("malloc_trim")
    if trim is not None:
        trim(0)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
LARGE_BUFFER = 1 << 20
"""Bytes from which :func:`map_large_buffers` has a buffer mapped from the OS instead of the heap."""


def map_large_buffers(threshold: int = LARGE_BUFFER) -> bool:
    """Have glibc take buffers of ``threshold`` bytes or more straight from the OS and give them back
    when freed (process-wide; False where the C library has no ``mallopt``).

    By default glibc raises this threshold each time such a buffer is freed (up to 32 MiB), after which
    PyTorch's activations come from the heap, whose free space fragments: each chunk of a streaming run
    then peaks higher than the one before, although the resident size between chunks stays level
    (``benchmarks/speed.py --parts stream --stream-default-heap`` measures that case; the README's speed
    section has the figures). A fixed threshold keeps the peaks level. ``ccre predict`` sets it for its own
    process; a library call changes it only when asked (``predict_file(..., map_buffers=True)``).
    """
    mallopt = _libc("mallopt")
    return bool(mallopt is not None and mallopt(_M_MMAP_THRESHOLD, threshold))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (a training run's own start)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Within the block the global generators start from ``seed`` (:func:`seed_everything`); afterwards they are
    back where they were, so a library call that needs repeatable draws leaves the caller's streams alone."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    seed_everything(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def git_commit(cwd: str | Path | None = None, *, exclude: Iterable[str | Path] = ()) -> str:
    """The checked-out commit, ``+dirty`` when tracked files have uncommitted changes, or ``unknown``.

    ``exclude`` names files or folders whose changes do not count: whoever appends result lines to a file in
    the tree passes that file's folder, so that its own earlier lines do not make its later ones dirty
    (relative paths are taken from the working directory; a path outside the repository is ignored).

    A copy of the tree sent to another machine (a GPU machine's working copy, whose ``.git`` may be older than
    the files beside it) is named by its sender in ``CCRE_GIT_COMMIT``: that commit wins over git's answer
    and is recorded with a ``+copy`` suffix, so the line says git did not check it there."""
    copied_from = os.environ.get("CCRE_GIT_COMMIT", "").strip()
    if copied_from:
        return f"{copied_from}+copy"
    cwd = cwd or Path(__file__).resolve().parent
    try:
        top, sha = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *_excluded(Path(top), exclude)],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, ValueError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def _excluded(top: Path, paths: Iterable[str | Path]) -> list[str]:
    """git pathspecs leaving out ``paths`` (those inside the repository whose top folder is ``top``)."""
    specs = []
    for path in paths:
        try:
            inside = Path(path).resolve().relative_to(top.resolve())
        except ValueError:
            continue
        if inside.parts:  # leaving out the whole tree would make every tree clean
            specs.append(f":(top,exclude){inside.as_posix()}")
    return specs


#: how :func:`machine_description` ends for a machine without a GPU (result lines are read back by it)
NO_GPU = "no GPU"


def machine_description() -> str:
    """CPU model, core count and GPU (if any), e.g. ``x86_64 AMD EPYC 7B13, 2 cores, no GPU``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else NO_GPU
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, {gpu}"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
