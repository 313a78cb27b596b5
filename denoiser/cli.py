"""Command line: ``python -m denoiser {train,pretrain-encoder,pretrain-generator,prepare-data,
denoise,evaluate,info,export}``.

Heavy imports (torch, skimage) happen inside the subcommands so ``--help``
stays instant.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from denoiser.evaluation import defaults as ev


def _config(args: argparse.Namespace):
    from denoiser.config import TrainConfig

    cfg = TrainConfig.load(args.config)
    overrides: dict[str, Any] = {}
    for item in args.set or []:
        # "key=value" parsed as a TOML value, so numbers, lists and booleans keep their type;
        # dotted keys ("generator.base_width=16") reach the nested tables.
        key, _, value = item.partition("=")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        _set_nested(overrides, key.strip().split("."), parsed)
    if overrides:
        merged = cfg.to_dict()
        for key, value in overrides.items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
        cfg = TrainConfig.from_dict(merged)
    return cfg


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _print_event(event: dict[str, Any]) -> None:
    shown = ("epoch", "done", "encoder", "warm_start", "warm_start_resumed", "warm_start_restarted")
    if event.get("event") in shown:
        print(json.dumps(event), flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from denoiser.train import train

    cfg = _config(args)
    wants_encoder = args.pretrain_encoder and cfg.perceptual_net == "ct_encoder"
    if wants_encoder and (args.force_encoder or not Path(cfg.encoder_path).exists()):
        from denoiser.pretrain import pretrain_encoder

        pretrain_encoder(cfg, progress=_print_event)
    if args.force_generator and not args.pretrain_generator:
        raise SystemExit("error: --force-generator needs --pretrain-generator")
    if args.pretrain_generator and not cfg.warm_start_path:
        raise SystemExit("error: --pretrain-generator needs warm_start_path in the config")
    if args.pretrain_generator and (args.force_generator or not Path(cfg.warm_start_path).exists()):
        from denoiser.warmstart import pretrain_generator

        resume = not (args.force_generator or args.no_resume)
        pretrain_generator(cfg, progress=_print_event, resume=resume)
    result = train(cfg, progress=_print_event, resume=not args.no_resume)
    print(f"best checkpoint: {result.best_checkpoint} metrics: {json.dumps(result.best_metrics)}")
    return 0


def cmd_pretrain_encoder(args: argparse.Namespace) -> int:
    from denoiser.pretrain import pretrain_encoder

    path = pretrain_encoder(_config(args), progress=_print_event)
    print(f"encoder written to {path}")
    return 0


def cmd_pretrain_generator(args: argparse.Namespace) -> int:
    from denoiser.warmstart import pretrain_generator

    path = pretrain_generator(_config(args), progress=_print_event, resume=not args.no_resume)
    print(f"warm start written to {path}")
    return 0


def cmd_prepare_data(args: argparse.Namespace) -> int:
    from denoiser.data import load_training_data

    cfg = _config(args)
    load_training_data(
        cfg, progress=lambda i, n: print(f"slice {i}/{n}", flush=True), workers=args.workers
    )
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    from denoiser.dicom.read import DicomReadError, find_series
    from denoiser.inference import Denoiser

    in_dir, out_dir = Path(args.in_dir).resolve(), Path(args.out_dir).resolve()
    if out_dir == in_dir or out_dir in in_dir.parents:
        raise DicomReadError(
            f"{args.out_dir}: the output folder is the input folder or holds it; choose another"
        )
    # The output folder may sit inside the input folder: never read it back as input.
    found = find_series(args.in_dir, exclude=args.out_dir)
    chosen = _chosen_series(found, args.series)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        print(f"note: {out_dir} is not empty; the derived series is written beside what is there")
    # One series: its derived series straight into OUT_DIR. Several (a study export): each
    # into a subfolder named for it. Made before any work, so a bad path fails at once.
    targets = [out_dir if len(chosen) == 1 else out_dir / g.folder_name() for g in chosen]
    for target in targets:
        if target.exists() and not target.is_dir():
            raise DicomReadError(f"{target}: a file, not a folder; choose another")
        target.mkdir(parents=True, exist_ok=True)
    model = Denoiser.load(
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        threads=args.threads,
        self_ensemble=args.self_ensemble,
    )
    for group, target in zip(chosen, targets, strict=True):
        _denoise_one(model, group, target, quiet=args.quiet)
    return 0


def _chosen_series(found: list, wanted: list[str] | None) -> list:
    """The series to denoise: those named by --series, else every CT image series that is not
    a localizer (the others are listed as skipped)."""
    from denoiser.dicom.read import DicomReadError

    if wanted:
        by_uid = {g.uid: g for g in found}
        missing = [uid for uid in wanted if uid not in by_uid]
        if missing:
            listing = "; ".join(str(g) for g in found)
            raise DicomReadError(f"no series {', '.join(missing)} here; found: {listing}")
        return [by_uid[uid] for uid in wanted]
    if len(found) == 1:
        return found  # read_series says what is wrong with it, if anything
    chosen = [g for g in found if not g.skip_reason]
    for group in found:
        if group.skip_reason:
            print(f"skipped {group}: {group.skip_reason} (--series UID to try it)")
    if not chosen:
        raise DicomReadError(f"{len(found)} series found, none a CT image series")
    return chosen


def _denoise_one(model, group, target: Path, *, quiet: bool) -> None:
    from tqdm import tqdm

    from denoiser.dicom.derive import write_derived_series
    from denoiser.dicom.read import read_series

    volume, headers = read_series(group.files)
    warnings = model.check_input(volume)
    for warning in warnings:
        print(f"warning: {group.description or 'series'}: {warning}", file=sys.stderr)
    with tqdm(
        total=len(volume), unit="slice", disable=quiet, desc=group.description or None
    ) as bar:
        out = model.denoise(volume, progress=lambda done, total: bar.update(done - bar.n))
    written = write_derived_series(
        headers,
        out,
        target,
        model_name=model.name,
        model_version=model.version,
        out_of_range=bool(warnings),
    )
    print(f"wrote {len(written)} slices to {target}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.suite == "general":
        return _evaluate_general(args)
    from denoiser.evaluation.methods import build_methods
    from denoiser.evaluation.real import evaluate_real
    from denoiser.evaluation.simulated import evaluate, heldout_dataset

    names = None  # every baseline
    if args.methods is not None:
        names = [n.strip() for n in args.methods.split(",") if n.strip()]
    checkpoints: list[str | None] = [] if args.no_model else (args.checkpoint or [None])
    # Methods first: an unknown name or a bad checkpoint fails before any simulation.
    methods = build_methods(names, checkpoints, device=args.device)
    dataset = heldout_dataset(
        args.n_slices,
        size=args.size,
        dose=args.dose,
        cache_dir=args.cache,
        n_views=args.n_views,
        workers=args.workers,
        progress=not args.quiet,
    )
    command = "python -m denoiser evaluate " + " ".join(shlex.quote(a) for a in args.argv[1:])
    results = evaluate(
        methods,
        dataset,
        args.out,
        dose=args.dose,
        progress=not args.quiet,
        command=command,
        output_cache=args.cache / "outputs",
    )
    real = None if args.no_real else evaluate_real(methods, args.out, dose=args.dose)
    if not args.quiet:
        print((args.out / "results.md").read_text())
        if real is not None:
            print((args.out / "real_ct.md").read_text())
        print(f"wrote results.md, results.csv, per_slice.csv, examples.png, nps.png to {args.out}")
    return 0 if results else 1


def _evaluate_general(args: argparse.Namespace) -> int:
    from denoiser.evaluation import general
    from denoiser.evaluation.methods import build_methods

    def listed(text: str | None, cast, default):
        return default if text is None else tuple(cast(x) for x in text.split(",") if x.strip())

    base = general.Grid()
    grid = general.Grid(
        kernels=listed(args.kernels, str.strip, base.kernels),
        doses=listed(args.doses, float, base.doses),
        anatomies=listed(args.anatomies, str.strip, base.anatomies),
        spacings=listed(args.spacings, float, base.spacings),
        slices=args.slices_per_cell,
        tuning_slices=args.tuning_slices,
        size=args.size,
        crop=args.crop,
        design=args.design,
        listed=_listed_cells(args.cells),
    )
    for name, chosen, allowed in (
        ("--kernels", grid.kernels, base.kernels),
        ("--anatomies", grid.anatomies, base.anatomies),
    ):
        wrong = sorted(set(chosen) - set(allowed))
        if wrong or not chosen:
            raise SystemExit(
                f"{name}: unknown {', '.join(wrong)}; choose from {', '.join(allowed)}"
            )
    checkpoints: list[str | None] = [] if args.no_model else (args.checkpoint or [None])
    models = build_methods([], checkpoints, device=args.device)
    command = "python -m denoiser evaluate " + " ".join(shlex.quote(a) for a in args.argv[1:])
    general.run(
        grid,
        models,
        args.out,
        real=not args.no_real,
        command=command,
        progress=None if args.quiet else lambda line: print(line, flush=True),
        cache=args.cache / "general",
        workers=args.workers,
    )
    if not args.quiet:
        print((args.out / "general.md").read_text())
    return 0


def _listed_cells(text: str | None):
    """``anatomy:kernel:dose:spacing`` items, comma-separated ("" for none: real CT only)."""
    if text is None:
        return None
    cells = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        parts = item.split(":")
        if len(parts) != 4:
            raise SystemExit(f"--cells: {item!r} is not anatomy:kernel:dose:spacing")
        try:
            cells.append((parts[0], parts[1], float(parts[2]), float(parts[3])))
        except ValueError:
            raise SystemExit(f"--cells: {item!r} has a dose or spacing that is no number") from None
    return tuple(cells)


def cmd_info(args: argparse.Namespace) -> int:
    from denoiser.checkpoint import load_checkpoint_file

    payload = load_checkpoint_file(args.checkpoint)
    info = {
        "kind": payload["kind"],
        "format_version": payload["format_version"],
        "created": payload.get("created"),
        "arch": payload["arch"],
        "metrics": payload.get("metrics", {}),
        "model_card": payload.get("model_card", {}),
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Turn a training checkpoint into a small generator file (what gets shipped)."""
    from denoiser import checkpoint as ckpt
    from denoiser.config import check_self_ensemble, check_texture_config

    src = Path(args.checkpoint)
    payload = ckpt.load_checkpoint_file(src, expected_kind="generator")
    arch, state_dict = ckpt.generator_weights(src, payload)
    card = dict(payload.get("model_card") or {})
    metrics = payload.get("metrics")
    if args.average:
        share = 0.5 if args.average_weight is None else args.average_weight
        state_dict = _averaged(src, arch, state_dict, Path(args.average), share)
        # The files' validation metrics belong to neither; the card says what it is made of.
        metrics = None
        card["averaged_from"] = {str(src): 1.0 - share, args.average: share}
    elif args.average_weight is not None:
        raise ValueError("--average-weight needs --average (the checkpoint to average with)")
    if args.card:
        card.update(json.loads(Path(args.card).read_text()))
    config = dict(payload.get("config") or {})
    for item in args.set or []:  # inference settings, e.g. the texture blend of the release
        key, _, value = item.partition("=")
        try:
            config[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            config[key.strip()] = value
    # Settings Denoiser.load would refuse: no file is written that cannot be loaded.
    check_self_ensemble(config.get("self_ensemble", 1))
    check_texture_config(config)
    out = ckpt.make_payload(
        "generator",
        arch,
        state_dict,
        config=config,
        metrics=metrics,
        model_card=card,
        half=args.half,
    )
    ckpt.save_checkpoint(out, args.out)
    print(f"exported {src} -> {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")
    return 0


def _averaged(src: Path, arch: dict, weights: dict, other: Path, share: float) -> dict:
    """``weights`` averaged with ``other``'s: (1 - share) x these + share x those. Two
    fine-tunings of one network often average into a model better than either (each one's
    own drift partly cancels); the architectures must be the same."""
    from denoiser import checkpoint as ckpt

    if not 0.0 < share < 1.0:
        raise ValueError(f"--average-weight must be between 0 and 1, not {share}")
    other_arch, theirs = ckpt.generator_weights(
        other, ckpt.load_checkpoint_file(other, expected_kind="generator")
    )
    if dict(other_arch) != dict(arch):
        raise ckpt.CheckpointError(other, f"another architecture than {src}'s; cannot average")
    if set(theirs) != set(weights) or any(theirs[k].shape != weights[k].shape for k in weights):
        raise ckpt.CheckpointError(other, f"its weights do not match {src}'s; cannot average")
    return {
        k: ((1.0 - share) * weights[k].float() + share * theirs[k].float()).to(weights[k].dtype)
        if weights[k].is_floating_point()
        else weights[k]
        for k in weights
    }


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m denoiser", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", required=True, help="TOML or JSON training config")
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config value (TOML syntax; dotted keys for tables)",
        )

    p = sub.add_parser("train", help="train the CycleGAN (resumes from out_dir/last.pt)")
    with_config(p)
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="ignore an existing last.pt (and a saved warm start)",
    )
    p.add_argument(
        "--pretrain-encoder",
        action="store_true",
        help="first train the perceptual CT encoder if its file is missing",
    )
    p.add_argument("--force-encoder", action="store_true", help="retrain the encoder anyway")
    p.add_argument(
        "--pretrain-generator",
        action="store_true",
        help="first train the denoiser's warm start (warm_start_path) if its file is missing",
    )
    p.add_argument(
        "--force-generator", action="store_true", help="retrain the warm start anyway, afresh"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pretrain-encoder", help="train the perceptual CT encoder")
    with_config(p)
    p.set_defaults(func=cmd_pretrain_encoder)

    p = sub.add_parser(
        "pretrain-generator", help="train the denoiser's warm start on ND + synthetic noise"
    )
    with_config(p)
    p.add_argument("--no-resume", action="store_true", help="ignore a saved unfinished warm start")
    p.set_defaults(func=cmd_pretrain_generator)

    p = sub.add_parser("prepare-data", help="simulate and cache the phantom training data")
    with_config(p)
    p.add_argument("--workers", type=int, default=1, help="processes for the simulation")
    p.set_defaults(func=cmd_prepare_data)

    p = sub.add_parser(
        "denoise",
        help="denoise a DICOM series (or each CT series of a study folder) into derived series",
    )
    p.add_argument("in_dir", help="a folder (searched recursively) or one file")
    p.add_argument("out_dir", help="the derived series; one subfolder each when several")
    p.add_argument(
        "--series", action="append", metavar="UID", help="only this SeriesInstanceUID (repeatable)"
    )
    p.add_argument("--checkpoint", default=None, help="default: the shipped model")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument(
        "--self-ensemble",
        type=int,
        choices=(1, 2, 4, 8),
        default=None,
        help="average over this many mirrored/turned copies of each slice (default: the "
        "model's own; 1 is fastest)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_denoise)

    p = sub.add_parser(
        "evaluate",
        help="benchmark against classical methods (see denoiser/evaluation)",
        description="Benchmark denoisers on held-out simulated low-dose phantoms.",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        help="learned model to evaluate (repeatable); default: the shipped model",
    )
    p.add_argument("--no-model", action="store_true", help="baselines only")
    # No default list here: naming the baselines would import them, and --help stays instant.
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated baselines (default: all of denoiser.baselines; '' for none)",
    )
    p.add_argument("--out", type=Path, default=ev.DEFAULT_OUT, help=f"default: {ev.DEFAULT_OUT}")
    p.add_argument("--n-slices", type=int, default=ev.DEFAULT_N_SLICES)
    p.add_argument("--size", type=int, default=ev.DEFAULT_SIZE)
    p.add_argument("--dose", type=float, default=ev.DEFAULT_DOSE, help="dose fraction (0.25)")
    p.add_argument("--n-views", type=int, default=None, help="default: 720 at 512 px")
    p.add_argument("--cache", type=Path, default=ev.DEFAULT_CACHE, help="simulation cache folder")
    p.add_argument("--workers", type=int, default=1, help="processes for the simulation")
    p.add_argument("--device", default=None, help="device for learned models")
    p.add_argument("--no-real", action="store_true", help="skip the real CT slices (pydicom-data)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--suite",
        choices=("heldout", "general"),
        default="heldout",
        help="heldout: abdominal phantoms (default); general: kernel x dose x anatomy x "
        "pixel spacing grid of textured phantoms plus real CT (writes general.md)",
    )
    grid = p.add_argument_group("general suite (comma-separated lists; default: the full grid)")
    grid.add_argument("--kernels", default=None, help="hann,hamming,cosine,shepp-logan,ramp,edge")
    grid.add_argument("--doses", default=None, help="dose fractions, e.g. 0.05,0.1,0.25,0.5")
    grid.add_argument("--anatomies", default=None, help="abdomen,pelvis,chest,head,neck")
    grid.add_argument("--spacings", default=None, help="pixel spacing in mm, e.g. 0.35,0.7,1.0")
    grid.add_argument(
        "--cells",
        default=None,
        help="explicit cells anatomy:kernel:dose:spacing,... instead of the grid ('': none)",
    )
    grid.add_argument("--slices-per-cell", type=int, default=3)
    grid.add_argument("--tuning-slices", type=int, default=1)
    grid.add_argument(
        "--crop",
        type=int,
        default=None,
        help="run the methods on this many pixels around the organ",
    )
    grid.add_argument(
        "--design",
        choices=("full", "cross"),
        default="full",
        help="full: every combination; cross: each factor crossed with anatomy alone",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="print a checkpoint's model card and metrics")
    p.add_argument("checkpoint")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="write a generator-only (optionally fp16) checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--half", action="store_true", help="store weights as fp16 (half size)")
    p.add_argument("--card", default=None, help="JSON file merged into the model card")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="set a config value in the exported file (TOML value), e.g. texture_blend_share=0.3",
    )
    p.add_argument(
        "--average",
        default=None,
        metavar="CHECKPOINT",
        help="average the weights with this checkpoint's (same architecture)",
    )
    p.add_argument(
        "--average-weight",
        type=float,
        default=None,
        help="share of --average's weights in the result (default 0.5)",
    )
    p.set_defaults(func=cmd_export)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # "evaluate -- --out DIR": a separator before the options reads as if it were not there
    # (evaluate takes no positional argument that it could protect).
    parsed = ["evaluate", *argv[2:]] if argv[:2] == ["evaluate", "--"] else argv
    args = build_parser().parse_args(parsed)
    args.argv = argv  # as typed: the evaluate report says how to reproduce it
    from denoiser.checkpoint import CheckpointError
    from denoiser.dicom.read import DicomReadError

    try:
        return args.func(args)
    # Errors of input, configuration or device: the message, not a traceback.
    except (CheckpointError, DicomReadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output path that is a file, no permission, disk full...
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
