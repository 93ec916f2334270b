"""Candidate sampling (TF1's ``candidate_sampling_ops``) and the sampled losses built on it
(TF1's ``nn_impl.nce_loss`` / ``sampled_softmax_loss``), with the partitioned
``tf.nn.embedding_lookup`` they use for sharded weights.

The sampler is one op, ``CandidateSampler``, drawing from graphc's counter-based generator
(Philox) like every random op: its k-th run in a session gives the same candidates for the
same seeds on every backend, and a rejected draw in unique mode is just the next element of
the same counter-indexed stream, so the number of draws is data-dependent but the result is
a pure function of (seeds, run counter, range_max, num_sampled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc.frontend.graph import Tensor
from graphc.kernels import philox
from graphc.ops.clip_ops import clip_by_norm
from graphc.ops.common import convert_to_tensor, make_op
from graphc.ops.compare_ops import equal, less
from graphc.ops.concat_ops import concat
from graphc.ops.core_ops import stop_gradient
from graphc.ops.embedding_ops import embedding_lookup as _single_lookup
from graphc.ops.fill_ops import ones_like, zeros_like
from graphc.ops.gather_ops import gather
from graphc.ops.layout_ops import expand_dims, reshape
from graphc.ops.linalg_ops import matmul
from graphc.ops.math_ops import add, cast, floordiv, floormod, log, maximum, multiply, subtract, where
from graphc.ops.nn_common import _scope
from graphc.ops.random_ops import get_seed
from graphc.ops.reduction_ops import reduce_any, reduce_sum
from graphc.ops.slicing_ops import slice as slice_
from graphc.ops.softmax_ops import sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits_v2

__all__ = [
    "embedding_lookup",
    "log_uniform_candidate_sampler",
    "nce_loss",
    "sampled_softmax_loss",
    "uniform_candidate_sampler",
]

_DISTRIBUTIONS = ("log_uniform", "uniform")


# =============================================================================
# The sampler: its NumPy reference is the op's meaning
# =============================================================================
def class_probabilities(distribution: str, classes: np.ndarray, range_max: int) -> np.ndarray:
    """P(k) of one draw (float64). log_uniform (TF1's LogUniformSampler, Zipf-like):
    ``(log(k + 2) - log(k + 1)) / log(range_max + 1)``; uniform: ``1 / range_max``."""
    k = np.asarray(classes, dtype=np.float64)
    if distribution == "log_uniform":
        p = (np.log(k + 2.0) - np.log(k + 1.0)) / np.log(range_max + 1.0)
    else:
        p = np.full(k.shape, 1.0 / range_max)
    # A class outside [0, range_max) is never drawn.
    return np.where((k >= 0) & (k < range_max), p, 0.0)


def _classes_of(distribution: str, u: np.ndarray, range_max: int) -> np.ndarray:
    """Map uniform [0, 1) draws to classes by inverting each distribution's CDF."""
    if distribution == "log_uniform":
        # floor(exp(u * log(range_max + 1))) - 1 has exactly the log-uniform probabilities.
        k = np.floor(np.exp(u * np.log(range_max + 1.0))) - 1.0
    else:
        k = np.floor(u * range_max)
    return np.clip(k, 0, range_max - 1).astype(np.int64)


def _expected_count(p: np.ndarray, num_sampled: int, num_tries: int) -> np.ndarray:
    """TF1's expected count of a class among the sampled candidates: ``p * num_sampled``
    when every draw was kept, else (unique, with rejections) the probability that it was
    drawn at least once in ``num_tries`` draws, ``1 - (1 - p) ** num_tries``."""
    if num_tries == num_sampled:
        return p * num_sampled
    with np.errstate(divide="ignore"):
        return -np.expm1(num_tries * np.log1p(-p))


def sample_candidates(
    distribution: str,
    key: tuple[int, int],
    counter: int,
    num_sampled: int,
    unique: bool,
    range_max: int,
) -> tuple[np.ndarray, int]:
    """The sampled classes (int64, [num_sampled]) and how many draws it took.

    Draw i is element i of Philox's stream for (key, counter), so taking more draws
    (unique mode rejects repeats) never changes the earlier ones."""
    if not unique:
        u = philox.uniform(key, counter, (num_sampled,), np.float64)
        return _classes_of(distribution, u, range_max), num_sampled
    n = max(2 * num_sampled, 16)
    while True:
        draws = _classes_of(distribution, philox.uniform(key, counter, (n,), np.float64), range_max)
        # First occurrence of each class, in draw order: the kept candidates.
        _, first = np.unique(draws, return_index=True)
        first.sort()
        if len(first) >= num_sampled:
            kept = first[:num_sampled]
            num_tries = int(kept[-1]) + 1 if num_sampled else 0
            return draws[kept], num_tries
        n *= 2


def _sampler_ref(ins: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    true_classes = ins[0]
    counter = int(ins[1]) if len(ins) > 1 else 0  # outside a program (never folded) the counter is 0
    key = philox.key_from_seeds(attrs["seed"], attrs["seed2"])
    dist, num_sampled, range_max = attrs["distribution"], attrs["num_sampled"], attrs["range_max"]
    sampled, num_tries = sample_candidates(dist, key, counter, num_sampled, attrs["unique"], range_max)
    true_count = _expected_count(class_probabilities(dist, true_classes, range_max), num_sampled, num_tries)
    sampled_count = _expected_count(class_probabilities(dist, sampled, range_max), num_sampled, num_tries)
    return [sampled, true_count.astype(np.float32), sampled_count.astype(np.float32)]


def _sampler_shape(ctx: reg.InferenceContext) -> list[reg.Shape]:
    s = ctx.shapes[0]
    num_true, num_sampled, range_max = ctx.attrs["num_true"], ctx.attrs["num_sampled"], ctx.attrs["range_max"]
    if num_true < 1 or num_sampled < 0 or range_max < 1:
        raise reg.ShapeError(
            f"need num_true >= 1, num_sampled >= 0 and range_max >= 1, got {num_true}, {num_sampled}, "
            f"{range_max}"
        )
    if ctx.attrs["unique"] and num_sampled > range_max:
        raise reg.ShapeError(
            f"unique sampling of num_sampled={num_sampled} candidates needs range_max >= num_sampled, "
            f"got range_max={range_max}"
        )
    if s is None:
        batch: reg.Shape = (ctx.fresh("b"), num_true)
    else:
        if len(s) != 2:
            raise reg.ShapeError(
                f"true_classes must be a matrix [batch, num_true], got {reg.format_shape(s)}"
            )
        batch = (s[0], ctx.equal(s[1], num_true, "true_classes' columns and num_true"))
    return [(num_sampled,), batch, (num_sampled,)]


def _sampler_dtype(ctx: reg.InferenceContext) -> list[_dt.DType]:
    if ctx.dtypes[0] != _dt.int64:
        raise TypeError(f"true_classes must be int64, got {ctx.dtypes[0].name}")
    return [_dt.int64, _dt.float32, _dt.float32]


def _sampler_samples(rng: np.random.Generator) -> list[reg.Sample]:
    labels = np.array([[0, 3], [7, 1]], np.int64)
    base = {"num_true": 2, "range_max": 10, "seed": 7, "seed2": 3}
    return [
        reg.Sample(
            [labels, np.array(0, np.uint64)],
            {**base, "distribution": "log_uniform", "num_sampled": 5, "unique": True},
            grad=False,
        ),
        reg.Sample(
            [labels, np.array(4, np.uint64)],
            {**base, "distribution": "uniform", "num_sampled": 6, "unique": False},
            grad=False,
        ),
        reg.Sample(
            [labels, np.array(2, np.uint64)],
            {**base, "distribution": "uniform", "num_sampled": 10, "unique": True},
            grad=False,
        ),
    ]


reg.register(
    reg.OpDef(
        name="CandidateSampler",
        attrs={
            "distribution": reg.AttrType("choice", _DISTRIBUTIONS),
            "num_true": reg.INT,
            "num_sampled": reg.INT,
            "unique": reg.BOOL,
            "range_max": reg.INT,
            "seed": reg.INT,
            "seed2": reg.INT,
        },
        shape=_sampler_shape,
        dtype=_sampler_dtype,
        reference=_sampler_ref,
        grad=reg.NotDifferentiable("sampled candidates have no gradient"),
        traits=frozenset({"random", "stateful"}),
        num_outputs=3,
        samples=_sampler_samples,
        doc="(sampled_candidates int64 [num_sampled], true_expected_count float32 [batch, num_true], "
        "sampled_expected_count float32 [num_sampled]) drawn from the log-uniform or uniform "
        "distribution over [0, range_max), distinct when unique.",
    )
)


def _candidate_sampler(
    distribution: str,
    true_classes: Any,
    num_true: int,
    num_sampled: int,
    unique: bool,
    range_max: int,
    seed: int | None,
    name: str,
) -> tuple[Tensor, Tensor, Tensor]:
    labels = cast(convert_to_tensor(true_classes), _dt.int64)
    s1, s2 = get_seed(seed)
    attrs = {
        "distribution": distribution,
        "num_true": int(num_true),
        "num_sampled": int(num_sampled),
        "unique": bool(unique),
        "range_max": int(range_max),
        "seed": s1,
        "seed2": s2,
    }
    op = make_op("CandidateSampler", [labels], attrs, name=name)
    return op.outputs[0], op.outputs[1], op.outputs[2]


def log_uniform_candidate_sampler(
    true_classes: Any,
    num_true: int,
    num_sampled: int,
    unique: bool,
    range_max: int,
    seed: int | None = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """tf.nn.log_uniform_candidate_sampler (TF1): ``num_sampled`` classes from
    P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1), distinct when ``unique``.

    Returns (sampled_candidates int64 [num_sampled], true_expected_count float32
    [batch, num_true], sampled_expected_count float32 [num_sampled]); the expected counts
    follow TF1 (``p * num_sampled``, or ``1 - (1 - p) ** num_tries`` when unique draws were
    rejected). ``true_classes`` is [batch, num_true] (TF1 needs int64; int32 is cast)."""
    return _candidate_sampler(
        "log_uniform",
        true_classes,
        num_true,
        num_sampled,
        unique,
        range_max,
        seed,
        name or "LogUniformCandidateSampler",
    )


def uniform_candidate_sampler(
    true_classes: Any,
    num_true: int,
    num_sampled: int,
    unique: bool,
    range_max: int,
    seed: int | None = None,
    name: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """tf.nn.uniform_candidate_sampler (TF1): like log_uniform_candidate_sampler with
    P(k) = 1 / range_max."""
    return _candidate_sampler(
        "uniform",
        true_classes,
        num_true,
        num_sampled,
        unique,
        range_max,
        seed,
        name or "UniformCandidateSampler",
    )


# =============================================================================
# tf.nn.embedding_lookup over partitioned params
# =============================================================================
def _static_rows(p: Tensor) -> int:
    rows = p.shape.as_list()[0] if p.shape.ndims else None
    if rows is None:
        raise ValueError(
            f"embedding_lookup with partition_strategy='div' needs every partition's first dimension "
            f"known while building; {p.name} has shape {p.shape}"
        )
    return int(rows)


def embedding_lookup(
    params: Any,
    ids: Any,
    partition_strategy: str = "mod",
    name: str | None = None,
    validate_indices: bool = True,
    max_norm: float | None = None,
) -> Tensor:
    """tf.nn.embedding_lookup (TF1): the rows ``ids`` of ``params``, one tensor or a list of
    partitions (TF1's sharded embeddings), each [rows_i, ...] with the same trailing dims.

    With P partitions, id ``i`` lives in (TF1's rules):
    - "mod": partition ``i % P``, row ``i // P``;
    - "div": the ids split into contiguous blocks, the first ``N % P`` partitions holding
      one row more (N the total number of rows): partition
      ``max(i // (q + 1), (i - r) // q)`` with q = N // P, r = N % P.

    Where TF1 gathers each partition's ids and stitches the results (shapes that depend on
    the data), graphc gathers every id from every partition at its local row (0 where the id
    is elsewhere) and selects the one it lives in, so shapes stay static; the gradient
    reaches only the rows looked up. ``max_norm`` clips each embedding to that L2 norm."""
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    if isinstance(params, list | tuple) and len(params) > 1:
        parts: Sequence[Any] = params
    else:
        return _single_lookup(params, ids, partition_strategy, name, validate_indices, max_norm)
    with _scope(name, "embedding_lookup"):
        ps = [convert_to_tensor(p) for p in parts]
        i = convert_to_tensor(ids)
        n = len(ps)
        if partition_strategy == "mod":
            assignment = floormod(i, n)
            local = floordiv(i, n)
        else:
            total = sum(_static_rows(p) for p in ps)
            q, r = divmod(total, n)
            if q == 0:
                # Fewer rows than partitions: each id is its own partition (TF1's rule gives the same).
                assignment, local = i, zeros_like(i)
            else:
                assignment = maximum(floordiv(i, q + 1), floordiv(subtract(i, r), q))
                local = where(less(assignment, r), floormod(i, q + 1), floormod(subtract(i, r), q))
        result: Tensor | None = None
        for k, p in enumerate(ps):
            here = equal(assignment, k)
            rows = gather(p, where(here, local, zeros_like(local)))
            extra = (p.shape.ndims - 1) if p.shape.ndims is not None else None
            if extra is None:
                raise ValueError(f"embedding_lookup needs partitions of known rank; {p.name} has none")
            mask = here
            for _ in range(extra):
                mask = expand_dims(mask, -1)
            result = rows if result is None else where(mask, rows, result)
        assert result is not None
        if max_norm is None:
            return result
        r_ids, r_all = i.shape.ndims, result.shape.ndims
        if r_ids is None or r_all is None:
            raise NotImplementedError("embedding_lookup with max_norm needs ids and params of known rank")
        return clip_by_norm(result, max_norm, axes=list(range(r_ids, r_all)))


# =============================================================================
# The sampled losses (TF1's nn_impl)
# =============================================================================
def _compute_sampled_logits(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    num_true: int,
    sampled_values: Any,
    subtract_log_q: bool,
    remove_accidental_hits: bool,
    partition_strategy: str,
    seed: int | None,
) -> tuple[Tensor, Tensor]:
    """TF1's _compute_sampled_logits: logits [batch, num_true + num_sampled] of the true and
    the sampled classes (``inputs . w_k + b_k``, less ``log(expected_count_k)`` when
    ``subtract_log_q``; a sampled class equal to one of the row's true classes gets
    ``-FLT_MAX`` added when ``remove_accidental_hits``), and their labels (1 / num_true for
    the true classes, 0 for the sampled)."""
    if not isinstance(weights, list | tuple):
        weights = [weights]
    if not isinstance(biases, list | tuple):
        biases = [biases]
    x = convert_to_tensor(inputs)
    labels_t = cast(convert_to_tensor(labels), _dt.int64)
    labels_flat = reshape(labels_t, [-1])
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(
            labels_t, num_true, num_sampled, True, num_classes, seed=seed
        )
    sampled, true_count, sampled_count = (stop_gradient(convert_to_tensor(s)) for s in sampled_values)
    sampled = cast(sampled, _dt.int64)
    all_ids = concat([labels_flat, sampled], 0)
    all_w = embedding_lookup(list(weights), all_ids, partition_strategy=partition_strategy)
    all_b = embedding_lookup(list(biases), all_ids, partition_strategy=partition_strategy)
    n_true = _size_of(labels_flat)
    true_w, sampled_w = slice_(all_w, [0, 0], [n_true, -1]), slice_(all_w, [n_true, 0], [-1, -1])
    true_b, sampled_b = slice_(all_b, [0], [n_true]), slice_(all_b, [n_true], [-1])
    # [batch, num_sampled]: every row against every sampled class.
    sampled_logits = add(matmul(x, sampled_w, transpose_b=True), sampled_b)
    # [batch, num_true]: each row against its own true classes.
    dim = x.shape.as_list()[-1] if x.shape.ndims else None
    true_w3 = reshape(true_w, [-1, num_true, dim if dim is not None else -1])
    true_logits = reduce_sum(multiply(expand_dims(x, 1), true_w3), axis=2)
    true_logits = add(true_logits, reshape(true_b, [-1, num_true]))
    if remove_accidental_hits:
        # [batch, num_true, num_sampled] -> [batch, num_sampled]: sampled j is one of row i's labels.
        hits = reduce_any(equal(expand_dims(labels_t, 2), reshape(sampled, [1, 1, -1])), axis=1)
        penalty = float(np.finfo(np.float32).min)
        sampled_logits = add(
            sampled_logits,
            where(hits, _full_like(sampled_logits, penalty), zeros_like(sampled_logits)),
        )
    if subtract_log_q:
        true_logits = subtract(true_logits, log(cast(true_count, true_logits.dtype)))
        sampled_logits = subtract(sampled_logits, log(cast(sampled_count, sampled_logits.dtype)))
    out_logits = concat([true_logits, sampled_logits], 1)
    true_labels = multiply(ones_like(true_logits), convert_to_tensor(1.0 / num_true, dtype=true_logits.dtype))
    out_labels = concat([true_labels, zeros_like(sampled_logits)], 1)
    return out_logits, out_labels


def _size_of(t: Tensor) -> Any:
    n = t.shape.as_list()[0] if t.shape.ndims == 1 else None
    if n is None:
        raise ValueError(
            "the sampled losses need labels of a shape known while building ([batch, num_true]); "
            f"got {t.shape}"
        )
    return int(n)


def _full_like(t: Tensor, value: float) -> Tensor:
    return add(zeros_like(t), convert_to_tensor(value, dtype=t.dtype))


def nce_loss(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values: Any = None,
    remove_accidental_hits: bool = False,
    partition_strategy: str = "mod",
    name: str = "nce_loss",
) -> Tensor:
    """tf.nn.nce_loss (TF1): noise-contrastive estimation, per example [batch].

    ``weights`` [num_classes, dim] (or a list of partitions, see embedding_lookup),
    ``biases`` [num_classes], ``labels`` [batch, num_true] ints, ``inputs`` [batch, dim].
    The loss is the sum over the row's true and sampled classes of the sigmoid
    cross-entropy of ``logit - log(expected_count)`` against 1 / num_true (true) or 0
    (sampled). Without ``sampled_values`` the classes come from
    log_uniform_candidate_sampler(unique=True, range_max=num_classes)."""
    with _scope(name, "nce_loss"):
        logits, targets = _compute_sampled_logits(
            weights,
            biases,
            labels,
            inputs,
            num_sampled,
            num_classes,
            num_true,
            sampled_values,
            subtract_log_q=True,
            remove_accidental_hits=remove_accidental_hits,
            partition_strategy=partition_strategy,
            seed=None,
        )
        losses = sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
        return reduce_sum(losses, axis=1)


def sampled_softmax_loss(
    weights: Any,
    biases: Any,
    labels: Any,
    inputs: Any,
    num_sampled: int,
    num_classes: int,
    num_true: int = 1,
    sampled_values: Any = None,
    remove_accidental_hits: bool = True,
    partition_strategy: str = "mod",
    name: str = "sampled_softmax_loss",
    seed: int | None = None,
) -> Tensor:
    """tf.nn.sampled_softmax_loss (TF1): the softmax cross-entropy over the row's true and
    sampled classes (logits less log(expected_count); sampled classes equal to a true one
    masked out by default), per example [batch]. Arguments as nce_loss; ``seed`` seeds
    the default sampler."""
    with _scope(name, "sampled_softmax_loss"):
        logits, targets = _compute_sampled_logits(
            weights,
            biases,
            labels,
            inputs,
            num_sampled,
            num_classes,
            num_true,
            sampled_values,
            subtract_log_q=True,
            remove_accidental_hits=remove_accidental_hits,
            partition_strategy=partition_strategy,
            seed=seed,
        )
        return softmax_cross_entropy_with_logits_v2(labels=stop_gradient(targets), logits=logits)
