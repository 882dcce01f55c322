"""Loss and scores for segmentation: weighted cross-entropy + soft Dice; IoU and Dice per class."""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def dice_ce_loss(logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor,
                 dice_weight: float = 1.0, eps: float = 1.0) -> torch.Tensor:
    """Weighted cross-entropy plus (1 - mean soft Dice over classes).

    logits: (B, K, H, W) float; labels: (B, H, W) int64 in [0, K); class_weights: (K,) float.
    Returns a scalar tensor.
    """
    if logits.ndim != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits (B, K, H, W) and labels (B, H, W) expected; found "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    k = logits.shape[1]
    if class_weights.shape != (k,):
        raise ValueError(f"class_weights must have shape ({k},); found {tuple(class_weights.shape)}")
    ce = F.cross_entropy(logits, labels, weight=class_weights)
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(labels, k).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    dice = (2 * inter + eps) / (total + eps)
    return ce + dice_weight * (1 - dice.mean())


def confusion(pred: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """(K, K) int64 counts, rows = truth class, columns = predicted class."""
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth shapes must match; found {pred.shape} and {truth.shape}")
    idx = truth.astype(np.int64).ravel() * k + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=k * k).reshape(k, k)


def iou_dice(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU and Dice (K,) float64 from a confusion matrix; NaN for absent classes."""
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    return iou, dice


def class_weights_from_frequencies(freq: np.ndarray, power: float = 0.5,
                                   lo: float = 0.2, hi: float = 10.0) -> np.ndarray:
    """(K,) weights (median frequency / frequency) ** power, clipped to [lo, hi]."""
    freq = np.maximum(np.asarray(freq, np.float64), 1e-6)
    return np.clip((np.median(freq) / freq) ** power, lo, hi)
