"""How the signals are combined: the order of the results and their relevance score.

Order: a weighted sum over the tenant's passages of
- each embedder's cosines standardised for the query (z-scores: how far above this query's
  typical passage; e5 x 1, USE x 1/3), and
- BM25 as a share of what the query's words could score (`LexicalIndex.coverage`) x 2.
Min-max scaling (what was used before) stretched whatever the best passage happened to have
to 1: for a question in German, whose words the English passages lack, one shared name
("E-Bike") made a keyword match count as much as the best paraphrase; and one outlier
cosine squeezed all the others. The README's ablation table has the figures; the weights
are a flat optimum (e5 : USE : BM25 from 3 : 0.5 : 2 to 4 : 1 : 3 rank alike), not tuned to
questions. USE stays in because it knows some paraphrases e5 does not ("vouchers" for gift
cards). A chunk whose e5 vector is not computed yet (the backfill runs after indexing) takes
its standardised USE cosine in e5's place, so a new document is found at once; a tenant
with no e5 vector at all is ranked by USE + BM25.

Score: the e5 cosine of the passage, mapped from [E5_FLOOR, E5_CEILING] onto [0, 1]. e5's
cosines sit in a narrow band (unrelated text ~0.75-0.80, the right passage ~0.83-0.90), so the
map is fixed for the model, not fitted per question or per tenant. A chunk without an e5
vector yet falls back to its calibrated USE cosine (embeddings.calibrated).
"""

import numpy as np

from knowledge import embeddings
from knowledge.embeddings import TenantMatrix

E5_WEIGHT = 1.0
USE_WEIGHT = 1 / 3
BM25_WEIGHT = 2.0

# On kb-dev-eval, calibrated 0.40 (raw e5 cosine 0.828: the responder's RELEVANCE_THRESHOLD)
# keeps 90 % of answerable questions' top passages; unrelated questions (weather, football)
# score 0.75-0.82 raw.
E5_FLOOR = 0.78
E5_CEILING = 0.90


def _standard(scores: np.ndarray) -> np.ndarray:
    spread = float(scores.std())
    if spread <= 0.0:
        return np.zeros_like(scores)
    return (scores - float(scores.mean())) / spread


def fused(
    matrix: TenantMatrix, query: str, e5_vector: np.ndarray, use_vector: np.ndarray
) -> np.ndarray:
    """One fused score per row of the tenant (higher ranks first)."""
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.float32)
    use = _standard(matrix.matrix @ use_vector)
    total = BM25_WEIGHT * matrix.lexical.coverage(query)
    total += USE_WEIGHT * use
    if matrix.e5.shape[0] == 0:  # nothing embedded by e5 yet
        return total
    dense = matrix.e5 @ e5_vector
    if matrix.e5_missing:  # standardised over the chunks that have one; USE for the others
        present = matrix.e5_present
        standard = use.copy()
        standard[present] = _standard(dense[present])
        return total + E5_WEIGHT * standard
    return total + E5_WEIGHT * _standard(dense)


def e5_calibrated(cosine: float) -> float:
    return float(np.clip((cosine - E5_FLOOR) / (E5_CEILING - E5_FLOOR), 0.0, 1.0))


def relevance(
    matrix: TenantMatrix, row: int, e5_vector: np.ndarray, use_vector: np.ndarray
) -> float:
    """The calibrated relevance of one passage to the query, in [0, 1]."""
    if matrix.e5.shape[0] and (not matrix.e5_missing or matrix.e5_present[row]):
        return e5_calibrated(float(matrix.e5[row] @ e5_vector))
    return embeddings.calibrated(float(matrix.matrix[row] @ use_vector))
