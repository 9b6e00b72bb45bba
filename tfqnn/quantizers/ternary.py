"""EC2T: entropy-constrained trained ternarization (Marban, Becking et al., CVPRW 2020, arXiv:2004.01077).

Pure float32 TensorFlow kernels of the challenge code's quantizer ([MC] ``quantizer.py``; spec
``ec2t.md`` §1). Cluster index convention: 0 = negative centroid ``-w_n``, 1 = zero, 2 = ``+w_p``.

* :func:`distances` — ``d_c(w) = (C_c - w)^2`` (spec §1.3 step 1).
* :func:`argmin3` — argmin over the 3 clusters with the explicit lowest-index tie-break (pitfall P3).
* :func:`cluster_pmf` — counts of the preliminary assignment, empty cluster counted as 1, sequential
  renormalisation to the sparsity floor ``P_zero >= 0.5`` (§1.3 steps 3–4, pitfall P4).
* :func:`ec2t_quantize` — cost ``J_c = d_c + λ·I_c`` with ``λ = min(λn_max, λp_max)·λ_div·δ`` (§1.3 6–8).
* :func:`ternarize` — ``T = w_p[A=2] - w_n[A=0]`` (or ``W[A≠1]`` for do-prune) with the TTQ-style
  gradients of §1.5, including the reference's ``+`` sign of the ``w_n`` gradient (pitfall P1).
* :func:`clamp_centroids` — ``w <- max(w, 0.675·std_unbiased(W))`` (§1.6, pitfall P5).
* :func:`layer_decay` — δ_l of §1.4 (``"mc"``: ``n_l/max n``; ``"ecnn"``: ``(n_l/max n + 0.05)/1.05``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tfqnn.keras import keras  # noqa: F401  (legacy Keras before TensorFlow)
import tensorflow as tf

from tfqnn.errors import ConfigError

NEG, ZERO, POS = 0, 1, 2
SPARSITY_FLOOR = 0.5
CLAMP_FACTOR = 0.675
DECAY_FORMULAS = ("mc", "ecnn")


def _f32(x) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def centroid_values(w_p, w_n) -> tf.Tensor:
    """``C = [-w_n, 0, +w_p]`` (float32)."""
    w_p, w_n = _f32(w_p), _f32(w_n)
    return tf.stack([-w_n, tf.zeros_like(w_p), w_p])


def distances(w, w_p, w_n) -> tf.Tensor:
    """Squared distances ``(C_c - w)^2``, shape ``w.shape + (3,)`` (spec §1.3 step 1)."""
    w = _f32(w)
    return tf.square(centroid_values(w_p, w_n) - w[..., None])


def argmin3(cost: tf.Tensor) -> tf.Tensor:
    """Argmin over the last axis (size 3) with ties to the lowest index (pitfall P3), int32."""
    j0, j1, j2 = cost[..., 0], cost[..., 1], cost[..., 2]
    neg = tf.logical_and(j0 <= j1, j0 <= j2)
    zero = j1 <= j2
    return tf.where(neg, NEG, tf.where(zero, ZERO, POS))


def cluster_counts(assignment) -> tf.Tensor:
    """Counts of clusters 0/1/2 with an empty cluster counted as 1 (reference quirk, P4), float32."""
    a = tf.reshape(tf.cast(assignment, tf.int32), [-1])
    counts = tf.cast(tf.math.bincount(a, minlength=3, maxlength=3), tf.float32)
    return tf.where(counts > 0, counts, tf.ones_like(counts))


def cluster_pmf(assignment) -> tf.Tensor:
    """``P_c = N_c / numel`` with the sparsity floor and the sequential renormalisation (§1.3 step 4)."""
    numel = tf.cast(tf.size(assignment), tf.float32)
    p = cluster_counts(assignment) / numel
    p0, p1, p2 = p[0], p[1], p[2]
    r = SPARSITY_FLOOR - p1
    below = p1 < SPARSITY_FLOOR
    p0_new = p0 - p0 / (p0 + p2) * r
    p2_new = p2 - p2 / (p0_new + p2) * r  # uses the already updated P_0 (reference quirk)
    return tf.where(below, tf.stack([p0_new, tf.constant(SPARSITY_FLOOR), p2_new]), p)


def information_bits(pmf) -> tf.Tensor:
    """``I_c = -log2 P_c`` (float32)."""
    pmf = _f32(pmf)
    return -tf.math.log(pmf) / tf.math.log(tf.constant(2.0, tf.float32))


@dataclass
class QuantizeResult:
    """Output of :func:`ec2t_quantize` (all tensors float32 except the int32 assignments)."""

    T: tf.Tensor
    assignment: tf.Tensor
    lambda_out: tf.Tensor
    prelim_assignment: tf.Tensor
    pmf: tf.Tensor
    info_bits: tf.Tensor
    lambda_n_max: tf.Tensor
    lambda_p_max: tf.Tensor


def assignment_to_ternary(w, assignment, w_p, w_n, prune: bool = False) -> tf.Tensor:
    """``T = w_p[A=2] - w_n[A=0]``; in do-prune mode ``T = W[A≠1]`` (spec §1.1, §1.8)."""
    a = tf.cast(assignment, tf.int32)
    w = _f32(w)
    if prune:
        return tf.where(tf.equal(a, ZERO), tf.zeros_like(w), w)
    zeros = tf.zeros_like(w)
    return tf.where(tf.equal(a, POS), zeros + _f32(w_p), tf.where(tf.equal(a, NEG), zeros - _f32(w_n), zeros))


def lambda_max(w, w_p, w_n, info: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``λn_max = (a_n² − (w_n − a_n)²)/(I_0 − I_1)``, ``λp_max`` likewise, ``a = |extreme of W|`` (§1.3 6)."""
    w = _f32(w)
    a_n = tf.abs(tf.reduce_min(w))
    a_p = tf.abs(tf.reduce_max(w))
    w_p, w_n = _f32(w_p), _f32(w_n)
    lam_n = (tf.square(a_n) - tf.square(w_n - a_n)) / (info[0] - info[1])
    lam_p = (tf.square(a_p) - tf.square(w_p - a_p)) / (info[2] - info[1])
    return lam_n, lam_p


def ec2t_quantize(w, w_p, w_n, lambda_max_divider, lambda_in, decay, prune: bool = False) -> QuantizeResult:
    """Entropy-constrained assignment of one layer (spec §1.3).

    ``lambda_in == 0`` selects the nearest-neighbour path (returned λ = 0); any other value the
    entropy path ``A = argmin_c d_c(w) + λ·I_c``. Intermediates are always computed.
    """
    w = _f32(w)
    d = distances(w, w_p, w_n)
    prelim = argmin3(d)
    pmf = cluster_pmf(prelim)
    info = information_bits(pmf)
    lam_n, lam_p = lambda_max(w, w_p, w_n, info)
    lam = tf.where(lam_p < lam_n, lam_p, lam_n) * _f32(lambda_max_divider) * _f32(decay)
    entropy = tf.not_equal(_f32(lambda_in), 0.0)
    lam = tf.where(entropy, lam, tf.zeros_like(lam))
    assignment = tf.where(entropy, argmin3(d + lam * info), prelim)
    t = assignment_to_ternary(w, assignment, w_p, w_n, prune)
    return QuantizeResult(t, assignment, lam, prelim, pmf, info, lam_n, lam_p)


def nearest_assignment(w, w_p, w_n) -> tf.Tensor:
    """λ = 0 path: ``A = argmin_c (C_c - W)²`` (initial assignment, §1.2)."""
    return argmin3(distances(w, w_p, w_n))


def initial_centroids(w, ini_c_divider: float) -> tuple[tf.Tensor, tf.Tensor]:
    """``w_p0 = |max W|·s``, ``w_n0 = |min W|·s`` (spec §1.2; abs of the extremes, not max|W|)."""
    w = _f32(w)
    s = _f32(ini_c_divider)
    return tf.abs(tf.reduce_max(w)) * s, tf.abs(tf.reduce_min(w)) * s


def reference_grads(g, assignment, w_p, w_n) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """TTQ-style gradients of §1.5: ``(dW, dw_p, dw_n)`` from ``g = ∂L/∂T``.

    ``dW = w_p·g [A=2], w_n·g [A=0], g [A=1]``; ``dw_p = Σ_{A=2} g``; ``dw_n = +Σ_{A=0} g`` (the
    reference sign, pitfall P1; the exact derivative would be ``-Σ``).
    """
    g = _f32(g)
    a = tf.cast(assignment, tf.int32)
    pos, neg = tf.equal(a, POS), tf.equal(a, NEG)
    scale = tf.where(pos, _f32(w_p), tf.where(neg, _f32(w_n), tf.constant(1.0)))
    zeros = tf.zeros_like(g)
    return g * scale, tf.reduce_sum(tf.where(pos, g, zeros)), tf.reduce_sum(tf.where(neg, g, zeros))


def ternarize(w, centroids, assignment, prune: bool = False) -> tf.Tensor:
    """Forward ``T(W, [w_p, w_n], A)`` with the reference backward (:func:`reference_grads`).

    ``centroids`` is the per-layer vector ``[w_p, w_n]``; ``A`` gets no gradient. In do-prune mode
    the forward is ``W[A≠1]`` and the backward still scales by ``w_p``/``w_n`` (reference quirk §1.8).
    """
    a = tf.stop_gradient(tf.cast(assignment, tf.int32))

    @tf.custom_gradient
    def _fn(w_, c_):
        t = assignment_to_ternary(w_, a, c_[0], c_[1], prune)

        def grad(g):
            dw, dp, dn = reference_grads(g, a, c_[0], c_[1])
            return dw, tf.stack([dp, dn])

        return t, grad

    return _fn(_f32(w), _f32(centroids))


def unbiased_std(w) -> tf.Tensor:
    """``torch.std`` default: the (N−1) standard deviation, float32."""
    w = tf.reshape(_f32(w), [-1])
    n = tf.cast(tf.size(w), tf.float32)
    mean = tf.reduce_mean(w)
    return tf.sqrt(tf.reduce_sum(tf.square(w - mean)) / (n - 1.0))


def clamp_centroids(w, centroids) -> tuple[tf.Tensor, tf.Tensor]:
    """``[w_p, w_n] <- max([w_p, w_n], 0.675·std_unbiased(W))``; returns (clamped, threshold) (§1.6)."""
    threshold = CLAMP_FACTOR * unbiased_std(w)
    return tf.maximum(_f32(centroids), threshold), threshold


def layer_decay(numels: Sequence[int], formula: str = "mc") -> list[float]:
    """Layer-size decay δ_l (spec §1.4): ``"mc"`` challenge, ``"ecnn"`` efficientCNNs (sustain 0.05)."""
    if formula not in DECAY_FORMULAS:
        raise ConfigError(f"unknown EC2T lambda decay formula {formula!r}; allowed: {', '.join(DECAY_FORMULAS)}")
    if not numels:
        return []
    biggest = max(numels)
    ratios = [n / biggest for n in numels]
    if formula == "mc":
        return ratios
    return [(r + 0.05) / 1.05 for r in ratios]
