"""Train the page segmenter on rendered pages: one command, reproducible from a seed.

    python -m pipeline.train --data DIR [DIR...] --steps 3000 --batch 8 --crop 256 --seed 0 \
        --out weights/segmenter.pt [--run-dir runs/segment] [--time-limit-min 70] \
        [--device auto|cpu|cuda] [--crop-workers N]

DIR is a dataset written by `python -m pipeline.synth make` (DIR/train, DIR/val). Pages are
resized to the working size exactly as at inference, cut into random crops, augmented, and fed
to the U-Net with weighted cross-entropy + soft Dice. A checkpoint in --run-dir is written every
--ckpt-every steps and a rerun of the same command resumes from it. Every --val-every steps the
per-class IoU on validation pages is printed and a snapshot weights file is written to the run
folder; at the end the final weights and their sha256 sidecar go to --out and the metrics are
printed as JSON (for weights/MODEL_CARD.md).

With --crop-workers 0 (the default) crops are drawn in this process from one random stream,
as the shipped CPU runs were. With N > 0 they are drawn in N processes, batch g from its own
generator (`pipeline.segment.data.batch_rng`), so a GPU is kept fed; the run is then the same
whatever N is, but not the same as with 0. On a GPU the forward and backward passes run in
bfloat16 autocast (the weights stay float32).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.segment.data import CropSampler, Page, class_frequencies, load_pages, parallel_batches
from pipeline.segment.infer import resolve_device
from pipeline.segment.loss import class_weights_from_frequencies, confusion, dice_ce_loss, iou_dice
from pipeline.segment.model import UNet, UNetConfig, parameter_count
from pipeline.segment.preprocess import WORKING_LONG_SIDE_PX, normalised, pad_to_multiple, to_tensor
from pipeline.segment.weights import load_weights, save_weights
from pipeline.types import SEGMENTATION_CLASSES

log = logging.getLogger("pipeline.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="dataset folder(s), each with train/ and val/")
    p.add_argument("--out", type=Path, default=Path("weights/segmenter.pt"))
    p.add_argument("--run-dir", type=Path, default=Path("runs/segment"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--widths", type=str, default="8,16,32,64,128")
    p.add_argument("--long-side", type=int, default=WORKING_LONG_SIDE_PX)
    p.add_argument("--max-pages", type=int, default=None, help="use only the first N train pages")
    p.add_argument("--val-pages", type=int, default=24, help="val pages scored during training")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--load-workers", type=int, default=2, help="processes that load pages")
    p.add_argument("--crop-workers", type=int, default=0,
                   help="processes that draw crops (0: this process, one random stream)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    p.add_argument("--time-limit-min", type=float, default=None,
                   help="stop early (and finish normally) after this many minutes of training")
    p.add_argument("--stop-after", type=int, default=None,
                   help="end this invocation at this step (the schedule still spans --steps); "
                        "rerun the command to continue")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these weights (a checked .pt with its sha256 sidecar) "
                        "instead of random ones: a second, fine-tuning stage")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.crop < 16 or args.crop_workers < 0:
        p.error(f"need steps >= 1, batch >= 1, crop >= 16, crop workers >= 0; found {args.steps}, "
                f"{args.batch}, {args.crop}, {args.crop_workers}")
    return args


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 2% of `base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def validate(model: UNet, pages: list[Page]) -> dict[str, Any]:
    """Whole-page scores at working resolution (float32, on the model's device): per-class
    IoU and Dice, pixel accuracy."""
    k = model.config.num_classes
    conf = np.zeros((k, k), np.int64)
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for page in pages:
            h, w = page.labels.shape
            x = to_tensor(pad_to_multiple(page.image, model.config.stride)[None], device)
            pred = model(x)[0, :, :h, :w].argmax(0).cpu().numpy()
            conf += confusion(pred, page.labels, k)
    model.train(was_training)
    iou, dice = iou_dice(conf)
    return {
        "pages": len(pages),
        "iou": {c: round(float(v), 4) for c, v in zip(SEGMENTATION_CLASSES, iou)},
        "dice": {c: round(float(v), 4) for c, v in zip(SEGMENTATION_CLASSES, dice)},
        "pixel_accuracy": round(float(np.trace(conf) / max(conf.sum(), 1)), 4),
    }


Batch = tuple[torch.Tensor, torch.Tensor]


def stream_batches(sampler: CropSampler, rng: np.random.Generator, batch: int) -> Iterator[Batch]:
    """Batches drawn in this process from one generator, each only when asked for (so `rng`'s
    state at a checkpoint is that after the batches trained on)."""
    while True:
        images, labels = sampler.batch(batch, rng)
        yield torch.from_numpy(images), torch.from_numpy(labels)


def train_steps(model: UNet, optimizer: torch.optim.Optimizer, batches: Iterator[Batch],
                weights: torch.Tensor, start: int, stop: int, total: int, base_lr: float,
                warmup: int) -> list[float]:
    """Run steps [start, stop) on the next stop - start batches (images (B, H, W, 3) uint8,
    labels (B, H, W) uint8) on the model's device: returns the loss of each step."""
    losses = []
    device = weights.device
    model.train()
    for step in range(start, stop):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, base_lr, warmup)
        images, labels = next(batches)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(normalised(images.to(device, non_blocking=True)))
            loss = dice_ce_loss(logits.float(), labels.to(device, non_blocking=True).long(), weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def _checkpoint(path: Path, model: UNet, optimizer: torch.optim.Optimizer, step: int,
                rng: np.random.Generator, elapsed_s: float, history: list[dict[str, Any]]) -> None:
    state = {
        "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "numpy_rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
        "elapsed_s": elapsed_s, "history": json.dumps(history),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) a training run; returns the final metrics."""
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    widths = tuple(int(w) for w in args.widths.split(","))
    args.run_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train_pages = load_pages(args.data, "train", args.long_side, args.max_pages, args.load_workers)
    val_pages = load_pages(args.data, "val", args.long_side, workers=args.load_workers)
    freq = class_frequencies(train_pages)
    cw = class_weights_from_frequencies(freq)
    log.info("loaded %d train / %d val pages in %.0f s; class freq %s; weights %s",
             len(train_pages), len(val_pages), time.perf_counter() - t0,
             np.round(freq, 4).tolist(), np.round(cw, 3).tolist())
    val_subset = val_pages[:: max(1, len(val_pages) // args.val_pages)][: args.val_pages]

    model = UNet(UNetConfig(widths=widths))
    init_info: dict[str, Any] | None = None
    if args.init is not None:
        loaded = load_weights(args.init)
        if loaded.model.config != model.config or loaded.working_long_side_px != args.long_side:
            raise ValueError(f"--init {args.init}: expected widths {widths} and long side "
                             f"{args.long_side}, found {loaded.model.config.widths} and "
                             f"{loaded.working_long_side_px}")
        model.load_state_dict(loaded.model.state_dict())
        init_info = {"path": str(args.init), "sha256": loaded.sha256, "version": loaded.version,
                     "steps": loaded.meta.get("steps"), "command": loaded.meta.get("command")}
        log.info("initialised from %s (%s)", args.init, loaded.version)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sampler = CropSampler(train_pages, args.crop)
    weights = torch.tensor(cw, dtype=torch.float32, device=device)
    step, elapsed, history = 0, 0.0, []
    ckpt = args.run_dir / "checkpoint.pt"
    if ckpt.is_file() and not args.no_resume:
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"].cpu())
        step, elapsed, history = int(state["step"]), float(state["elapsed_s"]), json.loads(state["history"])
        log.info("resumed from %s at step %d (%.0f s trained)", ckpt, step, elapsed)
    log.info("UNet widths %s: %d parameters, on %s", widths, parameter_count(model), device)

    version_base = f"unet{'-'.join(map(str, widths))}-s{args.long_side}-seed{args.seed}"
    if init_info is not None:
        version_base += f"-ft{init_info['sha256'][:8]}"
    start_wall = time.perf_counter()
    chunk = math.gcd(args.ckpt_every, args.val_every)
    recent: list[float] = []
    end = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    batches: Iterator[Batch] = (
        iter(parallel_batches(sampler, args.batch, args.seed, step, end, args.crop_workers))
        if args.crop_workers else stream_batches(sampler, rng, args.batch))
    while step < end:
        if args.time_limit_min is not None and time.perf_counter() - start_wall > args.time_limit_min * 60:
            log.info("time limit of %.1f min reached at step %d", args.time_limit_min, step)
            break
        stop = min(end, (step // chunk + 1) * chunk)
        t = time.perf_counter()
        recent += train_steps(model, optimizer, batches, weights, step, stop, args.steps,
                              args.lr, args.warmup)
        dt = time.perf_counter() - t
        elapsed += dt
        log.info("step %d loss %.4f (mean of last %d) lr %.2e %.2f s/step", stop,
                 float(np.mean(recent[-chunk:])), min(chunk, len(recent)),
                 lr_at(stop - 1, args.steps, args.lr, args.warmup), dt / (stop - step))
        step = stop
        if step % args.val_every == 0 or step == end:
            scores = validate(model, val_subset)
            history.append({"step": step, "loss": float(np.mean(recent)), **scores})
            recent = []
            log.info("val step %d: iou %s", step, scores["iou"])
            save_weights(model, args.run_dir / f"segmenter_step{step}.pt", f"{version_base}-step{step}",
                         args.long_side, {"step": step, "val_subset": scores})
        if step % args.ckpt_every == 0 or step == end:
            _checkpoint(ckpt, model, optimizer, step, rng, elapsed, history)

    final = validate(model, val_pages)
    log.info("final val (%d pages): iou %s dice %s", final["pages"], final["iou"], final["dice"])
    meta = {
        "command": "python -m pipeline.train " + " ".join(sys.argv[1:]),
        "steps": step, "batch": args.batch, "crop": args.crop, "seed": args.seed, "lr": args.lr,
        "device": device.type, "crop_workers": args.crop_workers,
        "train_pages": len(train_pages), "val_pages": len(val_pages),
        "class_frequencies": np.round(freq, 5).tolist(), "class_weights": np.round(cw, 4).tolist(),
        "train_seconds": round(elapsed, 1), "parameters": parameter_count(model),
        "val": final, "history": history, "init": init_info,
    }
    digest = save_weights(model, args.out, f"{version_base}-step{step}", args.long_side, meta)
    meta["sha256"] = digest
    meta["out"] = str(args.out)
    return meta


def main(argv: list[str] | None = None) -> int:
    """Entry point: train, then print the metrics JSON on stdout."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    metrics = train(parse_args(argv))
    print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
