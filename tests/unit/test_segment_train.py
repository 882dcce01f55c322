"""Segmenter training: crops, augmentation, loss, and the train command end to end on a tiny
drawn dataset (white page, grid lines, text blocks, a sine-wave trace; seeded)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.segment import Segmenter
from pipeline.segment.augment import augment
from pipeline.segment.data import (
    CropSampler,
    class_frequencies,
    load_pages,
    parallel_batches,
    record_of,
)
from pipeline.segment.loss import (
    class_weights_from_frequencies,
    confusion,
    dice_ce_loss,
    iou_dice,
)
from pipeline.segment.model import UNet, UNetConfig
from pipeline.segment.preprocess import BACKGROUND, GRID, TEXT, TRACE, to_tensor
from pipeline.segment.weights import load_weights, sha256_of
from pipeline.synth.splits import split_of
from pipeline.train import lr_at, main, parse_args, train

#: Record names of each split (names only; the drawn pages carry no real signal).
RECORDS = {s: [f"{i:05d}_hr" for i in range(60) if split_of(f"{i:05d}_hr") == s] for s in ("train", "val")}


def _drawn_page(rng: np.random.Generator, h: int = 240, w: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 page and its (H, W) uint8 class mask."""
    mask = np.zeros((h, w), np.uint8)
    step = int(rng.integers(8, 12))
    mask[::step, :] = GRID
    mask[:, ::step] = GRID
    y0 = int(rng.integers(10, h - 40))
    mask[y0:y0 + 10, 20:60] = TEXT
    xs = np.arange(w)
    ys = (h / 2 + (h / 6) * np.sin(xs / rng.uniform(8, 20))).astype(int)
    for dy in (0, 1):
        mask[np.clip(ys + dy, 0, h - 1), xs] = TRACE
    colours = {BACKGROUND: (255, 255, 255), GRID: (235, 120, 120), TEXT: (60, 60, 60), TRACE: (0, 0, 0)}
    image = np.zeros((h, w, 3), np.uint8)
    for cls, rgb in colours.items():
        image[mask == cls] = rgb
    return image, mask


def _write_dataset(root: Path, n_train: int = 4, n_val: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        d = root / split
        d.mkdir(parents=True)
        for i in range(n):
            image, mask = _drawn_page(rng)
            stem = f"page{i:03d}"
            cv2.imwrite(str(d / f"{stem}.png"), image[:, :, ::-1])
            cv2.imwrite(str(d / f"{stem}_mask.png"), mask)
            (d / f"{stem}.json").write_text(json.dumps({"record": RECORDS[split][i]}))
    return root


def test_record_of_finds_nested_names() -> None:
    assert record_of({"record": "00001_hr"}) == "00001_hr"
    assert record_of({"conditions": {"record_name": "00004_hr"}}) == "00004_hr"
    with pytest.raises(ValueError, match="names no source record"):
        record_of({"dpi": 200})


def test_load_pages_checks_split_and_caches(tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "ds")
    pages = load_pages(data, "train", long_side_px=160)
    assert len(pages) == 4 and pages[0].image.shape == (120, 160, 3)
    assert (data / "train" / ".work160" / "page000_labels.png").is_file()
    again = load_pages([data], "train", long_side_px=160, workers=2)
    np.testing.assert_array_equal(again[0].labels, pages[0].labels)
    np.testing.assert_array_equal(again[3].image, pages[3].image)
    freq = class_frequencies(pages)
    assert freq.shape == (4,) and freq.sum() == pytest.approx(1.0) and freq[TRACE] > 0
    # a page whose record belongs to another split is refused
    (data / "train" / "page000.json").write_text(json.dumps({"record": RECORDS["val"][0]}))
    with pytest.raises(ValueError, match="belongs to split 'val'"):
        load_pages(data, "train", long_side_px=96)


def test_crops_and_augmentation_shapes_and_seeding(tmp_path: Path) -> None:
    pages = load_pages(_write_dataset(tmp_path / "ds"), "train", long_side_px=160)
    sampler = CropSampler(pages, crop=64)
    a_img, a_lab = sampler.batch(3, np.random.default_rng(5))
    b_img, b_lab = sampler.batch(3, np.random.default_rng(5))
    assert a_img.shape == (3, 64, 64, 3) and a_img.dtype == np.uint8
    assert a_lab.shape == (3, 64, 64) and int(a_lab.max()) <= TRACE
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    image, labels = augment(a_img[0], a_lab[0], np.random.default_rng(1))
    assert image.shape == (64, 64, 3) and labels.shape == (64, 64)


def test_loss_and_scores() -> None:
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 4] = TRACE
    perfect = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float() * 20
    w = torch.ones(4)
    assert float(dice_ce_loss(perfect, labels, w)) < 0.05
    assert float(dice_ce_loss(torch.zeros(1, 4, 8, 8), labels, w)) > 1.0
    with pytest.raises(ValueError, match="class_weights"):
        dice_ce_loss(perfect, labels, torch.ones(3))
    conf = confusion(np.array([0, 1, 1, 3]), np.array([0, 1, 3, 3]), 4)
    iou, dice = iou_dice(conf)
    assert iou[0] == 1.0 and iou[1] == pytest.approx(0.5) and iou[3] == pytest.approx(0.5)
    assert np.isnan(iou[2]) and dice[1] == pytest.approx(2 / 3)
    cw = class_weights_from_frequencies(np.array([0.8, 0.15, 0.01, 0.04]))
    assert cw[0] < cw[1] < cw[3] < cw[2]


def test_a_few_training_steps_reduce_the_loss() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images, masks = zip(*[_drawn_page(rng, 64, 64) for _ in range(4)])
    x = to_tensor(np.stack(images))
    y = torch.from_numpy(np.stack(masks)).long()
    model = UNet(UNetConfig(widths=(8, 16, 32)))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    w = torch.tensor([0.5, 1.0, 2.0, 2.0])
    losses = []
    for _ in range(15):
        loss = dice_ce_loss(model(x), y, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_lr_schedule() -> None:
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.02, abs=1e-3)


def test_train_command_writes_loadable_weights_and_resumes(tmp_path: Path, capsys) -> None:
    data = _write_dataset(tmp_path / "ds")
    out = tmp_path / "w" / "seg.pt"
    argv = ["--data", str(data), "--out", str(out), "--run-dir", str(tmp_path / "run"),
            "--steps", "4", "--batch", "2", "--crop", "32", "--seed", "3", "--widths", "4,8",
            "--long-side", "96", "--val-every", "2", "--ckpt-every", "2", "--threads", "1",
            "--load-workers", "1"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 4 and set(printed["val"]["iou"]) == {"background", "grid", "text", "trace"}
    seg = Segmenter(out, device="cpu")
    assert seg.weights_sha256 == printed["sha256"] and seg.version.endswith("step4")
    (maps,) = seg.segment([np.full((100, 150, 3), 255, np.uint8)])
    assert maps.probs.shape == (4, 64, 96)
    assert (tmp_path / "run" / "segmenter_step2.pt").is_file()
    # same command again: resumes at the final checkpoint, trains nothing more, same weights
    before = Segmenter(out, device="cpu")._model.state_dict()
    again = train(parse_args(argv))
    assert again["steps"] == 4
    after = Segmenter(out, device="cpu")._model.state_dict()
    for k in before:
        torch.testing.assert_close(before[k], after[k])
    # a fine-tuning stage starts from those weights and records where it came from
    init_sha = sha256_of(out)
    tuned = train(parse_args(argv[:2] + ["--out", str(tmp_path / "ft.pt"), "--run-dir",
                                         str(tmp_path / "run_ft"), "--init", str(out)] + argv[6:]))
    assert tuned["init"]["sha256"] == init_sha and tuned["steps"] == 4
    assert "-ft" in Segmenter(tmp_path / "ft.pt", device="cpu").version


def test_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "ds")
    common = ["--data", str(data), "--batch", "2", "--crop", "32", "--seed", "1", "--widths", "4,8",
              "--long-side", "96", "--val-every", "2", "--ckpt-every", "2", "--threads", "1",
              "--load-workers", "1"]
    whole = train(parse_args(common + ["--steps", "4", "--out", str(tmp_path / "a.pt"),
                                       "--run-dir", str(tmp_path / "ra")]))
    run_b = ["--out", str(tmp_path / "b.pt"), "--run-dir", str(tmp_path / "rb")]
    first = train(parse_args(common + ["--steps", "4", "--stop-after", "2"] + run_b))
    assert first["steps"] == 2
    resumed = train(parse_args(common + ["--steps", "4"] + run_b))
    assert resumed["steps"] == 4 and resumed["val"] == whole["val"]
    a, b = load_weights(tmp_path / "a.pt").model, load_weights(tmp_path / "b.pt").model
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(pa, pb, msg=name)


def test_parallel_batches_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    pages = load_pages(_write_dataset(tmp_path / "ds"), "train", long_side_px=96)
    sampler = CropSampler(pages, crop=32)
    alone = list(parallel_batches(sampler, 2, seed=4, start=3, stop=8, workers=0))
    shared = list(parallel_batches(sampler, 2, seed=4, start=3, stop=8, workers=2))
    assert len(alone) == len(shared) == 5
    for (ai, al), (bi, bl) in zip(alone, shared):
        torch.testing.assert_close(ai, bi)
        torch.testing.assert_close(al, bl)
    # batch 5 of a run resumed at step 5 is batch 5 of the whole run
    resumed = next(iter(parallel_batches(sampler, 2, seed=4, start=5, stop=8, workers=0)))
    torch.testing.assert_close(resumed[0], alone[2][0])
    assert not torch.equal(alone[0][0], alone[1][0])


def test_resume_with_crop_workers_matches_uninterrupted_run(tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "ds")
    common = ["--data", str(data), "--batch", "2", "--crop", "32", "--seed", "1", "--widths", "4,8",
              "--long-side", "96", "--val-every", "2", "--ckpt-every", "2", "--threads", "1",
              "--load-workers", "1", "--device", "cpu"]
    whole = train(parse_args(common + ["--steps", "4", "--crop-workers", "2",
                                       "--out", str(tmp_path / "a.pt"), "--run-dir", str(tmp_path / "ra")]))
    run_b = ["--out", str(tmp_path / "b.pt"), "--run-dir", str(tmp_path / "rb")]
    train(parse_args(common + ["--steps", "4", "--stop-after", "2", "--crop-workers", "1"] + run_b))
    resumed = train(parse_args(common + ["--steps", "4", "--crop-workers", "3"] + run_b))
    assert whole["crop_workers"] == 2 and resumed["steps"] == 4 and resumed["val"] == whole["val"]
    a, b = load_weights(tmp_path / "a.pt").model, load_weights(tmp_path / "b.pt").model
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(pa, pb, msg=name)
