"""`tingfeng nlp ...`: train, evaluate, predict, enrich. A thin layer over the nlp package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Classifiers: train, evaluate, predict (JSONL), enrich stored posts.")
console = Console(stderr=True)

DEFAULT_DATA = Path("../shared/datasets")
DataOpt = Annotated[
    Path, typer.Option("--data", help="shared datasets folder (never copied into the repo)")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="task config (default: nlp/configs/TASK.yaml)")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="model folder (default: nlp/models/TASK)")
]


def _paths(task: str, config: Path | None, out: Path | None):  # type: ignore[no-untyped-def]
    from nlp.config import default_config_path, load_config
    from nlp.predict import default_models_dir

    config_path = config or default_config_path(task)
    cfg = load_config(config_path)
    return cfg, config_path, out or default_models_dir() / task


def _command(task: str, data: Path, config: Path | None, out: Path | None) -> str:
    parts = [f"tingfeng nlp train {task} --data {data}"]
    if config:
        parts.append(f"--config {config}")
    if out:
        parts.append(f"--out {out}")
    return " ".join(parts)


PROTOCOLS = ("both", "in-domain", "cross-source")
ProtocolOpt = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="in-domain (fixed test split), cross-source (leave one source family out) or both",
    ),
]


def _evaluate(task, cfg, model, data_dir, folder, command, data=None, cross=True, protocol="both"):  # type: ignore[no-untyped-def]
    import json

    from nlp.evaluate import evaluate_task, write_metrics
    from nlp.modelcard import write_card

    if protocol not in PROTOCOLS:
        console.print(f"error: unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        raise typer.Exit(2)
    say = lambda m: console.print(f"  {m}")  # noqa: E731
    previous = folder / "metrics.json"
    metrics = json.loads(previous.read_text("utf-8")) if previous.is_file() else {}
    if protocol != "cross-source" or "test" not in metrics:
        metrics = {
            **evaluate_task(cfg, model, data_dir, data=data, cross=cross, progress=say),
            **({"cross_source": metrics["cross_source"]} if "cross_source" in metrics else {}),
        }
    if protocol != "in-domain" and cfg.cross_source is not None:
        from nlp.crosssource import cross_source
        from nlp.train import load_task_data

        if data is None:
            say("loading data")
            data = load_task_data(cfg, data_dir)
        metrics["cross_source"] = cross_source(cfg, data, data_dir, progress=say, trained=model)
        _print_cross_source(task, model.version, metrics["cross_source"])
    write_metrics(metrics, folder)
    write_card(cfg, metrics, folder, command)
    table = Table(title=f"{task} {model.version}: test split")
    for col in ("set", "n", "accuracy", "macro-F1", "ECE"):
        table.add_column(col)
    rows = [("all", metrics["test"]), *metrics["test_by_dataset"].items()]
    for name, m in rows:
        table.add_row(
            name,
            str(m["n"]),
            f"{m['accuracy']:.4f}",
            f"{m['macro_f1']:.4f}",
            f"{m.get('calibration', {}).get('ece', 0):.4f}",
        )
    Console().print(table)
    console.print(f"metrics: {folder / 'metrics.json'}; card: {folder / 'model_card.md'}")


def _print_cross_source(task: str, version: str, cs: dict) -> None:  # type: ignore[type-arg]
    table = Table(title=f"{task} {version}: cross-source (leave one family out)")
    for col in ("left out", "n", "accuracy", "macro-F1", "ECE", "per class P/R"):
        table.add_column(col)
    for family, r in cs["families"].items():
        rows = [(family, r["test"])]
        if "prior_correction" in r:
            rows.append((f"{family} +EM priors", r["prior_correction"]["test"]))
        for name, m in rows:
            table.add_row(
                name,
                str(m["n"]),
                f"{m['accuracy']:.4f}",
                f"{m['macro_f1']:.4f}",
                f"{m['calibration']['ece']:.4f}",
                " ".join(
                    f"{c} {pc['precision']:.2f}/{pc['recall']:.2f}"
                    for c, pc in m["per_class"].items()
                    if pc["support"]
                ),
            )
    hand = cs.get("hand_labelled", {})
    rows = [
        (f"{hand.get('title')}: without {family}", r["hand_labelled"])
        for family, r in cs["families"].items()
        if "hand_labelled" in r
    ]
    if "trained" in hand:
        rows.append((f"{hand['title']}: {hand['trained']['version']}", hand["trained"]["test"]))
    for name, m in rows:
        table.add_row(
            name,
            str(m["n"]),
            f"{m['accuracy']['value']:.4f}",
            f"{m['macro_f1']['value']:.4f} {m['macro_f1']['ci95']}",
            "",
            " ".join(
                f"{c} {pc['precision']['value']:.2f}/{pc['recall']['value']:.2f}"
                for c, pc in m["per_class"].items()
                if pc["support"]
            ),
        )
    Console().print(table)


@app.command("train")
def train(
    task: Annotated[str, typer.Argument(help="rumor, rumor_context or emotion")],
    data: DataOpt = DEFAULT_DATA,
    config: ConfigOpt = None,
    out: OutOpt = None,
    evaluate: Annotated[bool, typer.Option(help="evaluate and write the card after")] = True,
    cross: Annotated[bool, typer.Option(help="also run the cross-dataset evaluation")] = True,
    protocol: ProtocolOpt = "both",
) -> None:
    """Train a task's model from its config on the shared datasets; then evaluate it.

    Example: tingfeng nlp train rumor --data ../shared/datasets
    """
    from nlp.train import train_task

    cfg, config_path, folder = _paths(task, config, out)
    model, task_data = train_task(
        cfg, config_path, data, folder, progress=lambda m: console.print(f"  {m}")
    )
    console.print(f"saved {cfg.task} {cfg.version} to {folder}")
    if evaluate:
        _evaluate(
            task,
            cfg,
            model,
            data,
            folder,
            _command(task, data, config, out),
            task_data,
            cross,
            protocol,
        )


@app.command("evaluate")
def evaluate(
    task: Annotated[str, typer.Argument(help="rumor, rumor_context, emotion or help")],
    data: DataOpt = DEFAULT_DATA,
    config: ConfigOpt = None,
    out: OutOpt = None,
    cross: Annotated[bool, typer.Option(help="also run the cross-dataset evaluation")] = True,
    protocol: ProtocolOpt = "both",
) -> None:
    """Evaluate a trained model: cross-source (leave one source family out, trained afresh per
    family) and its fixed test split; write metrics.json and the model card (cross-source first).

    Example: tingfeng nlp evaluate rumor --protocol cross-source
    """
    if task == "help":  # the grouped cross-validation protocol on the hand-labelled posts
        _help_workflow(data, out, fit=False)
        return
    from nlp.linear import LinearModel

    cfg, _config_path, folder = _paths(task, config, out)
    model = LinearModel.load(folder)
    _evaluate(
        task,
        cfg,
        model,
        data,
        folder,
        _command(task, data, config, out),
        cross=cross,
        protocol=protocol,
    )


def _help_dir() -> Path:
    from nlp.predict import default_models_dir

    return default_models_dir() / "help"


def _help_workflow(
    data: Path,
    out: Path | None,
    *,
    fit: bool,
    config: Path | None = None,
    base_model: Path | None = None,
) -> None:
    from nlp.help_train import train_help

    folder = out or _help_dir()
    metrics = train_help(
        data,
        folder,
        config=config,
        fit=fit,
        base_model=base_model,
        progress=lambda m: console.print(f"  {m}"),
    )
    table = Table(title=f"help {metrics['version']}: grouped CV, weighted to the pool")
    for col in ("labels", "precision [95% CI]", "recall [95% CI]"):
        table.add_column(col)
    for who in ("model", "linear", "rules"):
        for c, m in metrics["protocol"].get(who, {}).items():
            table.add_row(
                f"{who}: {c}",
                f"{m['precision']:.2f} [{m['precision_ci'][0]:.2f}, {m['precision_ci'][1]:.2f}]",
                f"{m['recall']:.2f} [{m['recall_ci'][0]:.2f}, {m['recall_ci'][1]:.2f}]",
            )
    Console().print(table)
    console.print(f"metrics: {folder / 'metrics.json'}; card: {folder / 'model_card.md'}")


@app.command("train-help")
def train_help_cmd(
    data: DataOpt = DEFAULT_DATA,
    config: Annotated[
        Path | None, typer.Option(help="settings (default: nlp/resources/help_train.yaml)")
    ] = None,
    out: OutOpt = None,
    base_model: Annotated[
        Path | None,
        typer.Option(
            help="converted encoder for the transformer stage (default: the config's "
            "transformer.base_model)"
        ),
    ] = None,
) -> None:
    """Train the help/demand classifier on the hand-labelled posts (tests/nlp/fixtures/
    help_labels.tsv joined with the shared datasets): grouped cross-validation with the rules as
    baseline, then the shipped model, metrics.json and model card. With `transformer.use` in
    the settings (off in the shipped ones), also its fine-tuned transformer stage (needs the
    train extra).

    Example: tingfeng nlp train-help --data ../shared/datasets --base-model data/models/e5-zh
    """
    _help_workflow(data, out, fit=True, config=config, base_model=base_model)


@app.command("predict")
def predict(
    task: Annotated[
        str, typer.Option("--task", help="rumor, rumor_context, emotion, polarity, help")
    ],
    models: Annotated[Path | None, typer.Option(help="models folder (default: shipped)")] = None,
    batch_size: Annotated[int, typer.Option(help="posts per batch")] = 512,
) -> None:
    """Read JSONL {"id","text"} on stdin, write JSONL {"id","label","score","scores"} on stdout.

    Example: tingfeng nlp predict --task help < posts.jsonl > labels.jsonl
    """
    from nlp.predict import Predictor, predict_jsonl

    predictor = Predictor(models, batch_size=batch_size)
    predict_jsonl(predictor, task, sys.stdin, sys.stdout)


@app.command("enrich")
def enrich_cmd(
    limit: Annotated[int | None, typer.Option(help="stop after this many posts")] = None,
) -> None:
    """Enrich stored posts that lack the current pipeline version (idempotent; re-scores after
    a model bump).

    Example: tingfeng nlp enrich
    """
    from nlp.enrich import enrich
    from nlp.predict import Predictor
    from store.context import load_settings, store_from

    settings = load_settings()
    store = store_from(settings)
    predictor = Predictor.from_settings(settings)
    result = enrich(store, predictor, batch=settings.enrich_batch_size, limit=limit)
    Console().print(
        f"enriched {result.enriched} posts (pipeline {result.version}); {len(result.failed)} failed"
    )
    for doc_id, reason in result.failed[:20]:
        console.print(f"  failed {doc_id}: {reason}")
    if result.failed:
        raise typer.Exit(1)


def _register_transformer_commands() -> None:
    from nlp.transformer.cli import (
        convert_e5,
        probe_transformer,
        train_encoder,
        train_transformer,
    )

    app.command("convert-e5")(convert_e5)
    app.command("train-transformer")(train_transformer)
    app.command("probe-transformer")(probe_transformer)
    app.command("train-encoder")(train_encoder)


_register_transformer_commands()
