"""Model commands: ``score``, ``train-scorer``, ``train-retriever``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from webglm.cli.common import ALWAYS_JSON, _err, app, build_config, handle_errors

@app.command()
@handle_errors
def score(
    question: Optional[str] = typer.Argument(None, help="The question (or use --file)."),
    answers: Optional[list[str]] = typer.Argument(None, help="One or more answers to rank."),
    file: Optional[str] = typer.Option(None, "--file", "-f",
                                       help='JSONL of {"question": ..., "answers": [...]} rows; - reads stdin.'),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per answer, in input order."),
    model: Optional[str] = typer.Option(None, "--model", help="Scorer folder (default: the shipped scorer)."),
    config_file: Optional[Path] = typer.Option(None, "--config"),
    sets: Optional[list[str]] = typer.Option(None, "--set"),
) -> None:
    """Rank answers with the preference reward model (a standalone reranker); the model
    loads once for all the questions of a --file."""
    from webglm.errors import InputError
    from webglm.scorer.cli_support import format_scores, read_score_file, score_answers, score_records

    if file is not None and question is not None:
        raise InputError("give either QUESTION ANSWER... or --file, not both")
    if file is None and (question is None or not answers):
        raise InputError("nothing to score", hint='webglm score "QUESTION" "ANSWER" ["ANSWER" ...], or --file rows.jsonl')
    cfg = build_config(config_file, sets, **{"scorer.model": model})
    rows = read_score_file(file) if file is not None else [(question or "", list(answers or []))]
    for q, texts in rows:
        scored = score_answers(q, texts, cfg.scorer)
        if as_json:
            for record in score_records(q, scored, texts):
                typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo((f"{q}\n" if len(rows) > 1 else "") + format_scores(scored))


@app.command("train-scorer")
@handle_errors
def train_scorer(
    data: list[str] = typer.Argument(..., help="Pair data: Stack Exchange Posts.xml, WebGPT, SHP, or {question, chosen, rejected} jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the trained scorer."),
    fmt: str = typer.Option("auto", "--format"),
    encoder: str = typer.Option("", "--encoder", help="Encoder folder (default: packaged all-MiniLM-L6-v2)."),
    train_layers: int = typer.Option(0, "--train-layers", help="Top encoder blocks to fine-tune (0: head only)."),
    use_embedding: bool = typer.Option(False, "--use-embedding", help="Feed the answer embedding to the head."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(3e-5, "--lr"),
    head_lr: float = typer.Option(3e-3, "--head-lr"),
    patience: int = typer.Option(5, "--patience"),
    max_steps: int = typer.Option(0, "--max-steps"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads"),
    min_score_gap: int = typer.Option(2, "--min-score-gap", help="Stack Exchange: vote gap a pair needs."),
    min_answers: int = typer.Option(2, "--min-answers"),
    min_answer_score: Optional[int] = typer.Option(None, "--min-answer-score"),
    min_rank_gap: int = typer.Option(1, "--min-rank-gap"),
    length_mitigation: bool = typer.Option(False, "--length-mitigation", help="WebGLM's truncate-to-median / drop-short rule."),
    resume: bool = typer.Option(False, "--resume"),
    as_json: bool = typer.Option(False, "--json", help=ALWAYS_JSON),
) -> None:
    """Train a preference reward model on upvote or comparison pairs (grouped splits by question)."""
    from webglm.scorer.cli_support import train_scorer_command
    from webglm.scorer.data import StackExchangeRecipe
    from webglm.scorer.train import TrainScorerConfig

    recipe = StackExchangeRecipe(min_answer_score=min_answer_score, min_answers=min_answers,
                                 min_score_gap=min_score_gap, min_rank_gap=min_rank_gap,
                                 truncate_to_median=length_mitigation, drop_below_half_median=length_mitigation)
    tcfg = TrainScorerConfig(encoder=encoder, train_layers=train_layers, use_embedding=use_embedding, epochs=epochs,
                             batch_size=batch_size, lr=lr, head_lr=head_lr, patience=patience, max_steps=max_steps,
                             seed=seed, threads=threads)
    metrics = train_scorer_command(data, str(out), fmt=fmt, recipe=recipe, config=tcfg, seed=seed, resume=resume,
                                   echo=typer.echo)
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command("train-retriever")
@handle_errors
def train_retriever(
    data: Path = typer.Argument(..., help="WebGLM-QA jsonl (cited references are positives) or Stack Exchange Posts.xml."),
    out: Path = typer.Argument(..., help="Folder for the fine-tuned encoder checkpoint."),
    base_model: str = typer.Option("", "--base-model", help="Start from this encoder folder (default: packaged MiniLM)."),
    loss: str = typer.Option("contrastive", "--loss", help="contrastive (in-batch + hard negatives) or regression (ROUGE-1 labels)."),
    epochs: int = typer.Option(1, "--epochs"),
    lr: float = typer.Option(2e-5, "--lr"),
    batch_size: int = typer.Option(16, "--batch-size"),
    temperature: float = typer.Option(0.05, "--temperature"),
    max_length: int = typer.Option(128, "--max-length"),
    max_steps: int = typer.Option(0, "--max-steps"),
    holdout: float = typer.Option(0.0, "--holdout", help="Share of questions kept out of training for eval-retriever."),
    separate_query_encoder: bool = typer.Option(False, "--separate-query-encoder"),
    similarity: str = typer.Option("cosine", "--similarity", help="cosine or dot (Contriever)."),
    hard_negatives: bool = typer.Option(True, "--hard-negatives/--no-hard-negatives"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads"),
    as_json: bool = typer.Option(False, "--json", help=ALWAYS_JSON),
) -> None:
    """Fine-tune the dense retriever (WebGLM's LLM-augmented retriever recipe)."""
    from webglm.contriever.train import train_retriever as train

    def progress(step: int, total: int, value: float) -> None:
        if step == total or step % 10 == 0:
            _err(f"webglm: step {step}/{total} loss {value:.4f}")

    metrics = train(data, out, base_model=base_model, loss=loss, epochs=epochs, lr=lr, batch_size=batch_size,
                    temperature=temperature, max_length=max_length, max_steps=max_steps,
                    separate_query_encoder=separate_query_encoder, similarity=similarity, holdout=holdout,
                    seed=seed, threads=threads, hard_negatives=hard_negatives, progress=progress)
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))
