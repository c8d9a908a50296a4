"""Figures: 2-D maps of pair embeddings coloured by relation, and training loss curves.

Figures are drawn on a matplotlib ``Figure`` with an explicit Agg canvas (no pyplot, no global backend
switch, so importing ccre never touches the user's matplotlib state and no display is needed), and
written as PNG under a temporary name then renamed into place.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ccre.analysis.probe import load_for_embedding
from ccre.data.documents import Document
from ccre.data.labels import NO_RELATION, LabelSpace
from ccre.errors import CcreError
from ccre.modeling.embedding import relation_embeddings
from ccre.utils.io import atomic_open


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> None:
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120, bbox_inches="tight")


def project_2d(embeddings: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates ``(N, 2)`` by t-SNE (scikit-learn) or UMAP (only if ``umap-learn`` is installed);
    deterministic for a given ``seed``."""
    x = np.asarray(embeddings, dtype=np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        # perplexity must stay below the number of points; 30 is the usual value for larger sets
        perplexity = min(30.0, max(1.0, (len(x) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise CcreError("method='umap' needs the umap-learn package (pip install umap-learn); "
                            "or use method='tsne'") from None
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    raise CcreError(f"unknown projection method {method!r} (use 'tsne' or 'umap')")


def plot_embeddings(
    embeddings: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    method: str = "tsne",
    title: str | None = None,
    max_points: int = 3000,
    seed: int = 0,
) -> np.ndarray:
    """Scatter plot of embeddings ``(N, D)`` projected to 2-D, one colour per relation label, written to
    ``path`` (PNG). No-relation pairs (usually the large majority) are drawn small and light grey under
    the relations so they do not hide them. At most ``max_points`` points, drawn at random with ``seed``
    (t-SNE is quadratic-ish in time). Returns the 2-D coordinates of the plotted points, in the order of
    the kept rows (ascending original index)."""
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(labels):
        raise ValueError(f"{len(embeddings)} embeddings but {len(labels)} labels")
    if len(embeddings) < 2:
        raise ValueError("plot_embeddings needs at least two points")
    keep = np.arange(len(embeddings))
    if len(keep) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), max_points, replace=False))
    coords = project_2d(embeddings[keep], method, seed)
    kept_labels = np.array([labels[i] for i in keep], dtype=object)
    fig = _figure(8, 7)
    ax = fig.add_subplot()
    relations = sorted(set(kept_labels) - {NO_RELATION})
    if NO_RELATION in set(kept_labels):
        mask = kept_labels == NO_RELATION
        ax.scatter(coords[mask, 0], coords[mask, 1], s=4, c="#d3d3d3", label=NO_RELATION, zorder=1)
    cmap = _colormap(len(relations))
    for i, relation in enumerate(relations):
        mask = kept_labels == relation
        ax.scatter(coords[mask, 0], coords[mask, 1], s=14, color=cmap(i), label=relation, zorder=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else f"pair embeddings ({method})")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=1.5, frameon=False)
    _save(fig, path)
    return coords


def _colormap(n: int):
    from matplotlib import colormaps

    return colormaps["tab10" if n <= 10 else "tab20"].resampled(max(n, 1))


def plot_loss_curves(
    csv_path: str | Path, png_path: str | Path, terms: Sequence[str] | None = None
) -> None:
    """One subplot per loss term of a CSV with a ``step`` column and one column per term (empty cells,
    for terms not logged at a step, are skipped). ``terms`` picks columns (default: all but ``step``)."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "step" not in rows[0]:
        raise CcreError(f"{csv_path}: expected a CSV with a 'step' column and one column per loss term")
    if terms is None:
        terms = [name for name in rows[0] if name != "step"]
    missing = [t for t in terms if t not in rows[0]]
    if missing:
        raise CcreError(f"{csv_path}: no column {', '.join(missing)}")
    if not terms:
        raise CcreError(f"{csv_path}: no loss columns besides 'step'")
    cols = min(len(terms), 3)
    nrows = math.ceil(len(terms) / cols)
    fig = _figure(4 * cols, 3 * nrows)
    for i, term in enumerate(terms):
        points = [(float(r["step"]), float(r[term])) for r in rows if r.get(term) not in (None, "")]
        ax = fig.add_subplot(nrows, cols, i + 1)
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, linewidth=1.2)
        ax.set_title(term)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, png_path)


def plot_relation_embeddings(
    model_name: str | Path,
    docs: Sequence[Document],
    path: str | Path,
    method: str = "tsne",
    title: str | None = None,
    max_points: int = 3000,
    seed: int = 13,
    device: str | None = None,
) -> np.ndarray:
    """Write a PNG of the 2-D projection of the pair embeddings of ``docs``; returns the coordinates."""
    from ccre.analysis.plots import plot_embeddings

    model = load_for_embedding(model_name, LabelSpace.from_documents(docs), seed, device)
    h, labels = relation_embeddings(model, docs)
    return plot_embeddings(h, labels, path, method=method, title=title or str(model_name), max_points=max_points, seed=seed)
