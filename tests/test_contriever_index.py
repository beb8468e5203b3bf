"""Corpus index round trips with real FAISS."""

import json

import pytest

from webglm.config import RankConfig
from webglm.contriever import CorpusIndex, is_index_dir, make_encoder
from webglm.errors import CorpusError, ModelError
from webglm.types import Passage

TEXTS = [
    "India pale ale is a hoppy beer style.", "Stout is a dark beer with roasted barley.",
    "Lager is fermented at low temperatures.", "The Eiffel Tower stands in Paris.",
    "Fractions are taught with pizza diagrams.", "Hops give beer bitterness.",
]


def corpus(texts=TEXTS, start=0):
    return [Passage(id=f"d{start + i}", text=t, url=f"file:doc{start + i}.txt", title=f"doc {start + i}",
                    source="local") for i, t in enumerate(texts)]


@pytest.fixture
def cfg():
    return RankConfig(encoder="hash", mmr_lambda=1.0)


def test_build_save_load_add_round_trip(tmp_path, cfg):
    enc = make_encoder(cfg)
    seen = []
    index = CorpusIndex.build(corpus(), enc, cfg, progress=lambda done, total: seen.append((done, total)))
    assert len(index) == 6 and seen[-1] == (6, 6) and index.kind == "flat"
    index.save(tmp_path / "idx")
    assert is_index_dir(tmp_path / "idx") and not is_index_dir(tmp_path)

    loaded = CorpusIndex.load(tmp_path / "idx", make_encoder(cfg), cfg)
    assert loaded.passages == index.passages
    before = loaded.encoder.encoded
    ranking = loaded.rank("dark roasted stout", cfg)
    assert ranking.references[0].passage.id == "d1"
    assert loaded.encoder.encoded - before == 1  # only the question was encoded

    loaded.add(corpus(["Porter is a dark beer style from London."], start=6))
    loaded.save(tmp_path / "idx")
    again = CorpusIndex.load(tmp_path / "idx", make_encoder(cfg), cfg)
    assert len(again) == 7
    assert again.rank("London porter", cfg).references[0].passage.id == "d6"
    assert again.rank("quantum chromodynamics gluons", cfg).abstained


def test_hnsw_above_threshold(tmp_path):
    cfg = RankConfig(encoder="hash", hnsw_threshold=4, mmr_lambda=1.0)
    index = CorpusIndex.build(corpus(), make_encoder(cfg), cfg)
    assert index.kind == "hnsw"
    index.save(tmp_path / "h")
    loaded = CorpusIndex.load(tmp_path / "h", make_encoder(cfg), cfg)
    assert loaded.kind == "hnsw"
    assert loaded.rank("Eiffel Tower Paris").references[0].passage.id == "d3"


def test_load_rejects_other_encoder_and_corrupt_files(tmp_path, cfg):
    CorpusIndex.build(corpus(), make_encoder(cfg), cfg).save(tmp_path / "idx")
    other = make_encoder(RankConfig(encoder="hash"))
    other.model_id = "hash-999"
    with pytest.raises(ModelError, match="built with"):
        CorpusIndex.load(tmp_path / "idx", other)
    with pytest.raises(CorpusError):
        CorpusIndex.load(tmp_path / "missing", make_encoder(cfg))
    lines = (tmp_path / "idx" / "passages.jsonl").read_text().splitlines()
    (tmp_path / "idx" / "passages.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(CorpusError, match="corrupt"):
        CorpusIndex.load(tmp_path / "idx", make_encoder(cfg))
    (tmp_path / "idx" / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(CorpusError, match="corrupt"):
        CorpusIndex.load(tmp_path / "idx", make_encoder(cfg))
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert meta["count"] == 6


def test_index_sees_titles_and_caps_one_file(tmp_path, cfg):
    # "kettle" is only in the title; six passages of one file (each with its own line anchor) count as one source
    ps = [Passage(id=f"k{i}", text=f"Descale it with citric acid, step {i}.", url=f"file:kettle.md#L{i * 5 + 1}",
                  title="Kettle care", source="local") for i in range(6)]
    ps += corpus()
    index = CorpusIndex.build(ps, make_encoder(cfg), cfg)
    ranking = index.rank("kettle", cfg)
    assert ranking.references[0].passage.title == "Kettle care"
    assert sum(r.passage.url.startswith("file:kettle.md") for r in ranking.references) == cfg.per_url_cap
    index.save(tmp_path / "idx")
    assert json.loads((tmp_path / "idx" / "meta.json").read_text())["indexed"] == "title+text"
