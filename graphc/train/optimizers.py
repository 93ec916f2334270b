"""TF1's optimizers (tf.compat.v1.train.*Optimizer), built from ordinary graph ops.

An update step is a set of Assign ops. Within one run each read of a variable
sees the newest assignment it depends on and otherwise the value at the start
of the run (graphc/ir/lower.py), so every update reads this step's gradient and
the slots' old values, and a slot's new value reaches the variable update
through the data edge from its Assign, as TF1's fused Apply* kernels compute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphc import dtypes as _dt
from graphc.autodiff.gradients import gradients
from graphc.frontend.graph import Graph, GraphKeys, Operation, Tensor, get_default_graph
from graphc.ops.common import convert_to_tensor
from graphc.ops.core_ops import constant, group, tuple_
from graphc.ops.fill_ops import fill, ones_like, zeros_like
from graphc.ops.math_ops import cast, multiply, sqrt
from graphc.ops.state_ops import assign, assign_add, assign_sub
from graphc.ops.training_ops import ADAM_DTYPES, apply_adam
from graphc.ops.variables import Variable

GATE_NONE = 0
GATE_OP = 1
GATE_GRAPH = 2

_FLOAT_DTYPES = (_dt.float16, _dt.float32, _dt.float64)


def _as_variable(v: Any) -> Variable:
    """A Variable, or the Variable whose VariableV2 output ``v`` is."""
    if isinstance(v, Variable):
        return v
    if isinstance(v, Tensor) and v.op.type == "VariableV2":
        for cand in v.graph.get_collection(GraphKeys.GLOBAL_VARIABLES) + v.graph.get_collection(
            GraphKeys.LOCAL_VARIABLES
        ):
            if isinstance(cand, Variable) and cand.op is v.op:
                return cand
    raise TypeError(f"Argument is not a tf.Variable: {v!r}")


def _assert_valid_dtypes(tensors: Iterable[Any]) -> None:
    for t in tensors:
        if t.dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"Invalid type {t.dtype.name} for {t.name}, expected: {[d.name for d in _FLOAT_DTYPES]}."
            )


class Optimizer:
    """tf.train.Optimizer: compute_gradients + apply_gradients, with slots per variable.

    Subclasses define ``_create_slots(var_list)``, ``_prepare()``, ``_apply_dense(grad,
    var) -> Operation`` and optionally ``_finish(update_ops, name)``. graphc has no sparse
    gradients, so there is no ``_apply_sparse``; ``use_locking`` is accepted and ignored
    (a run applies all its updates at once)."""

    GATE_NONE = GATE_NONE
    GATE_OP = GATE_OP
    GATE_GRAPH = GATE_GRAPH

    def __init__(self, use_locking: bool, name: str) -> None:
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        # slot name -> {variable op -> slot Variable}
        self._slots: dict[str, dict[Operation, Variable]] = {}
        # (name, graph) -> Variable, for variables shared by all the optimizer's variables
        self._non_slot_dict: dict[tuple[str, Graph], Variable] = {}
        self._hyper_tensors: dict[str, Tensor] = {}
        self._hyper_cast: dict[tuple[str, _dt.DType], Tensor] = {}

    def get_name(self) -> str:
        return self._name

    # -- the public API ------------------------------------------------------------------
    def minimize(
        self,
        loss: Any,
        global_step: Any = None,
        var_list: Iterable[Any] | None = None,
        gate_gradients: int = GATE_OP,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        name: str | None = None,
        grad_loss: Any = None,
    ) -> Operation:
        """tf.train.Optimizer.minimize: compute_gradients then apply_gradients."""
        grads_and_vars = self.compute_gradients(
            loss,
            var_list=var_list,
            gate_gradients=gate_gradients,
            aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops,
            grad_loss=grad_loss,
        )
        vars_with_grad = [v for g, v in grads_and_vars if g is not None]
        if not vars_with_grad:
            raise ValueError(
                "No gradients provided for any variable, check your graph for ops that do not "
                f"support gradients, between variables {[v.name for _, v in grads_and_vars]} "
                f"and loss {loss!r}."
            )
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(
        self,
        loss: Any,
        var_list: Iterable[Any] | None = None,
        gate_gradients: int = GATE_OP,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        grad_loss: Any = None,
    ) -> list[tuple[Tensor | None, Variable]]:
        """tf.train.Optimizer.compute_gradients: [(d loss / d var or None, var)] for
        ``var_list`` (default: the loss graph's trainable variables; any iterable of
        variables, e.g. a dict's ``.values()`` or a generator). A callable ``loss`` is
        called first."""

        if callable(loss):
            loss = loss()
        if gate_gradients not in (GATE_NONE, GATE_OP, GATE_GRAPH):
            raise ValueError(
                "gate_gradients must be one of: Optimizer.GATE_NONE, Optimizer.GATE_OP, "
                f"Optimizer.GATE_GRAPH.  Not {gate_gradients}"
            )
        loss_t = convert_to_tensor(loss)
        _assert_valid_dtypes([loss_t])
        if grad_loss is not None:
            _assert_valid_dtypes([convert_to_tensor(grad_loss)])
        graph = loss_t.graph
        if var_list is None:
            variables = graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        else:
            variables = [_as_variable(v) for v in _flatten(var_list)]
        if not variables:
            raise ValueError("No variables to optimize.")
        _assert_valid_dtypes([v._variable for v in variables])
        with graph.as_default():
            grads = gradients(
                loss_t,
                [v._variable for v in variables],
                grad_ys=grad_loss,
                gate_gradients=gate_gradients == GATE_OP,
                aggregation_method=aggregation_method,
                colocate_gradients_with_ops=colocate_gradients_with_ops,
            )
            if gate_gradients == GATE_GRAPH:
                grads = tuple_(grads)
        return list(zip(grads, variables, strict=True))

    def apply_gradients(
        self,
        grads_and_vars: Iterable[tuple[Any, Any]],
        global_step: Any = None,
        name: str | None = None,
    ) -> Operation:
        """tf.train.Optimizer.apply_gradients: one op running every variable's update (pairs
        with a None gradient are skipped), then incrementing ``global_step`` if given."""

        pairs = tuple(grads_and_vars)
        if not pairs:
            raise ValueError("No variables provided.")
        converted: list[tuple[Tensor | None, Variable]] = []
        for g, v in pairs:
            var = _as_variable(v)
            if g is not None:
                try:
                    g = convert_to_tensor(g)
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"Gradient must be convertible to a Tensor or None: {g!r} ({exc})"
                    ) from None
                if g.dtype != var.dtype:
                    raise TypeError(
                        f"Gradient {g.name} has dtype {g.dtype.name}, but variable {var.op.name} "
                        f"has dtype {var.dtype.name}"
                    )
            converted.append((g, var))
        var_list = [v for g, v in converted if g is not None]
        if not var_list:
            raise ValueError(f"No gradients provided for any variable: {[v.name for _, v in converted]}.")
        graph = var_list[0].graph
        with graph.as_default():
            self._create_slots(var_list)
            update_ops: list[Operation] = []
            with graph.name_scope(name or self._name) as scope:
                scope_name = scope[:-1].rsplit("/", 1)[-1]
                self._hyper_cast = {}
                self._prepare()
                for grad, var in converted:
                    if grad is None:
                        continue
                    with graph.name_scope("update_" + var.op.name):
                        update_ops.append(self._apply_dense(grad, var))
                if global_step is None:
                    apply_updates = self._finish(update_ops, scope_name)
                else:
                    with graph.control_dependencies([self._finish(update_ops, "update")]):
                        apply_updates = assign_add(global_step, 1, name=scope_name).op
            train_ops = graph.get_collection_ref(GraphKeys.TRAIN_OP)
            if apply_updates not in train_ops:
                train_ops.append(apply_updates)
        return apply_updates

    def get_slot(self, var: Any, name: str) -> Variable | None:
        """The slot ``name`` (e.g. "m") made for ``var``, or None."""
        named = self._slots.get(name)
        if not named:
            return None
        op = var.op if hasattr(var, "op") else None
        return named.get(op) if op is not None else None

    def get_slot_names(self) -> list[str]:
        return sorted(self._slots)

    def variables(self) -> list[Variable]:
        """The optimizer's variables in the default graph (slots and e.g. Adam's beta powers),
        sorted by name."""
        graph = get_default_graph()
        out = [v for (_, g), v in self._non_slot_dict.items() if g is graph]
        for named in self._slots.values():
            out.extend(v for v in named.values() if v.graph is graph)
        return sorted(out, key=lambda v: v.name)

    # -- for subclasses ---------------------------------------------------------------
    def _create_slots(self, var_list: list[Variable]) -> None:
        pass

    def _prepare(self) -> None:
        pass

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:
        raise NotImplementedError()

    def _finish(self, update_ops: list[Operation], name_scope: str) -> Operation:

        return group(*update_ops, name=name_scope)

    def _set_hyper(self, name: str, value: Any) -> None:
        """Turn a hyperparameter (number, tensor or callable) into a tensor, as TF1's _prepare."""

        value = value() if callable(value) else value
        self._hyper_tensors[name] = convert_to_tensor(value, name=name)

    def _hyper(self, name: str, dtype: _dt.DType) -> Tensor:
        """The hyperparameter cast to a variable's dtype (once per dtype per apply)."""

        key = (name, dtype)
        if key not in self._hyper_cast:
            self._hyper_cast[key] = cast(self._hyper_tensors[name], dtype)
        return self._hyper_cast[key]

    def _slot_dict(self, slot_name: str) -> dict[Operation, Variable]:
        return self._slots.setdefault(slot_name, {})

    def _get_or_make_slot(
        self,
        var: Variable,
        make_value: Callable[[], Any],
        slot_name: str,
        op_name: str,
        validate_shape: bool = True,
    ) -> Variable:
        """A slot variable "<var>/<op_name>" (uniquified like TF1: "w/Adam", "w/Adam_1"),
        non-trainable, in GLOBAL_VARIABLES so the global initializer covers it."""
        named = self._slot_dict(slot_name)
        if var.op not in named:
            graph = var.graph
            # Slots are created outside any control-dependency or name scope of the caller,
            # like TF1's init_scope, so initializing them never runs training ops.
            with graph.as_default(), graph.control_dependencies(None), graph.name_scope(None):
                named[var.op] = Variable(
                    make_value,
                    trainable=False,
                    name=f"{var.op.name}/{op_name}",
                    dtype=var.dtype,
                    validate_shape=validate_shape,
                )
        return named[var.op]

    def _filled_slot(self, var: Variable, value: float, slot_name: str, op_name: str) -> Variable:

        if var.shape.is_fully_defined():

            def make_value() -> Tensor:
                return fill(var.shape.as_list(), _constant(value, var.dtype))

            return self._get_or_make_slot(var, make_value, slot_name, op_name)

        def make_like() -> Tensor:
            base = var.initial_value
            if value == 0:
                return zeros_like(base)
            return multiply(ones_like(base), _constant(value, var.dtype))

        return self._get_or_make_slot(var, make_like, slot_name, op_name, validate_shape=False)

    def _zeros_slot(self, var: Variable, slot_name: str, op_name: str) -> Variable:
        return self._filled_slot(var, 0.0, slot_name, op_name)

    def _create_non_slot_variable(self, initial_value: Any, name: str, graph: Graph) -> Variable:
        """A variable shared by all of this optimizer's variables in ``graph`` (TF1: Adam's
        beta1_power), created at the top name scope."""
        key = (name, graph)
        if key not in self._non_slot_dict:
            with graph.as_default(), graph.control_dependencies(None), graph.name_scope(None):
                self._non_slot_dict[key] = Variable(
                    lambda: convert_to_tensor(initial_value), trainable=False, name=name
                )
        return self._non_slot_dict[key]

    def _get_non_slot_variable(self, name: str, graph: Graph | None = None) -> Variable | None:
        return self._non_slot_dict.get((name, graph or get_default_graph()))


def _flatten(x: Any) -> list[Any]:
    """The variables of a ``var_list``: any iterable (a list, a tuple, a dict's ``.values()``,
    a generator, a set), nested ones flattened, as later TF1 versions accept; a dict gives
    its values by sorted key (TF1's nest.flatten). A set has no order, so its variables are
    taken by name, which keeps the graph the same from one process to the next."""
    out: list[Any] = []
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, Variable | Tensor | str | bytes) or not hasattr(item, "__iter__"):
            out.append(item)
            continue
        if isinstance(item, dict):
            # TF1 flattens a dict with nest.flatten: its values in the order of its sorted keys.
            items = [item[k] for k in sorted(item)]
        else:
            items = list(item)
        if isinstance(item, set | frozenset):
            items.sort(key=lambda v: str(getattr(v, "name", v)))
        stack.extend(reversed(items))
    return out


def _constant(value: float, dtype: _dt.DType) -> Tensor:

    return constant(value, dtype=dtype)


class GradientDescentOptimizer(Optimizer):
    """tf.train.GradientDescentOptimizer: ``var -= lr * g``."""

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "GradientDescent") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _prepare(self) -> None:
        self._set_hyper("learning_rate", self._learning_rate)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:

        lr = self._hyper("learning_rate", var.dtype)
        return assign_sub(var, lr * grad).op


class MomentumOptimizer(Optimizer):
    """tf.train.MomentumOptimizer: ``accum = momentum * accum + g``; ``var -= lr * accum``,
    or with Nesterov ``var -= lr * g + lr * momentum * accum`` (the new accum)."""

    def __init__(
        self,
        learning_rate: Any,
        momentum: Any,
        use_locking: bool = False,
        name: str = "Momentum",
        use_nesterov: bool = False,
    ) -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self) -> None:
        self._set_hyper("learning_rate", self._learning_rate)
        self._set_hyper("momentum", self._momentum)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:

        lr = self._hyper("learning_rate", var.dtype)
        momentum = self._hyper("momentum", var.dtype)
        accum = self.get_slot(var, "momentum")
        assert accum is not None
        accum_t = assign(accum, accum * momentum + grad)
        if self._use_nesterov:
            return assign_sub(var, grad * lr + accum_t * momentum * lr).op
        return assign_sub(var, lr * accum_t).op


class AdamOptimizer(Optimizer):
    """tf.train.AdamOptimizer (TF1's epsilon-hat form):
    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``, ``m = b1 m + (1-b1) g``,
    ``v = b2 v + (1-b2) g^2``, ``var -= lr_t * m / (sqrt(v) + epsilon)``. beta1^t and
    beta2^t are the float32 variables "beta1_power"/"beta2_power", advanced after the
    variable updates."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta1: Any = 0.9,
        beta2: Any = 0.999,
        epsilon: Any = 1e-08,
        use_locking: bool = False,
        name: str = "Adam",
    ) -> None:
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._beta1 = beta1
        self._beta2 = beta2
        self._epsilon = epsilon

    def _get_beta_accumulators(self) -> tuple[Variable, Variable]:
        graph = get_default_graph()
        b1 = self._get_non_slot_variable("beta1_power", graph)
        b2 = self._get_non_slot_variable("beta2_power", graph)
        assert b1 is not None and b2 is not None
        return b1, b2

    def _create_slots(self, var_list: list[Variable]) -> None:
        first = min(var_list, key=lambda v: v.name)
        self._create_non_slot_variable(self._beta1, "beta1_power", first.graph)
        self._create_non_slot_variable(self._beta2, "beta2_power", first.graph)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self) -> None:
        self._set_hyper("learning_rate", self._lr)
        self._set_hyper("beta1", self._beta1)
        self._set_hyper("beta2", self._beta2)
        self._set_hyper("epsilon", self._epsilon)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:

        dt = var.dtype
        b1_power, b2_power = (cast(b, dt) for b in self._get_beta_accumulators())
        lr = self._hyper("learning_rate", dt)
        beta1 = self._hyper("beta1", dt)
        beta2 = self._hyper("beta2", dt)
        eps = self._hyper("epsilon", dt)
        m = self.get_slot(var, "m")
        v = self.get_slot(var, "v")
        assert m is not None and v is not None
        if dt in ADAM_DTYPES:
            # One op for the three new values (one pass over the parameter and its slots);
            # the same steps, in the same order, as the graph below.
            var_t, m_t, v_t = apply_adam(
                var.value(), m.value(), v.value(), b1_power, b2_power, lr, beta1, beta2, eps, grad
            )
            return group(assign(m, m_t), assign(v, v_t), assign(var, var_t))
        lr_t = lr * sqrt(1 - b2_power) / (1 - b1_power)
        m_t = assign(m, m * beta1 + grad * (1 - beta1))
        v_t = assign(v, v * beta2 + (grad * grad) * (1 - beta2))
        return assign_sub(var, lr_t * m_t / (sqrt(v_t) + eps)).op

    def _finish(self, update_ops: list[Operation], name_scope: str) -> Operation:

        graph = get_default_graph()
        with graph.control_dependencies(update_ops):
            b1_power, b2_power = self._get_beta_accumulators()
            update_b1 = assign(b1_power, b1_power * cast(self._hyper_tensors["beta1"], b1_power.dtype))
            update_b2 = assign(b2_power, b2_power * cast(self._hyper_tensors["beta2"], b2_power.dtype))
        return group(*update_ops, update_b1, update_b2, name=name_scope)


class RMSPropOptimizer(Optimizer):
    """tf.train.RMSPropOptimizer: ``ms = decay ms + (1-decay) g^2`` (ms starts at ONES, as
    in TF1), ``mom = momentum mom + lr g / sqrt(ms + eps)``, ``var -= mom``; centered also
    keeps ``mg = decay mg + (1-decay) g`` and divides by ``sqrt(ms - mg^2 + eps)``."""

    def __init__(
        self,
        learning_rate: Any,
        decay: Any = 0.9,
        momentum: Any = 0.0,
        epsilon: Any = 1e-10,
        use_locking: bool = False,
        centered: bool = False,
        name: str = "RMSProp",
    ) -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._decay = decay
        self._momentum = momentum
        self._epsilon = epsilon
        self._centered = centered

    def _create_slots(self, var_list: list[Variable]) -> None:
        # TF1's creation order, which fixes the slot names: rms "w/RMSProp", then mg
        # (centered only), then momentum.
        for v in var_list:
            self._filled_slot(v, 1.0, "rms", self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self) -> None:
        self._set_hyper("learning_rate", self._learning_rate)
        self._set_hyper("decay", self._decay)
        self._set_hyper("momentum", self._momentum)
        self._set_hyper("epsilon", self._epsilon)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:

        dt = var.dtype
        lr = self._hyper("learning_rate", dt)
        decay = self._hyper("decay", dt)
        momentum = self._hyper("momentum", dt)
        eps = self._hyper("epsilon", dt)
        rms = self.get_slot(var, "rms")
        mom = self.get_slot(var, "momentum")
        assert rms is not None and mom is not None
        ms_t = assign(rms, rms * decay + (grad * grad) * (1 - decay))
        if self._centered:
            mg = self.get_slot(var, "mg")
            assert mg is not None
            mg_t = assign(mg, mg * decay + grad * (1 - decay))
            denom = ms_t - mg_t * mg_t + eps
        else:
            denom = ms_t + eps
        mom_t = assign(mom, mom * momentum + lr * grad / sqrt(denom))
        return assign_sub(var, mom_t).op


class AdagradOptimizer(Optimizer):
    """tf.train.AdagradOptimizer: ``accum += g^2``; ``var -= lr * g / sqrt(accum)``, accum
    starting at ``initial_accumulator_value``."""

    def __init__(
        self,
        learning_rate: Any,
        initial_accumulator_value: float = 0.1,
        use_locking: bool = False,
        name: str = "Adagrad",
    ) -> None:
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: {initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._filled_slot(v, float(self._initial_accumulator_value), "accumulator", self._name)

    def _prepare(self) -> None:
        self._set_hyper("learning_rate", self._learning_rate)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:

        lr = self._hyper("learning_rate", var.dtype)
        accum = self.get_slot(var, "accumulator")
        assert accum is not None
        accum_t = assign_add(accum, grad * grad)
        return assign_sub(var, lr * grad / sqrt(accum_t)).op
