"""The paper's claims, checked against aggregated benchmark rows (:func:`ccre.bench_report.aggregate`).

Zhou et al. (ACL 2023) make five claims that the study (``benchmarks/REPORT.md``) tests:

(i) MTB+MCCL beats MTB+CE and MTB+SupCon when training data is scarce (1-10 %);
(ii) MTB+CE beats PLM+CE (pretraining helps);
(iii) on the frozen pretrained encoder, the kNN probe beats the softmax and nearest-centroid probes;
(iv) every pretraining loss helps (each ablation is below MTB+MCCL), removing ``L_mtb`` hurts most;
(v) with all the training data, MCCL and CE are about equal;

plus the headline: with 1 % of the data MTB+MCCL beats PLM+CE by 10.5 F1 on BioRED and 6.1 on Re-DocRED.

Each claim is compared on the headline metric (BioRED pair+type F1, DocRED F1) of every data set x size where
all the rows it needs exist (one configuration per method: variants belong in a results file of their own).
Its verdict is ``reproduced`` (holds in every comparison), ``partly`` (in some), ``not reproduced`` (in none)
or ``not run`` (no comparison possible). A difference of means is not a significance test: the evidence
lists each comparison with its number of seeds, so that the reader can judge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ccre.bench_report import Row

#: training sizes that are 1 / 5 / 10 % (scarce) and 100 % of each data set's training split
SCARCE_SIZES = {"biored": (4, 20, 40), "redocred": (31, 153, 305)}
FULL_SIZES = {"biored": (400,)}
ONE_PERCENT = {"biored": 4, "redocred": 31}
PAPER_HEADLINE = {"biored": 10.5, "redocred": 6.1}
#: |MCCL - CE| in F1 points below which claim (v) counts as "about equal"
EQUAL_WITHIN = 1.0


@dataclass
class Claim:
    key: str
    text: str
    verdict: str = "not run"
    evidence: list[str] = field(default_factory=list)


def _f1(row: Row) -> float:
    return 100 * row.mean["F1"]


def _fmt(row: Row) -> str:
    return f"{row.label} {_f1(row):.2f} (n={row.n})"


class _Table:
    """One row per (data set, size, method, probed encoder): where a method ran in several configurations
    (settings or starting encoders), the one with the most seeds, then the newest."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows: dict[tuple[str, int, str, str], Row] = {}
        for r in sorted((r for r in rows if "F1" in r.mean), key=lambda r: (r.n, r.date)):
            self.rows[(r.dataset, r.train_docs, r.method, r.encoder_kind)] = r

    def settings(self) -> list[tuple[str, int]]:
        return sorted({(d, s) for d, s, _, _ in self.rows})

    def get(self, dataset: str, size: int, method: str, kind: str | None = None) -> Row | None:
        return self.rows.get((dataset, size, method, kind or method.rpartition("+")[0]))


def _verdict(outcomes: Sequence[bool]) -> str:
    if not outcomes:
        return "not run"
    if all(outcomes):
        return "reproduced"
    return "partly" if any(outcomes) else "not reproduced"


def _compare(claim: Claim, table: _Table, sizes: Callable[[str, int], bool],
             test: Callable[[str, int], tuple[bool, str] | None]) -> Claim:
    outcomes = []
    for dataset, size in table.settings():
        if not sizes(dataset, size):
            continue
        result = test(dataset, size)
        if result is not None:
            outcomes.append(result[0])
            claim.evidence.append(f"{dataset} {size} docs: {result[1]} -> {'holds' if result[0] else 'does not hold'}")
    claim.verdict = _verdict(outcomes)
    return claim


def evaluate_claims(rows: Sequence[Row]) -> list[Claim]:
    """The five claims and the headline, each with its verdict and the comparisons behind it."""
    t = _Table(rows)
    scarce = lambda d, s: s in SCARCE_SIZES.get(d, ())  # noqa: E731
    full = lambda d, s: s in FULL_SIZES.get(d, ())  # noqa: E731

    def mccl_best(d: str, s: int):
        mccl, ce, sup = (t.get(d, s, m) for m in ("mtb+mccl", "mtb+ce", "mtb+supcon"))
        others = [r for r in (ce, sup) if r is not None]
        if mccl is None or not others:
            return None
        return all(_f1(mccl) > _f1(o) for o in others), " vs ".join(_fmt(r) for r in (mccl, *others))

    def pretraining_helps(d: str, s: int):
        mtb, plm = t.get(d, s, "mtb+ce"), t.get(d, s, "plm+ce")
        if mtb is None or plm is None:
            return None
        return _f1(mtb) > _f1(plm), f"{_fmt(mtb)} vs {_fmt(plm)}"

    def knn_probe(d: str, s: int):
        probes = [t.get(d, s, f"probe-{p}", "mtb") for p in ("knn", "softmax", "centroid")]
        if any(p is None for p in probes):
            return None
        knn, *others = probes
        return all(_f1(knn) > _f1(o) for o in others), " vs ".join(_fmt(p) for p in probes)

    def losses_help(d: str, s: int):
        full_row = t.get(d, s, "mtb+mccl")
        ablated = [r for r in (t.get(d, s, f"mtb-no-{x}+mccl") for x in ("mtb", "self", "mlm")) if r is not None]
        if full_row is None or not ablated:
            return None
        holds = all(_f1(r) < _f1(full_row) for r in ablated)
        no_mtb = t.get(d, s, "mtb-no-mtb+mccl")
        if len(ablated) == 3 and no_mtb is not None:
            holds = holds and _f1(no_mtb) == min(_f1(r) for r in ablated)
        return holds, " vs ".join(_fmt(r) for r in (full_row, *ablated))

    def equal_at_full(d: str, s: int):
        mccl, ce = t.get(d, s, "mtb+mccl"), t.get(d, s, "mtb+ce")
        if mccl is None or ce is None:
            return None
        gap = _f1(mccl) - _f1(ce)
        return abs(gap) <= EQUAL_WITHIN, f"{_fmt(mccl)} vs {_fmt(ce)}, gap {gap:+.2f}"

    def headline(d: str, s: int):
        mccl, plm = t.get(d, s, "mtb+mccl"), t.get(d, s, "plm+ce")
        if mccl is None or plm is None:
            return None
        gain = _f1(mccl) - _f1(plm)
        paper = PAPER_HEADLINE[d]
        return gain >= paper / 2, f"{_fmt(mccl)} vs {_fmt(plm)}: {gain:+.2f} F1 (paper +{paper})"

    return [
        _compare(Claim("i", "MTB+MCCL beats MTB+CE and MTB+SupCon with scarce data (1-10 %)"), t, scarce, mccl_best),
        _compare(Claim("ii", "MTB+CE beats PLM+CE (pretraining helps)"), t, lambda d, s: True, pretraining_helps),
        _compare(Claim("iii", "on the frozen pretrained encoder, kNN beats softmax and nearest centroid"), t,
                 lambda d, s: True, knn_probe),
        _compare(Claim("iv", "every pretraining loss helps; removing L_mtb hurts most"), t, lambda d, s: True,
                 losses_help),
        _compare(Claim("v", f"with all the data MCCL and CE are about equal (within {EQUAL_WITHIN} F1)"), t, full,
                 equal_at_full),
        _compare(Claim("headline", "with 1 % of the data MTB+MCCL beats PLM+CE by 10.5 F1 (BioRED) / 6.1 (Re-DocRED);"
                       " counted as reproduced at half the paper's gain or more"), t,
                 lambda d, s: ONE_PERCENT.get(d) == s, headline),
    ]


def claims_markdown(claims: Sequence[Claim]) -> str:
    """A table of verdicts, then each claim's comparisons."""
    lines = ["| claim | verdict |", "|---|---|"]
    lines += [f"| ({c.key}) {c.text} | **{c.verdict}** |" for c in claims]
    for c in claims:
        lines += ["", f"**({c.key})** {c.text}: **{c.verdict}**"]
        lines += [f"- {e}" for e in c.evidence] or ["- no comparison in the results yet"]
    return "\n".join(lines) + "\n"
