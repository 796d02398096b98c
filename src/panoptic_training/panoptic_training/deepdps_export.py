"""Export a DeepDPS training run to ``models/<name>/`` (model.json + weights.safetensors + MODEL_CARD.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from panoptic_perception.models import save_model

from .deepdps_train import build_loss_weights, deepdps_from_run
from .export import CARD_FILE, data_summary


def write_deepdps_card(directory: Path, name: str, run_dir: Path, metrics: dict[str, Any] | None) -> Path:
    model, config, step = deepdps_from_run(run_dir)
    summary_path = run_dir / "run.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    data, t, o = data_summary(config), config.train, config.optim
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    weights = build_loss_weights(t.loss_weights)
    lights = ", ".join(f"{k} {v}" for k, v in data["lights"].items())
    lines = [
        f"# {name}: DeepDPS depth-aware camera panoptic segmentation (trained)",
        "",
        f"Files: `model.json` (architecture `deepdps`) + `weights.safetensors`; load with "
        f"`panoptic_perception.models.load_model('models/{name}', architecture='deepdps')`, or use "
        f"`panoptic_perception.camera_only` (`CameraOnlyStage`, `dense_depth`).",
        "",
        "## Model",
        f"- DeepDPS `{config.model.preset}` preset: input x{cfg.image_scale:g}, encoder widths {list(cfg.widths)}, "
        f"{cfg.num_queries} queries, {cfg.decoder_layers} decoder layers with geometric query enhancement "
        f"({cfg.latent_tokens} latent tokens), backup query {'on' if cfg.backup_query else 'off'}, D_max {cfg.max_depth:g} m; "
        f"{params:,} parameters",
        "",
        "## Training data (synthetic world, `panoptic_datasets.world`)",
        f"- rig `{data['rig']}` (front camera 1241x376), split `{data['split']}`, sequence seeds {data['seeds']}: "
        f"{data['sequences']} sequences x {config.data.frames_per_sequence} frames = {data['frames']} images",
        f"- light per sequence: {lights}; dynamic share {data['dynamic_share']}",
        f"- labels: per-pixel panoptic ground truth; depth: {t.depth_supervision} "
        "(dense = the renderer's depth, lidar = the sweep projected into the image, both = SI-log on each); "
        f"labels at 1/{t.label_stride} of the image size; horizontal mirror p={config.data.flip_y_prob:g}",
        "",
        "## Training",
        f"- {step} steps x batch {t.batch_size}, AdamW lr {o.lr:g} (warm-up {o.warmup_steps}, poly {o.poly_power:g}), "
        f"weight decay {o.weight_decay:g}, grad clip {o.grad_clip:g}, seed {t.seed}, from scratch",
        f"- loss weights: CE {weights.cls:g}, mask BCE {weights.mask:g}, dice {weights.dice:g}, semantic {weights.semantic:g}, "
        f"SI-log depth {weights.depth:g} (lambda 0.85), semantic-to-depth {weights.s2d:g} (K 5, margin 0.3), "
        f"depth-to-semantic {weights.d2s:g} (K 5, tau 10); {t.loss_points} points per mask",
        f"- wall time: {summary.get('wall_seconds', float('nan')):.0f} s on the shared 2-core CPU dev machine "
        f"({t.threads} torch thread); final loss (mean of last 50 steps) {summary.get('final_loss', float('nan')):.3f}",
    ]
    if metrics:
        lines += ["", "## Measured (held-out test split)", "",
                  f"{metrics.get('frames', '?')} test images (sequences {metrics.get('sequences', '?')}); "
                  "DPQ / PQ in %, depth against the dense ground truth up to 80 m.", "",
                  "| model | DPQ | DPQ λ=0.5 | DPQ λ=0.25 | DPQ λ=0.1 | PQ | abs-rel | δ<1.25 |", "| --- |" + " --- |" * 7]
        for r in metrics.get("rows", []):
            lines.append(f"| {r['name']} | {100 * r['dpq']:.1f} | {100 * r['dpq_0.5']:.1f} | {100 * r['dpq_0.25']:.1f} | "
                         f"{100 * r['dpq_0.1']:.1f} | {100 * r['pq']:.1f} | {r['abs_rel']:.3f} | {100 * r['delta1']:.1f} |")
        lines += ["", f"Reproduce: `{metrics.get('command', '')}`; details: `docs/deepdps.md`."]
    lines += ["", "## Limits",
              "- a tiny CPU model trained briefly on synthetic data only; not validated on real images.",
              "- see `docs/deepdps.md` for where the architecture departs from the paper."]
    path = directory / CARD_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def export_deepdps_run(run_dir: str | Path, name: str, models_dir: str | Path = "models",
                       metrics_path: str | Path | None = None) -> Path:
    run_dir = Path(run_dir)
    model, config, step = deepdps_from_run(run_dir)
    summary_path = run_dir / "run.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    metadata = {"name": name, "training_run": str(run_dir), "steps": str(step),
                "train_images": str(config.data.num_sequences * config.data.frames_per_sequence),
                "wall_seconds": str(summary.get("wall_seconds", ""))}
    directory = save_model(model, Path(models_dir) / name, metadata)
    metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else None
    write_deepdps_card(directory, name, run_dir, metrics)
    return directory
