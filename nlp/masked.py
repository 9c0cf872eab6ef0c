"""A softmax classifier whose loss compares only the classes each example's source can express.

The emotion sets have different label sets (nlpcc2020 and cluemotion2020 have no neutral class).
Merging them with a plain softmax teaches "every nlpcc post is not neutral", so epidemic words
push towards the emotional classes (fear above all). Here the loss of an example is the negative
log of its gold class's probability among the classes its dataset can express (a masked
softmax); at prediction time every class competes. L2-regularized like scikit-learn's
LogisticRegression (objective C * sum_i w_i loss_i + |W|^2 / 2), fitted with L-BFGS.

Needs scipy (train time only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def allowed_classes(
    datasets: Sequence[Sequence[str]],
    label_maps: Mapping[str, Mapping[str, str | None]],
    classes: Sequence[str],
) -> np.ndarray:
    """(n x k) bool: the classes the source datasets of each example can express.

    A dataset with a label map expresses its mapped targets; one without a map expresses every
    class. An example merged from several datasets can express the union."""
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    per_dataset: dict[str, np.ndarray] = {}
    out = np.zeros((len(datasets), k), dtype=bool)
    for row, names in enumerate(datasets):
        for name in names:
            mask = per_dataset.get(name)
            if mask is None:
                mapping = label_maps.get(name)
                mask = np.zeros(k, dtype=bool)
                if mapping is None:
                    mask[:] = True
                else:
                    for target in mapping.values():
                        if target is not None:
                            mask[index[target]] = True
                per_dataset[name] = mask
            out[row] |= mask
    return out


def masked_log_softmax(z: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """log softmax of each row over its allowed columns (-inf elsewhere)."""
    z = np.where(allowed, z, -np.inf)
    m = z.max(axis=1, keepdims=True)
    return np.asarray(z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)))


def fit_masked_softmax(
    X,  # type: ignore[no-untyped-def]  # scipy sparse or dense (n x d)
    y: np.ndarray,
    allowed: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """(W (d x k), b (k)) minimizing C * sum_i w_i * -log p_masked(y_i | x_i) + |W|^2 / 2."""
    from scipy.optimize import minimize

    n, d = X.shape
    k = allowed.shape[1]
    if not allowed[np.arange(n), y].all():
        raise ValueError("an example's gold class is not among its allowed classes")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: d * k].reshape(d, k)
        b = theta[d * k :]
        z = np.asarray(X @ W) + b
        logp = masked_log_softmax(z, allowed)
        loss = -float((w * logp[np.arange(n), y]).sum())
        p = np.where(allowed, np.exp(logp), 0.0)
        g = (p - onehot) * w[:, None]
        gW = np.asarray(X.T @ g) * C + W
        gb = g.sum(axis=0) * C
        value = C * loss + 0.5 * float((W * W).sum())
        return value, np.concatenate([gW.ravel(), gb])

    theta0 = np.zeros(d * k + k)
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return res.x[: d * k].reshape(d, k), res.x[d * k :]


def fit_masked_ovr_svm(
    X,  # type: ignore[no-untyped-def]  # scipy sparse (n x d)
    y: np.ndarray,
    allowed: np.ndarray,
    *,
    C: float = 1.0,
    balanced: bool = True,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(W (d x k), b (k)) of one linear SVM per class (class vs rest, like LinearSVC), where the
    SVM of class c sees only the examples whose source can express c: an nlpcc2020 post (no
    neutral class) is never a negative example of neutral, so epidemic words do not learn
    "not neutral". Same cost as LinearSVC. `balanced` weights each class's positives by
    n / (k * n_c) (LinearSVC's class_weight="balanced"; negatives keep weight 1)."""
    from sklearn.svm import LinearSVC

    n, d = X.shape
    k = allowed.shape[1]
    if not allowed[np.arange(n), y].all():
        raise ValueError("an example's gold class is not among its allowed classes")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    counts = np.bincount(y, minlength=k)
    present = counts > 0
    W = np.zeros((d, k))
    b = np.full(k, -30.0)  # a class no training example has never wins
    for c in np.flatnonzero(present):
        rows = np.flatnonzero(allowed[:, c])
        target = (y[rows] == c).astype(int)
        if target.min() == target.max():
            continue
        pos = n / (int(present.sum()) * counts[c]) if balanced else 1.0
        weight = w[rows] * np.where(target == 1, pos, 1.0)
        svm = LinearSVC(C=C, max_iter=max_iter, random_state=seed)
        svm.fit(X[rows], target, sample_weight=weight)
        W[:, c] = svm.coef_[0]
        b[c] = svm.intercept_[0]
    return W, b
