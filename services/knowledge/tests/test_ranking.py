"""The fusion's arithmetic on a tenant whose e5 backfill is half done (no model needed)."""

import uuid

import numpy as np

from knowledge import e5, embeddings, ranking
from knowledge.embeddings import build_matrix
from knowledge.lexical import LexicalIndex


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_a_chunk_without_e5_yet_ranks_and_scores_by_use_in_its_place() -> None:
    rng = np.random.default_rng(3)
    use_query = unit(rng.standard_normal(embeddings.DIMENSIONS))
    e5_query = unit(rng.standard_normal(e5.DIMENSIONS))
    # Row 0: no e5 vector yet, its USE vector is the query's own (the best USE match).
    # Rows 1-2: e5 vectors, row 2 close to the query; USE vectors unrelated.
    use = np.stack([use_query] + [unit(rng.standard_normal(512)) for _ in range(2)])
    e5_rows = np.stack(
        [
            np.zeros(e5.DIMENSIONS, np.float32),
            unit(rng.standard_normal(e5.DIMENSIONS)),
            unit(e5_query + 0.3 * rng.standard_normal(e5.DIMENSIONS)),
        ]
    )
    ids = b"".join(sorted(uuid.uuid4().bytes for _ in range(3)))
    passages = ["alpha words", "beta words", "gamma words"]
    matrix = build_matrix(
        1,
        [
            (
                ids,
                use.astype(np.float16).tobytes(),
                e5_rows.astype(np.float16).tobytes(),
                "\0".join(passages).encode(),
            )
        ],
    )
    assert matrix.e5_missing == 1 and list(matrix.e5_present) == [False, True, True]
    use_q = matrix.matrix[0]  # the float16 round trip of the query: cosine ~1

    fused = ranking.fused(matrix, "no such word", e5_query, use_q)
    # Row 0 takes its scaled USE cosine (1.0) in e5's place and is found first; row 2 next.
    assert list(np.argsort(-fused)) == [0, 2, 1]
    assert ranking.relevance(matrix, 0, e5_query, use_q) == embeddings.calibrated(
        float(matrix.matrix[0] @ use_q)
    )
    assert ranking.relevance(matrix, 2, e5_query, use_q) == ranking.e5_calibrated(
        float(matrix.e5[2] @ e5_query)
    )

    # Once every chunk has its e5 vector, USE no longer stands in for e5.
    e5_rows[0] = unit(rng.standard_normal(e5.DIMENSIONS))
    complete = build_matrix(
        2,
        [
            (
                ids,
                use.astype(np.float16).tobytes(),
                e5_rows.astype(np.float16).tobytes(),
                "\0".join(passages).encode(),
            )
        ],
    )
    assert complete.e5_missing == 0 and complete.e5_present.shape == (0,)
    assert np.argmax(ranking.fused(complete, "gamma", e5_query, use_q)) == 2


def test_keyword_coverage_is_a_share_of_the_query_not_of_the_best_match() -> None:
    """BM25 over the query's own weight: a passage with every word of the question scores
    about 1, and a question in another language that shares one name with a passage scores
    little, where min-max scaling made its best match 1 whatever it held."""
    index = LexicalIndex.build(
        [
            "express repair service costs 26 euros",
            "the e-bike battery warranty lasts two years",
            "opening hours of the amsterdam shop",
        ]
    )
    full = index.coverage("express repair service")
    assert np.argmax(full) == 0 and 0.8 < full[0] <= 1.2 and full[1] == full[2] == 0
    foreign = index.coverage("Gibt es bei euch einen Express-Service für Reparaturen?")
    assert np.argmax(foreign) == 0 and foreign[0] < 0.5 * full[0]
    assert not index.coverage("zzz qqq").any() and not index.coverage("").any()


def test_query_words_are_stemmed_split_and_corrected_as_the_passages_are() -> None:
    index = LexicalIndex.build(
        [
            "Bikes and e-bikes: boxes, batteries and prices",
            "On King's Day the Amsterdam shop opens late",
            "A gift card is valid for three years",
        ]
    )
    # "bikes" is "bike" + "s" (not "bik" + "es"); "boxes" and "batteries" lose their plural.
    assert index.query_terms("bike box battery price") == ["bike", "box", "battery", "price"]
    # Two of the tenant's words run together, and a typo of one.
    assert index.query_terms("open on kingsday?") == ["open", "king", "day"]
    assert index.query_terms("amsterdan shop") == ["amsterdam", "shop"]
    # Mostly unknown words: another language, whose words are not typos of English ones.
    assert index.query_terms("Gibt es einen Laden in Amsterdam?") == [
        "gibt",
        "es",
        "einen",
        "laden",
        "amsterdam",
    ]
