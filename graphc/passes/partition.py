"""Partitioning: a program split into segments, one device and one backend each, with
an explicit Transfer node on every edge between two segments.

``partition(program, backend_of)`` places every node (its ``tf.device``, in the normal
form of graphc.ir.devices; a node left unplaced runs where its first placed input runs,
else where its first placed user runs, else on the program's first device: ``""``, the
default device, when no node has one), gives it the key ``(device, backend_of(node))``
and splits the node list into segments of one key:

- every edge goes from a segment to itself or to a later one, so running the segments
  in order runs each after those it receives from, and there is no cycle between them;
- adjacent work of one key is merged, to make few segments: each node gets the least
  number of key changes on any path to it (its rank), nodes whose users allow it move
  to the latest rank of their key, segments are ordered by rank with the keys of one
  rank arranged to continue the previous rank's last key and to lead into the next
  rank, and neighbouring segments of one key become one. Of the arrangements with and
  without moving nodes, the one with fewer segments (then fewer transfers) is kept.

The result (:class:`Partition`) holds:

- ``program``: the input program with a ``Transfer`` node (graphc.ops.transfer_ops) on
  every edge between segments, one per value and receiving segment: a verified
  program that computes what the input computes, every node's ``device`` its placement;
- ``segments``: in run order. Each one's ``program`` is a verified program of its own:
  its params are the input's params it reads (same kind and name), then the values it
  receives (feeds named ``recv %k``, ``%k`` numbering ``Partition.program``), then, when
  needed, ``dims`` (below); its outputs are the input's fetches and updates it makes
  (same kind and name), then each value it sends (fetches named ``send %k``), then each
  value whose shape later segments need to learn a data-defined dim (``dim NAME``);
- ``transfers``: each Transfer node, with the segment output it takes and the segment
  param it gives.

Dims: a segment's bindings bind every symbol its shapes use that is known when it
starts: symbols bound at the program's entry and data-defined dims that an earlier
segment bound. Each is bound from an axis of a param whose size is exactly that
symbol; a symbol no axis gives (a received value of size ``2*D0``, say) comes in the
int64 vector param ``dims``, bound by value. A data-defined dim that a later segment
uses is learnt from the shape of an output of the segment that defines it (``defines``:
symbol, output, axis, and the size formula, solved for the symbol). Each segment keeps
the data-defined dims of its own nodes and the assertions that need one of them (in the
segment where the last of their data-defined symbols is first known); the assertions on
entry dims alone were checked when the run started. A symbol that the input program
itself never binds (a data-defined size no formula can be solved from) stays unbound.

Every segment gets its own memory plan (``meta["memory_plan"]``).

Host ops (the "host" trait: py_func, Print, print, Assert) need nothing of their own
here: the caller's ``backend_of`` gives them the NumPy backend (graphc/runtime/segments.py),
their outputs' data-defined dims reach later segments as above, and ``describe`` names
them as a segment's host callbacks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from graphc import dtypes as _dt
from graphc import errors
from graphc import registry as reg
from graphc import symbolic as sym
from graphc.ir import devices
from graphc.ir.program import (
    Assertion,
    DefinedDim,
    DimBinding,
    Node,
    Output,
    Param,
    Program,
    Value,
    format_shape,
)
from graphc.ir.verify import verify
from graphc.ops import transfer_ops  # noqa: F401  (registers the Transfer op)
from graphc.passes.memory import plan_memory
from graphc.symbolic import Dim

TRANSFER_OP = "Transfer"
DIMS_PARAM = "dims"

Key = tuple[str, str]  # (device normal form, backend name)


@dataclasses.dataclass(frozen=True)
class SegmentInput:
    """Where a segment param's value comes from: ``kind`` "param" (``index``: the input
    program's param), "transfer" (``index``: into :attr:`Partition.transfers`) or "dims"
    (the symbols :attr:`Segment.dims_symbols`, as an int64 vector)."""

    kind: str
    index: int = 0


@dataclasses.dataclass(frozen=True)
class SegmentOutput:
    """What a segment output is for: ``kind`` "output" (``index``: the input program's
    output), "send" (a value Transfer nodes take; ``index``: its number in
    :attr:`Partition.program`) or "dim" (read for its shape; ``index`` as for "send")."""

    kind: str
    index: int


@dataclasses.dataclass(frozen=True)
class DefinedSymbol:
    """A data-defined symbol that segment ``output``'s axis ``axis`` gives: its size is
    ``dim`` (the symbol itself, or a formula in it and known symbols)."""

    symbol: str
    output: int
    axis: int
    dim: Dim

    def solve(self, size: int, env: dict[str, int]) -> int:
        """The symbol's value, given the axis's actual size and the other symbols."""
        if sym.as_symbol(self.dim) == self.symbol:
            return size
        coef, rest = _linear_in(self.dim, self.symbol)
        assert coef is not None and rest is not None
        num = size - sym.evaluate(rest, env)
        if num % coef:
            raise errors.InvalidArgumentError(
                None,
                None,
                f"an output's size {size} cannot be {self.dim} for any integer {self.symbol}",
            )
        return num // coef


@dataclasses.dataclass(eq=False)
class Segment:
    """One device's (and one backend's) share of the program, a program of its own."""

    index: int
    device: str  # the normal form ("" for the default device)
    backend: str
    program: Program
    inputs: list[SegmentInput]  # per param of ``program``
    outputs: list[SegmentOutput]  # per output of ``program``
    symbols: list[str]  # the symbols its bindings bind: a run passes their values as ``dims``
    dims_symbols: list[str]  # the symbols the ``dims`` param carries, in order
    defines: list[DefinedSymbol]  # data-defined dims later segments need, learnt from its outputs

    @property
    def ops(self) -> Counter[str]:
        return Counter(n.op for n in self.program.nodes)


@dataclasses.dataclass(eq=False)
class Transfer:
    """A value sent from segment ``source`` (its output ``output``) to segment
    ``destination`` (its param ``param``): the Transfer ``node`` of the partitioned
    program. ``label`` is the value's number there (``%k``)."""

    node: Node
    source: int
    output: int
    destination: int
    param: int
    label: str

    @property
    def value(self) -> Value:
        return self.node.inputs[0]


@dataclasses.dataclass(eq=False)
class Partition:
    program: Program  # the input, with a Transfer node on each edge between segments
    segments: list[Segment]  # in run order
    transfers: list[Transfer]
    # Per output of the input program: ("segment", k, j): output j of segment k;
    # ("param", i, 0): the program's param i itself.
    outputs: list[tuple[str, int, int]]

    def describe(self, main_backend: str | None = None, lacking: Iterable[str] = ()) -> str:
        """The segments as text: device and backend, node count and ops, what each
        receives and sends (``main_backend`` marks the others as fallbacks for the ops
        in ``lacking``)."""
        lacking = set(lacking)
        lines = []
        for seg in self.segments:
            n = len(seg.program.nodes)
            where = f"device {devices.describe(seg.device)}, backend {seg.backend}"
            host = sorted(op for op in seg.ops if reg.get(op).has("host"))
            if main_backend is not None and seg.backend != main_backend:
                missing = sorted(op for op in seg.ops if op in lacking and op not in host)
                if missing or not host:
                    where += f" (fallback{': ' + main_backend + ' lacks ' + ', '.join(missing) if missing else ''})"
            if host:
                # Host ops (py_func, Print, Assert, ...) call back into Python: a segment's
                # boundary is where native code hands over to them.
                where += f" (host callbacks: {', '.join(host)})"
            lines.append(f"segment {seg.index}: {where}: {n} node{'s' if n != 1 else ''}")
            lines.append(f"    ops: {_ops_summary(seg.ops)}")
            recv = [t for t in self.transfers if t.destination == seg.index]
            send = [t for t in self.transfers if t.source == seg.index]
            if recv:
                lines.append(
                    "    receives: "
                    + ", ".join(f"{t.label} {_type(t.value)} from segment {t.source}" for t in recv)
                )
            if send:
                by_value: dict[str, list[int]] = {}
                types: dict[str, str] = {}
                for t in send:
                    by_value.setdefault(t.label, []).append(t.destination)
                    types[t.label] = _type(t.value)
                lines.append(
                    "    sends: "
                    + ", ".join(
                        f"{label} {types[label]} to segment{'s' if len(d) > 1 else ''} "
                        + ", ".join(map(str, d))
                        for label, d in by_value.items()
                    )
                )
            outs = [
                f"{o.kind} {o.name!r}"
                for o, so in zip(seg.program.outputs, seg.outputs, strict=True)
                if so.kind == "output"
            ]
            if outs:
                lines.append("    outputs: " + ", ".join(outs))
            if seg.dims_symbols:
                lines.append("    dims passed in: " + ", ".join(seg.dims_symbols))
            if seg.defines:
                lines.append("    defines: " + ", ".join(d.symbol for d in seg.defines))
        return "\n".join(lines)


def _type(v: Value) -> str:
    return f"{v.dtype.name}{format_shape(v.shape)}"


def _ops_summary(ops: Counter[str]) -> str:
    return ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(ops.items())) or "none"


# ---------------------------------------------------------------------------
# Placement and grouping.


def placement(program: Program) -> dict[int, str]:
    """``id(node) -> device`` (normal form) for every node: its own device; for an
    unplaced node, its first placed input's device, else its first placed user's, else
    the program's first device in node order (``""`` when no node has one). A device
    string that is not one raises InvalidArgumentError naming the op."""
    dev = {id(n): node_device(n) for n in program.nodes}
    for n in program.nodes:
        if not dev[id(n)]:
            for v in n.inputs:
                p = v.producer
                if p is not None and dev[id(p)]:
                    dev[id(n)] = dev[id(p)]
                    break
    users = _users(program)
    for n in reversed(program.nodes):
        if not dev[id(n)]:
            for q in users.get(id(n), ()):
                if dev[id(q)]:
                    dev[id(n)] = dev[id(q)]
                    break
    first = next((d for d in dev.values() if d), "")
    for n in program.nodes:
        if not dev[id(n)]:
            dev[id(n)] = first
    return dev


def node_device(node: Node) -> str:
    """The normal form of the device ``node`` was placed on (``""`` for none); a device
    string that is not one raises InvalidArgumentError naming the user's op."""
    try:
        return devices.canonical(node.device)
    except (ValueError, TypeError) as exc:
        raise errors.InvalidArgumentError(None, node.origin, f"bad device: {exc}") from None


def _users(program: Program) -> dict[int, list[Node]]:
    users: dict[int, list[Node]] = {}
    for n in program.nodes:
        seen: set[int] = set()
        for v in n.inputs:
            p = v.producer
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                users.setdefault(id(p), []).append(n)
    return users


def _group(
    nodes: list[Node], key: dict[int, Key], users: dict[int, list[Node]], sink: bool
) -> list[tuple[Key, list[Node]]]:
    """Segments as (key, nodes in program order), every edge forward (module docstring)."""
    rank: dict[int, int] = {}
    for n in nodes:
        r = 0
        for v in n.inputs:
            p = v.producer
            if p is not None:
                r = max(r, rank[id(p)] + (key[id(p)] != key[id(n)]))
        rank[id(n)] = r
    count = Counter((rank[id(n)], key[id(n)]) for n in nodes)
    if sink:
        for n in reversed(nodes):
            us = users.get(id(n))
            if not us:
                continue
            k = key[id(n)]
            limit = min(rank[id(q)] - (key[id(q)] != k) for q in us)
            for r in range(limit, rank[id(n)], -1):
                if count[(r, k)]:
                    count[(rank[id(n)], k)] -= 1
                    rank[id(n)] = r
                    count[(r, k)] += 1
                    break
    by_rank: dict[int, dict[Key, list[Node]]] = {}
    for n in nodes:
        by_rank.setdefault(rank[id(n)], {}).setdefault(key[id(n)], []).append(n)
    ranks = sorted(by_rank)
    groups: list[tuple[Key, list[Node]]] = []
    for i, r in enumerate(ranks):
        keys = list(by_rank[r])  # in order of first appearance
        nxt = by_rank[ranks[i + 1]] if i + 1 < len(ranks) else {}
        first = groups[-1][0] if groups and groups[-1][0] in by_rank[r] else None
        # The previous rank's last key first (they merge), then the others, then one that
        # the next rank has (so it may merge with that rank's first).
        lead = next((k for k in keys if k != first and k in nxt), None)
        order = [first] if first is not None else []
        order += [k for k in keys if k != first and k != lead]
        if lead is not None:
            order.append(lead)
        for k in order:
            if groups and groups[-1][0] == k:
                groups[-1][1].extend(by_rank[r][k])
            else:
                groups.append((k, list(by_rank[r][k])))
    index = {id(n): i for i, n in enumerate(nodes)}
    for _, members in groups:
        members.sort(key=lambda n: index[id(n)])
    return groups


def _count_transfers(groups: list[tuple[Key, list[Node]]]) -> int:
    seg_of = {id(n): k for k, (_, members) in enumerate(groups) for n in members}
    crossing = set()
    for k, (_, members) in enumerate(groups):
        for n in members:
            for v in n.inputs:
                if v.producer is not None and seg_of[id(v.producer)] != k:
                    crossing.add((id(v), k))
    return len(crossing)


# ---------------------------------------------------------------------------
# The pass.


def partition(program: Program, backend_of: Callable[[Node], str] | None = None) -> Partition:
    """Split ``program`` into segments of one device and one backend (``backend_of(node)``,
    default ``""`` for every node), with Transfer nodes between them (module docstring)."""
    nodes = list(program.nodes)
    dev = placement(program)
    key: dict[int, Key] = {id(n): (dev[id(n)], backend_of(n) if backend_of else "") for n in nodes}
    users = _users(program)
    best: list[tuple[Key, list[Node]]] | None = None
    best_score: tuple[int, int] | None = None
    for sink in (False, True):
        groups = _group(nodes, key, users, sink)
        score = (len(groups), _count_transfers(groups))
        if best_score is None or score < best_score:
            best, best_score = groups, score
    assert best is not None
    return _Builder(program, best, dev).build()


class _Builder:
    def __init__(self, program: Program, groups: list[tuple[Key, list[Node]]], dev: dict[int, str]) -> None:
        self.program = program
        self.groups = groups
        self.dev = dev
        self.seg_of = {id(n): k for k, (_, members) in enumerate(groups) for n in members}
        self.param_index = {id(p.value): i for i, p in enumerate(program.params)}

    # -- the whole program, with Transfer nodes ---------------------------------------
    def whole(self) -> tuple[Program, list[tuple[int, int, Value, Node]], dict[int, Value]]:
        """The partitioned program; each transfer as (source segment, destination segment,
        the input program's value, the Transfer node); and the input program's values'
        counterparts (by id)."""
        prog = self.program
        vmap: dict[int, Value] = {}
        params = []
        for p in prog.params:
            v = Value(p.value.dtype, p.value.shape)
            vmap[id(p.value)] = v
            params.append(Param(v, p.kind, p.name))
        nodes: list[Node] = []
        made: dict[tuple[int, int], Value] = {}
        transfers: list[tuple[int, int, Value, Node]] = []
        for k, ((device, _), members) in enumerate(self.groups):
            for n in members:
                ins = []
                for v in n.inputs:
                    p = v.producer
                    if p is None or self.seg_of[id(p)] == k:
                        ins.append(vmap[id(v)])
                        continue
                    got = made.get((id(v), k))
                    if got is None:
                        src = self.groups[self.seg_of[id(p)]][0][0]
                        t = Node(
                            TRANSFER_OP,
                            [vmap[id(v)]],
                            {"source": src, "destination": device},
                            [],
                            p.origin,
                            device,
                        )
                        got = Value(v.dtype, v.shape, t, 0)
                        t.outputs.append(got)
                        nodes.append(t)
                        made[(id(v), k)] = got
                        transfers.append((self.seg_of[id(p)], k, v, t))
                    ins.append(got)
                new = Node(n.op, ins, dict(n.attrs), [], n.origin, self.dev[id(n)], n.regions)
                for i, v in enumerate(n.outputs):
                    nv = Value(v.dtype, v.shape, new, i)
                    vmap[id(v)] = nv
                    new.outputs.append(nv)
                nodes.append(new)
        outputs = [Output(vmap[id(o.value)], o.kind, o.name) for o in prog.outputs]
        defined = [DefinedDim(vmap[id(d.value)], d.axis, d.dim) for d in prog.defined_dims]
        whole = Program(params, nodes, outputs, list(prog.bindings), list(prog.assertions), defined)
        verify(whole)
        return whole, transfers, vmap

    # -- symbols ----------------------------------------------------------------------
    def symbol_plan(self) -> tuple[list[set[str]], list[list[Assertion]], dict[str, tuple[int, DefinedDim]]]:
        """Per segment: the symbols it needs bound when it starts and the assertions it
        checks; and each data-defined symbol's first definition (segment, DefinedDim)."""
        prog = self.program
        known = {s for b in prog.bindings if (s := sym.as_symbol(b.dim)) is not None}
        entry = set(known)
        by_seg: list[list[DefinedDim]] = [[] for _ in self.groups]
        for d in prog.defined_dims:
            if d.value.producer is not None:
                by_seg[self.seg_of[id(d.value.producer)]].append(d)
        first: dict[str, tuple[int, DefinedDim]] = {}
        for k, dds in enumerate(by_seg):
            for d in dds:  # lone symbols first: they bind as the node runs
                s = sym.as_symbol(d.dim)
                if s is not None and s not in known:
                    first[s] = (k, d)
                    known.add(s)
            for d in dds:  # then sizes solvable for their one unknown symbol
                unknown = sym.free_symbols(d.dim) - known
                if len(unknown) == 1:
                    (s,) = unknown
                    if _linear_in(d.dim, s)[0] is not None:
                        first[s] = (k, d)
                        known.add(s)
        defined_at = {s: k for s, (k, _) in first.items()}
        data_syms = {s for d in prog.defined_dims for s in sym.free_symbols(d.dim)} - entry
        asserts: list[list[Assertion]] = [[] for _ in self.groups]
        for a in prog.assertions:
            names = sym.free_symbols(a.lhs) | sym.free_symbols(a.rhs)
            late = names & data_syms
            if not late:
                continue  # checked at the program's entry
            if late <= defined_at.keys():
                asserts[max(defined_at[s] for s in late)].append(a)
            # else: it needs a symbol nothing binds; the input program never checks it either
        need: list[set[str]] = []
        for k, (_, members) in enumerate(self.groups):
            used: set[str] = set()
            for n in members:
                for v in n.inputs:
                    for d in v.shape:
                        used |= sym.free_symbols(d)
                for v in n.outputs:
                    for d in v.shape:
                        used |= sym.free_symbols(d)
            for d in by_seg[k]:
                used |= sym.free_symbols(d.dim)
            for a in asserts[k]:
                used |= sym.free_symbols(a.lhs) | sym.free_symbols(a.rhs)
            # Known at its start: entry symbols and those earlier segments define.
            need.append({s for s in used if s in entry or (s in defined_at and defined_at[s] < k)})
        return need, asserts, first

    # -- segments -----------------------------------------------------------------------
    def build(self) -> Partition:
        prog = self.program
        whole, pending, whole_value = self.whole()
        num = whole.numbering()
        need, asserts, first = self.symbol_plan()
        # What each segment must output so that later segments learn a data-defined dim.
        dim_outputs: list[dict[str, DefinedDim]] = [{} for _ in self.groups]
        for k, syms in enumerate(need):
            for s in sorted(syms):
                if s in first and first[s][0] < k:
                    j, d = first[s]
                    dim_outputs[j].setdefault(s, d)
        segments: list[Segment] = []
        transfers: list[Transfer] = []
        seg_outputs_of_value: list[dict[int, int]] = []
        for k, ((device, backend), members) in enumerate(self.groups):
            smap: dict[int, Value] = {}
            params: list[Param] = []
            inputs: list[SegmentInput] = []
            bindings: list[DimBinding] = []
            read = sorted({self.param_index[id(v)] for n in members for v in n.inputs if v.producer is None})
            local_param: dict[int, int] = {}
            for i in read:
                p = prog.params[i]
                v = Value(p.value.dtype, p.value.shape)
                smap[id(p.value)] = v
                local_param[i] = len(params)
                params.append(Param(v, p.kind, p.name))
                inputs.append(SegmentInput("param", i))
            for t_index, (_, dst, v, tnode) in enumerate(pending):
                if dst != k:
                    continue
                pv = Value(v.dtype, v.shape)
                smap[id(v)] = pv
                params.append(Param(pv, "feed", f"recv {num.label(tnode.inputs[0])}"))
                inputs.append(SegmentInput("transfer", t_index))
            nodes: list[Node] = []
            for n in members:
                new = Node(
                    n.op,
                    [smap[id(v)] for v in n.inputs],
                    dict(n.attrs),
                    [],
                    n.origin,
                    self.dev[id(n)],
                    n.regions,  # a control-flow node keeps its sub-programs
                )
                for i, v in enumerate(n.outputs):
                    nv = Value(v.dtype, v.shape, new, i)
                    smap[id(v)] = nv
                    new.outputs.append(nv)
                nodes.append(new)
            # Outputs: the program's own, then sends, then values read for their shape.
            outputs: list[Output] = []
            seg_outs: list[SegmentOutput] = []
            out_of_value: dict[int, int] = {}
            for i, o in enumerate(prog.outputs):
                p = o.value.producer
                if p is not None and self.seg_of[id(p)] == k:
                    out_of_value.setdefault(id(o.value), len(outputs))
                    outputs.append(Output(smap[id(o.value)], o.kind, o.name))
                    seg_outs.append(SegmentOutput("output", i))
            send_index: dict[int, int] = {}
            for src, _, v, tnode in pending:
                if src != k or id(v) in send_index:
                    continue
                label = num.label(tnode.inputs[0])
                send_index[id(v)] = len(outputs)
                outputs.append(Output(smap[id(v)], "fetch", f"send {label}"))
                seg_outs.append(SegmentOutput("send", num[tnode.inputs[0]]))
            defines: list[DefinedSymbol] = []
            for s, d in sorted(dim_outputs[k].items()):
                j = out_of_value.get(id(d.value), send_index.get(id(d.value)))
                if j is None:
                    wv = whole_value[id(d.value)]
                    j = len(outputs)
                    out_of_value[id(d.value)] = j
                    outputs.append(Output(smap[id(d.value)], "fetch", f"dim {s}"))
                    seg_outs.append(SegmentOutput("dim", num[wv]))
                defines.append(DefinedSymbol(s, j, d.axis, d.dim))
            seg_outputs_of_value.append(send_index)
            # Bindings: the input's own for the params read, then received params' axes,
            # then the ``dims`` param for whatever no axis gives.
            needed = need[k]
            bound: set[str] = set()
            checks: list[DimBinding] = []
            for b in prog.bindings:
                if b.param not in local_param:
                    continue
                nb = dataclasses.replace(b, param=local_param[b.param])
                name = sym.as_symbol(b.dim)
                if name is not None:
                    bindings.append(nb)
                    bound.add(name)
                else:
                    checks.append(nb)
            for pi, p in enumerate(params):
                if inputs[pi].kind != "transfer":
                    continue
                for axis, d in enumerate(p.value.shape):
                    name = sym.as_symbol(d)
                    if name is not None and name in needed and name not in bound:
                        bindings.append(DimBinding(d, pi, axis, "", "shape"))
                        bound.add(name)
            dims_symbols = sorted(needed - bound)
            if dims_symbols:
                dv = Value(_dt.int64, (len(dims_symbols),))
                pi = len(params)
                params.append(Param(dv, "feed", DIMS_PARAM))
                inputs.append(SegmentInput("dims"))
                for i, s in enumerate(dims_symbols):
                    bindings.append(DimBinding(sym.symbol(s), pi, i, "", "value"))
                bound |= set(dims_symbols)
            bindings += [b for b in checks if sym.free_symbols(b.dim) <= bound]
            defined = [
                DefinedDim(smap[id(d.value)], d.axis, d.dim)
                for d in prog.defined_dims
                if d.value.producer is not None and self.seg_of[id(d.value.producer)] == k
            ]
            seg_prog = Program(params, nodes, outputs, bindings, list(asserts[k]), defined)
            verify(seg_prog)
            plan_memory(seg_prog)
            segments.append(
                Segment(
                    k,
                    device,
                    backend,
                    seg_prog,
                    inputs,
                    seg_outs,
                    seg_prog.symbols(),
                    dims_symbols,
                    defines,
                )
            )
        for t_index, (src, dst, v, tnode) in enumerate(pending):
            dst_seg = segments[dst]
            pi = next(
                i for i, inp in enumerate(dst_seg.inputs) if inp.kind == "transfer" and inp.index == t_index
            )
            transfers.append(
                Transfer(tnode, src, seg_outputs_of_value[src][id(v)], dst, pi, num.label(tnode.inputs[0]))
            )
        outs: list[tuple[str, int, int]] = []
        for i, o in enumerate(prog.outputs):
            p = o.value.producer
            if p is None:
                outs.append(("param", self.param_index[id(o.value)], 0))
            else:
                k = self.seg_of[id(p)]
                j = next(
                    j for j, so in enumerate(segments[k].outputs) if so.kind == "output" and so.index == i
                )
                outs.append(("segment", k, j))
        return Partition(whole, segments, transfers, outs)


def _linear_in(d: Dim, s: str) -> tuple[int | None, Dim | None]:
    """``(c, rest)`` with ``d == c*s + rest`` and ``s`` not in ``rest``, when ``d`` is
    linear in the symbol ``s`` (s outside every function atom); ``(None, None)`` otherwise."""
    if not isinstance(d, sym.Poly):
        return None, None
    coef = 0
    for mono, c in d.terms.items():
        if not any(s in _atom_symbols(a) for a, _ in mono):
            continue
        if len(mono) == 1 and mono[0][0].is_symbol and mono[0][0].op == s and mono[0][1] == 1:
            coef += c
        else:
            return None, None
    if coef == 0:
        return None, None
    return coef, d - sym.symbol(s) * coef


def _atom_symbols(a: Any) -> set[str]:
    if a.is_symbol:
        return {a.op}
    out: set[str] = set()
    for arg in a.args:
        out |= sym.free_symbols(arg)
    return out
