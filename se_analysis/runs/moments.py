"""Streaming gate statistics: memory grows with classes x channels, never with images.

:class:`GateMoments` is updated batch by batch (during extraction, or over a Run's arrays in
row chunks) with per (block, class) counts, means and sums of squared deviations, merged with
Chan et al.'s parallel formula (numerically stable, unlike sum / sum of squares), plus per
block the counts of saturated gates and a fine histogram for quantiles. Summaries from
different processes merge exactly.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["GateMoments", "HIST_BINS", "CONSTANT_STD"]

HIST_BINS = 2000  # quantiles to 1 / 2000 = 0.0005
CONSTANT_STD = 1e-6  # a channel whose gate varies less than this over all images is constant


class GateMoments:
    """Running statistics of gate values per block and class.

    Args:
        channels: block name -> C, in forward order.
        num_classes: K; images with class -1 count only towards the block-wide numbers.
    """

    def __init__(self, channels: Mapping[str, int], num_classes: int, high: float = 0.9, low: float = 0.1) -> None:
        self.blocks = list(channels)
        self.k = num_classes
        self.high, self.low = high, low
        self.n = np.zeros(num_classes)
        self.mean = {b: np.zeros((num_classes, c)) for b, c in channels.items()}
        self.m2 = {b: np.zeros((num_classes, c)) for b, c in channels.items()}
        self.all_n = 0
        self.all_mean = {b: np.zeros(c) for b, c in channels.items()}
        self.all_m2 = {b: np.zeros(c) for b, c in channels.items()}
        self.n_high = dict.fromkeys(channels, 0)
        self.n_low = dict.fromkeys(channels, 0)
        self.n_zero = dict.fromkeys(channels, 0)  # exactly 0 and exactly 1 (hard-sigmoid gates reach both)
        self.n_one = dict.fromkeys(channels, 0)
        self.n_nonfinite = dict.fromkeys(channels, 0)  # NaN / inf gates: counted here, never as values
        self.hist = {b: np.zeros(HIST_BINS, np.int64) for b in channels}

    @staticmethod
    def _combine(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
        """Chan's update of (count, mean, M2) with another group's (count, mean, M2)."""
        n = n_a + n_b
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n > 0, n_b / np.where(n > 0, n, 1), 0.0)
        delta = mean_b - mean_a
        mean = mean_a + delta * w[..., None] if np.ndim(w) else mean_a + delta * w
        m2 = m2_a + m2_b + (delta**2) * ((n_a * w)[..., None] if np.ndim(w) else n_a * w)
        return n, mean, m2

    def update(self, values: Mapping[str, np.ndarray], classes: np.ndarray) -> None:
        """Add a batch: ``values[block]`` is (B, C); ``classes`` is (B,) with -1 for unlabelled."""
        classes = np.asarray(classes)
        valid = classes >= 0
        nb = np.bincount(classes[valid], minlength=self.k).astype(float)
        batch_n = 0
        with np.errstate(invalid="ignore"):  # NaN gates make NaN means (honest), counted in n_nonfinite
            batch_n = self._update_blocks(values, classes, nb)
        self.all_n += batch_n
        self.n = self.n + nb

    def _update_blocks(self, values: Mapping[str, np.ndarray], classes: np.ndarray, nb: np.ndarray) -> int:
        batch_n = 0
        for block in self.blocks:
            v = np.asarray(values[block], dtype=np.float64)
            if not len(v):
                continue
            batch_n = len(v)
            bm = v.mean(0)  # block-wide, all images
            bm2 = ((v - bm) ** 2).sum(0)
            _, self.all_mean[block], self.all_m2[block] = self._combine(
                self.all_n, self.all_mean[block], self.all_m2[block], batch_n, bm, bm2)
            finite = v[np.isfinite(v)]
            self.n_nonfinite[block] += int(v.size - finite.size)
            self.n_high[block] += int((finite > self.high).sum())
            self.n_low[block] += int((finite < self.low).sum())
            self.n_zero[block] += int((finite == 0.0).sum())
            self.n_one[block] += int((finite == 1.0).sum())
            self.hist[block] += np.bincount(np.clip((finite * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1),
                                            minlength=HIST_BINS)
            cm, cm2 = self._class_moments(v, classes, self.mean[block].shape)
            _, self.mean[block], self.m2[block] = self._combine(self.n, self.mean[block], self.m2[block], nb, cm, cm2)
        return batch_n

    @staticmethod
    def _class_moments(v: np.ndarray, classes: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per class mean and sum of squared deviations of a batch, (K, C) each (0 for absent classes).

        Rows are sorted by class once and summed per run of equal classes (``np.add.reduceat``), so a
        batch costs the same at 1000 classes as at 10; deviations are taken from each class's own mean
        (two passes), as stable as the per-class loop it replaces.
        """
        cm, cm2 = np.zeros(shape), np.zeros(shape)
        valid = classes >= 0
        if not valid.any():
            return cm, cm2
        cv, vv = classes[valid], v[valid]
        order = np.argsort(cv, kind="stable")
        cs, vs = cv[order], vv[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        counts = np.diff(np.r_[starts, len(cs)])
        means = np.add.reduceat(vs, starts, axis=0) / counts[:, None]
        dev = vs - np.repeat(means, counts, axis=0)
        cm[cs[starts]] = means
        cm2[cs[starts]] = np.add.reduceat(dev * dev, starts, axis=0)
        return cm, cm2

    def merge(self, other: "GateMoments") -> "GateMoments":
        """Fold another summary of the same blocks and classes into this one (e.g. another process's)."""
        for b in self.blocks:
            _, self.mean[b], self.m2[b] = self._combine(self.n, self.mean[b], self.m2[b], other.n, other.mean[b],
                                                        other.m2[b])
            _, self.all_mean[b], self.all_m2[b] = self._combine(self.all_n, self.all_mean[b], self.all_m2[b],
                                                                other.all_n, other.all_mean[b], other.all_m2[b])
            for counts in ("n_high", "n_low", "n_zero", "n_one", "n_nonfinite"):
                getattr(self, counts)[b] += getattr(other, counts)[b]
            self.hist[b] += other.hist[b]
        self.n = self.n + other.n
        self.all_n += other.all_n
        return self

    @classmethod
    def from_arrays(cls, gates: Mapping[str, np.ndarray], classes: np.ndarray, num_classes: int,
                    blocks: Sequence[str] | None = None, chunk: int = 4096, high: float = 0.9,
                    low: float = 0.1) -> "GateMoments":
        """Stream stored (N, C) arrays through a summary, ``chunk`` rows at a time."""
        blocks = list(blocks or gates)
        s = cls({b: gates[b].shape[1] for b in blocks}, num_classes, high, low)
        n = len(classes)
        for start in range(0, n, chunk):
            s.update({b: gates[b][start:start + chunk] for b in blocks}, classes[start:start + chunk])
        return s

    # -- results ---------------------------------------------------------------------------
    def class_std(self, block: str) -> np.ndarray:
        """Per class standard deviation (population), (K, C); NaN for classes without images."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.m2[block] / self.n[:, None])

    def all_std(self, block: str) -> np.ndarray:
        """Standard deviation over all images (population), (C,)."""
        return np.sqrt(self.all_m2[block] / max(self.all_n, 1))

    def _sums_of_squares(self, block: str) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(between-class SS (C,), within-class SS (C,), labelled images N, present classes K)."""
        present = self.n > 0
        n = self.n[present]
        means = self.mean[block][present]
        mu = (n[:, None] * means).sum(0) / max(n.sum(), 1)
        between = (n[:, None] * (means - mu) ** 2).sum(0)
        return between, self.m2[block][present].sum(0), int(n.sum()), int(present.sum())

    def constant(self, block: str) -> np.ndarray:
        """(C,) bool: channels whose labelled gates vary by less than :data:`CONSTANT_STD` (e.g. stuck at 1.0)."""
        between, within, n, _ = self._sums_of_squares(block)
        return (between + within) <= n * CONSTANT_STD**2

    def specificity(self, block: str) -> np.ndarray:
        """Eta squared per channel: between-class over total sum of squares (labelled images only).

        A constant channel gives every class the same gate, so its specificity is 0 (never a ratio
        of rounding noise); :meth:`constant` says which they are. NaN without labelled images.
        """
        between, within, n, _ = self._sums_of_squares(block)
        if n == 0:
            return np.full(self.mean[block].shape[1], np.nan)
        total = between + within
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.constant(block), 0.0, np.clip(between / total, 0.0, 1.0))

    def specificity_omega2(self, block: str) -> np.ndarray:
        """Omega squared per channel: eta squared corrected for its upward bias of about (K-1)/(N-1).

        ``(SS_between - (K-1) MS_within) / (SS_total + MS_within)`` with ``MS_within = SS_within / (N-K)``;
        about 0 (it may go below) when class explains nothing. NaN when N <= K.
        """
        between, within, n, k = self._sums_of_squares(block)
        if n <= k or k < 2:
            return np.full(self.mean[block].shape[1], np.nan)
        ms_within = within / (n - k)
        with np.errstate(invalid="ignore", divide="ignore"):
            w2 = (between - (k - 1) * ms_within) / (between + within + ms_within)
        return np.where(self.constant(block), 0.0, w2)

    def chance_specificity(self) -> float:
        """Expected eta squared when class explains nothing: (K-1)/(N-1) for K classes and N images."""
        n, k = float(self.n.sum()), int((self.n > 0).sum())
        return (k - 1) / (n - 1) if n > 1 and k > 0 else np.nan

    def quantiles(self, block: str, qs: Sequence[float]) -> np.ndarray:
        """Quantiles of all gate values of a block, from the histogram (to 1 / HIST_BINS)."""
        h = self.hist[block]
        total = h.sum()
        if total == 0:
            return np.full(len(qs), np.nan)
        cdf = np.cumsum(h) / total
        zero, one = self.n_zero[block] / total, self.n_one[block] / total  # exact values at the ends
        return np.array([0.0 if q <= zero else 1.0 if q >= 1 - one else (np.searchsorted(cdf, q) + 0.5) / HIST_BINS
                         for q in qs])

    def saturation(self, block: str) -> tuple[float, float]:
        """(share of gate values above ``high``, share below ``low``) over all images and channels."""
        size = self.all_n * self.mean[block].shape[1]
        return (self.n_high[block] / size, self.n_low[block] / size) if size else (np.nan, np.nan)

    # -- storage -------------------------------------------------------------------------------
    def to_arrays(self, prefix: str = "moments") -> dict[str, np.ndarray]:
        """Flat arrays (for safetensors) that :meth:`from_stored` reads back."""
        p = prefix
        out = {f"{p}/n": self.n, f"{p}/all_n": np.array([self.all_n], np.float64),
               f"{p}/thresholds": np.array([self.high, self.low])}
        for b in self.blocks:
            out.update({f"{p}/{b}/mean": self.mean[b], f"{p}/{b}/m2": self.m2[b],
                        f"{p}/{b}/all_mean": self.all_mean[b], f"{p}/{b}/all_m2": self.all_m2[b],
                        f"{p}/{b}/sat": np.array([self.n_high[b], self.n_low[b]], np.int64),
                        f"{p}/{b}/exact": np.array([self.n_zero[b], self.n_one[b], self.n_nonfinite[b]], np.int64),
                        f"{p}/{b}/hist": self.hist[b]})
        return out

    @classmethod
    def from_stored(cls, arrays: Mapping[str, np.ndarray], blocks: Sequence[str], prefix: str = "moments"
                    ) -> "GateMoments":
        """The moments that :meth:`to_arrays` wrote under ``prefix``, for the named blocks."""
        p = prefix
        high, low = arrays[f"{p}/thresholds"]
        s = cls({b: arrays[f"{p}/{b}/mean"].shape[1] for b in blocks}, len(arrays[f"{p}/n"]), high, low)
        s.n = arrays[f"{p}/n"].astype(np.float64)
        s.all_n = int(arrays[f"{p}/all_n"][0])
        for b in blocks:
            s.mean[b], s.m2[b] = arrays[f"{p}/{b}/mean"], arrays[f"{p}/{b}/m2"]
            s.all_mean[b], s.all_m2[b] = arrays[f"{p}/{b}/all_mean"], arrays[f"{p}/{b}/all_m2"]
            s.n_high[b], s.n_low[b] = (int(v) for v in arrays[f"{p}/{b}/sat"])
            if f"{p}/{b}/exact" in arrays:  # runs saved before these counts existed lack them
                s.n_zero[b], s.n_one[b], s.n_nonfinite[b] = (int(v) for v in arrays[f"{p}/{b}/exact"])
            s.hist[b] = arrays[f"{p}/{b}/hist"].astype(np.int64)
        return s
