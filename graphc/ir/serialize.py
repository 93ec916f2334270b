"""Programs as bytes, without pickle: a versioned, canonical format that loads hostile
input safely.

:func:`to_bytes` writes a program (graphc.ir.encoding holds the writer), :func:`from_bytes`
reads one back; the same program always gives the same bytes, and loading its bytes
gives a program that writes the same bytes again (:func:`round_trip_problem` checks that,
for the verifier). Nothing here unpickles, evaluates or imports anything named by the data.

Container (integers little-endian)::

    magic      8 bytes   b"GRAPHCP\\n"
    json_len   u64       length of the JSON document
    json       json_len bytes of ASCII: the structure, below
    blobs      everything after it: the raw bytes of the constant arrays, back to back in
               the order of the document's "blobs" table (no gaps, nothing after the last)

The document is canonical JSON (sorted keys, no spaces, ASCII only, no JSON floats)::

    {"format": "graphc.program", "version": 1,
     "atoms":   [ATOM, ...],    # the atoms of symbolic dims, each after its arguments:
                                #   [name] a symbol, [fn, DIM, DIM] fn in floordiv/max/min
     "sexprs":  [SEXPR, ...],   # scalar expression nodes, each after its arguments, each
                                #   once however often it is used: [op, [arg index, ...],
                                #   LITERAL], and for a typed in(i) its dtype name too
                                #   (every other node's dtype follows from its arguments)
     "blobs":   [{"dtype": name, "shape": [int, ...], "offset": int, "length": int}, ...],
     "params":  [{"kind": "feed"|"variable"|"rng", "name": str, "type": TYPE}, ...],
     "nodes":   [{"op": str, "in": [value number, ...], "attrs": {name: ATTR},
                  "out": [TYPE, ...], "origin": ORIGIN, "device": str,
                  "regions": [hex, ...]}, ...],   # "regions" only on a control-flow
                                # node (If, While): each sub-program's own bytes, in hex
     "outputs": [{"kind": "fetch"|"update", "name": str, "value": value number}, ...],
     "bindings": [{"dim": DIM, "param": int, "axis": int, "origin": str,
                   "source": "shape"|"value"}, ...],
     "assertions": [{"lhs": DIM, "rhs": DIM, "origin": ORIGIN}, ...],
     "defined_dims": [{"value": value number, "axis": int, "dim": DIM}, ...]}

    value numbers  the params 0..P-1, then each node's outputs in node order; a node's
                   inputs are numbers below its own outputs' (defined before use)
    TYPE           [dtype name, [DIM, ...]]
    DIM            an int, or {"poly": [[coefficient, [[atom index, power], ...]], ...]}
                   (terms in the printer's order, each monomial's atoms sorted)
    ORIGIN         [name, op type, location], or null
    ATTR           null, true/false, an int, a str, [ATTR, ...] (a tuple), {"f": FLOAT},
                   {"dtype": name}, {"poly": ...} (a dim), {"sexpr": index},
                   {"array": blob index} (each blob used once, in order), or
                   {"strings": [str, ...], "shape": [int, ...]} (a string array: each
                   bytes object as the text of its latin-1 code points)
    FLOAT          the 16 hex digits of a float's IEEE-754 binary64 bits, little-endian
                   (so -0.0, every NaN and inf come back bit for bit)
    LITERAL        null, true/false, an int, a str (cast's dtype), {"f": FLOAT}, or
                   {"np": [dtype name, hex of the little-endian bytes]} (a NumPy scalar)

Loading checks everything it builds: the header and sizes against the data's length
(no allocation larger than the data allows), every index against its table, every dtype
and op against the registry, every node's attrs against its op's schema, dims in their
normal form and within bounds. Anything else raises :class:`SerializationError` (a
ValueError). It does not run the ops' shape rules: :func:`graphc.ir.verify.verify` does,
on the loaded program.
"""

from __future__ import annotations

import collections
import hashlib
import json
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as _scalar
from graphc import symbolic as sym
from graphc.ir.encoding import (
    FORMAT,
    HEADER,
    INT_MAX,
    INT_MIN,
    MAGIC,
    VERSION,
    SerializationError,
    schema_of,
    to_bytes,
)
from graphc.ir.program import Assertion, DefinedDim, DimBinding, Node, Origin, Output, Param, Program, Value

__all__ = [
    "DimReader",
    "FORMAT",
    "VERSION",
    "SerializationError",
    "from_bytes",
    "difference",
    "round_trip_problem",
    "schema_of",
    "to_bytes",
]

_DTYPES = {d.name: d for d in _dt.ALL}
_ARRAY_DTYPES = {name: d for name, d in _DTYPES.items() if not d.is_string}
_MAX_POWER = 64
_MAX_RANK = 32
_MAX_ATTR_DEPTH = 16
_MAX_ATOM_TEXT = 1 << 16  # characters of one atom's printed form
_DIM_FUNCS = ("floordiv", "max", "min")
_PARAM_KINDS = ("feed", "variable", "rng")
_OUTPUT_KINDS = ("fetch", "update")
_SOURCES = ("shape", "value")
_CAST_TARGETS = frozenset(d.np.name for d in _ARRAY_DTYPES.values())


def round_trip_problem(program: Program, *, attrs_checked: bool = False) -> str | None:
    """What goes wrong when ``program`` is written, loaded and written again (None when
    nothing does): the loaded program must write the same bytes and be equal to it
    (:func:`difference`: so it prints the same, names and canonical text alike).
    Bytes already seen to round-trip are remembered (their digests, the last
    ``_ROUND_TRIPPED_MAX``), so checking a program again costs one write.
    ``attrs_checked``: the caller has checked every node's attrs against its schema."""
    try:
        data = to_bytes(program, check_attrs=not attrs_checked)
    except SerializationError as exc:
        return f"it cannot be written: {exc}"
    digest = hashlib.sha256(data).digest()
    with _ROUND_TRIPPED_LOCK:
        if digest in _ROUND_TRIPPED:
            _ROUND_TRIPPED.move_to_end(digest)
            return None
    try:
        loaded = from_bytes(data)
    except SerializationError as exc:
        return f"its bytes do not load: {exc}"
    if to_bytes(loaded) != data:
        return "the program loaded from its bytes writes different bytes"
    diff = difference(program, loaded)
    if diff is not None:
        return f"the program loaded from its bytes differs from it: {diff}"
    with _ROUND_TRIPPED_LOCK:
        _ROUND_TRIPPED[digest] = None
        while len(_ROUND_TRIPPED) > _ROUND_TRIPPED_MAX:
            _ROUND_TRIPPED.popitem(last=False)
    return None


def difference(a: Program, b: Program) -> str | None:
    """The first difference between two programs (None when they are equal): params,
    nodes (op, inputs by value number, attrs with their exact types, floats by their bits,
    output dtypes and shapes, origin, device), outputs, bindings, assertions and defined
    dims. Equal programs print the same, names and canonical text alike."""
    if len(a.params) != len(b.params) or len(a.nodes) != len(b.nodes) or len(a.outputs) != len(b.outputs):
        return "a different number of params, nodes or outputs"
    na: dict[int, int] = {}
    nb: dict[int, int] = {}
    for i, (p, q) in enumerate(zip(a.params, b.params)):
        if p.kind != q.kind or p.name != q.name or not _same_type(p.value, q.value):
            return f"param {i}"
        na[id(p.value)] = nb[id(q.value)] = i
    for k, (n, m) in enumerate(zip(a.nodes, b.nodes)):
        if n.op != m.op or n.device != m.device or n.origin != m.origin:
            return f"node {k} ({n.op}): op, device or origin"
        if len(n.inputs) != len(m.inputs) or any(
            na.get(id(u), -1) != nb.get(id(v), -2) for u, v in zip(n.inputs, m.inputs)
        ):
            return f"node {k} ({n.op}): inputs"
        if n.attrs.keys() != m.attrs.keys() or not all(
            _same_value(v, m.attrs[key]) for key, v in n.attrs.items()
        ):
            return f"node {k} ({n.op}): attrs"
        if len(n.outputs) != len(m.outputs) or not all(
            _same_type(u, v) for u, v in zip(n.outputs, m.outputs)
        ):
            return f"node {k} ({n.op}): outputs"
        if len(n.regions) != len(m.regions):
            return f"node {k} ({n.op}): the number of sub-programs"
        for j, (r, s) in enumerate(zip(n.regions, m.regions)):
            sub = difference(r, s)
            if sub is not None:
                return f"node {k} ({n.op}) sub-program {j}: {sub}"
        for u, v in zip(n.outputs, m.outputs):
            na[id(u)] = nb[id(v)] = len(na)
    for i, (o, r) in enumerate(zip(a.outputs, b.outputs)):
        if o.kind != r.kind or o.name != r.name or na.get(id(o.value), -1) != nb.get(id(r.value), -2):
            return f"output {i}"
    if a.bindings != b.bindings or a.assertions != b.assertions:
        return "bindings or assertions"
    if len(a.defined_dims) != len(b.defined_dims) or any(
        d.axis != e.axis or d.dim != e.dim or na.get(id(d.value), -1) != nb.get(id(e.value), -2)
        for d, e in zip(a.defined_dims, b.defined_dims)
    ):
        return "defined dims"
    return None


def _same_type(u: Value, v: Value) -> bool:
    return u.dtype == v.dtype and u.shape == v.shape


def _same_value(x: Any, y: Any) -> bool:
    t = type(x)
    if t is not type(y):
        return False
    if t is float:
        return struct.pack("<d", x) == struct.pack("<d", y)
    if t is tuple:
        return len(x) == len(y) and all(_same_value(u, v) for u, v in zip(x, y))
    if t is np.ndarray:
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        return x.tolist() == y.tolist() if x.dtype == object else x.tobytes() == y.tobytes()
    if t is _scalar.SExpr:
        return x is y  # interned: equal expressions are one object
    return bool(x == y)


_ROUND_TRIPPED: collections.OrderedDict[bytes, None] = collections.OrderedDict()
_ROUND_TRIPPED_LOCK = threading.Lock()
_ROUND_TRIPPED_MAX = 4096


def from_bytes(data: bytes | bytearray | memoryview) -> Program:
    """The program ``data`` holds; :class:`SerializationError` for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SerializationError(f"expected bytes, got {type(data).__name__}")
    return _Reader(bytes(data)).program()


def _from_bytes_at(data: bytes, depth: int) -> Program:
    if depth > _MAX_REGION_DEPTH:
        raise SerializationError(f"sub-programs nested more than {_MAX_REGION_DEPTH} deep")
    return _Reader(data, depth).program()


_NODE_KEYS = frozenset(("op", "in", "attrs", "out", "origin", "device"))
_REGION_NODE_KEYS = _NODE_KEYS | {"regions"}
_MAX_REGION_DEPTH = 16  # sub-programs nested in sub-programs, at most


class DimReader:
    """Dims written by graphc.ir.encoding.DimWriter: the table of atoms ``atoms`` is read
    and checked as a program's is (names, functions, arguments first, printed size within
    a budget of ``budget`` characters); :meth:`dim` reads one dim's JSON value against it.
    Anything else raises :class:`SerializationError`."""

    def __init__(self, atoms: Any, budget: int) -> None:
        self._reader = _Reader(b"")
        self._reader.text_budget = max(0, int(budget)) + _MAX_ATOM_TEXT
        for i, rec in enumerate(self._reader.lst(atoms, "atoms")):
            self._reader.read_atom(i, rec)

    def dim(self, x: Any, what: str = "dim") -> sym.Dim:
        return self._reader.dim(x, what)


class _Where(tuple):  # type: ignore[type-arg]
    """Where a value is, for a message: formatted only when the message is made."""

    def __str__(self) -> str:
        return " ".join(str(p) for p in self)

    def __format__(self, spec: str) -> str:
        return str(self)


def _no_float(text: str) -> Any:
    raise SerializationError(f"a JSON float ({text[:40]}) where the format has none")


def _no_constant(text: str) -> Any:
    raise SerializationError(f"{text} is not JSON")


class _Reader:
    def __init__(self, data: bytes, depth: int = 0) -> None:
        self.data = data
        self.depth = depth
        self.atoms: list[sym.Atom] = []
        self.atom_set: set[sym.Atom] = set()
        self.text_budget = 16 * len(data) + _MAX_ATOM_TEXT
        self.sexprs: list[_scalar.SExpr] = []
        self.origins: dict[tuple[str, str, str], Origin] = {}
        self.blob_arrays: list[Callable[[], np.ndarray]] = []
        self.next_blob = 0

    def fail(self, what: str) -> SerializationError:
        return SerializationError(what)

    # -- container -------------------------------------------------------------------
    def program(self) -> Program:
        data = self.data
        if len(data) < HEADER.size:
            raise self.fail(f"truncated: {len(data)} bytes, shorter than the {HEADER.size}-byte header")
        magic, json_len = HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise self.fail(f"not a graphc program (magic {magic!r}, expected {MAGIC!r})")
        if json_len > len(data) - HEADER.size:
            raise self.fail(
                f"truncated: the header announces {json_len} bytes of JSON, "
                f"{len(data) - HEADER.size} bytes follow it"
            )
        self.blob_start = HEADER.size + json_len
        try:
            text = data[HEADER.size : self.blob_start].decode("ascii")
            doc = json.loads(text, parse_float=_no_float, parse_constant=_no_constant)
        except SerializationError:
            raise
        except RecursionError:
            raise self.fail("the JSON document is nested too deeply") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise self.fail(f"the JSON document is malformed: {exc}") from None
        return self.document(doc)

    def document(self, doc: Any) -> Program:
        doc = self.obj(
            doc,
            "the document",
            (
                "format",
                "version",
                "atoms",
                "sexprs",
                "blobs",
                "params",
                "nodes",
                "outputs",
                "bindings",
                "assertions",
                "defined_dims",
            ),
        )
        if doc["format"] != FORMAT:
            raise self.fail(f"format {doc['format']!r} is not {FORMAT!r}")
        version = doc["version"]
        if type(version) is not int or version != VERSION:
            raise self.fail(f"format version {version!r}; this graphc reads version {VERSION}")
        self.read_blobs(self.lst(doc["blobs"], "blobs"))
        for i, rec in enumerate(self.lst(doc["atoms"], "atoms")):
            self.read_atom(i, rec)
        for i, rec in enumerate(self.lst(doc["sexprs"], "sexprs")):
            self.read_sexpr(i, rec)

        values: list[Value] = []
        params: list[Param] = []
        for i, rec in enumerate(self.lst(doc["params"], "params")):
            what = f"param {i}"
            rec = self.obj(rec, what, ("kind", "name", "type"))
            kind = self.choice(rec["kind"], f"{what} kind", _PARAM_KINDS)
            dtype, shape = self.vtype(rec["type"], what)
            v = Value(dtype, shape)
            values.append(v)
            params.append(Param(v, kind, self.string(rec["name"], f"{what} name")))

        nodes: list[Node] = []
        for k, rec in enumerate(self.lst(doc["nodes"], "nodes")):
            nodes.append(self.node(k, rec, values))

        outputs: list[Output] = []
        for i, rec in enumerate(self.lst(doc["outputs"], "outputs")):
            what = f"output {i}"
            rec = self.obj(rec, what, ("kind", "name", "value"))
            kind = self.choice(rec["kind"], f"{what} kind", _OUTPUT_KINDS)
            v = values[self.index(rec["value"], len(values), f"{what} value")]
            outputs.append(Output(v, kind, self.string(rec["name"], f"{what} name")))

        bindings: list[DimBinding] = []
        for i, rec in enumerate(self.lst(doc["bindings"], "bindings")):
            what = f"binding {i}"
            rec = self.obj(rec, what, ("dim", "param", "axis", "origin", "source"))
            p = self.index(rec["param"], len(params), f"{what} param")
            source = self.choice(rec["source"], f"{what} source", _SOURCES)
            shape = params[p].value.shape
            if source == "shape":
                axis = self.index(rec["axis"], len(shape), f"{what} axis")
            else:
                axis = self.index(rec["axis"], INT_MAX, f"{what} axis")
            bindings.append(
                DimBinding(
                    self.dim(rec["dim"], f"{what} dim"),
                    p,
                    axis,
                    self.string(rec["origin"], f"{what} origin"),
                    source,
                )
            )

        assertions: list[Assertion] = []
        for i, rec in enumerate(self.lst(doc["assertions"], "assertions")):
            what = f"assertion {i}"
            rec = self.obj(rec, what, ("lhs", "rhs", "origin"))
            assertions.append(
                Assertion(
                    self.dim(rec["lhs"], f"{what} lhs"),
                    self.dim(rec["rhs"], f"{what} rhs"),
                    self.origin(rec["origin"], what),
                )
            )

        defined: list[DefinedDim] = []
        for i, rec in enumerate(self.lst(doc["defined_dims"], "defined_dims")):
            what = f"defined dim {i}"
            rec = self.obj(rec, what, ("value", "axis", "dim"))
            v = values[self.index(rec["value"], len(values), f"{what} value")]
            axis = self.index(rec["axis"], len(v.shape), f"{what} axis")
            defined.append(DefinedDim(v, axis, self.dim(rec["dim"], f"{what} dim")))

        if self.next_blob != len(self.blob_arrays):
            raise self.fail(f"{len(self.blob_arrays) - self.next_blob} blobs are not used by any attr")
        return Program(params, nodes, outputs, bindings, assertions, defined)

    def node(self, k: int, rec: Any, values: list[Value]) -> Node:
        # The common case is checked inline; messages are built only on failure.
        if type(rec) is not dict or (rec.keys() != _NODE_KEYS and rec.keys() != _REGION_NODE_KEYS):
            self.obj(rec, f"node {k}", tuple(_NODE_KEYS))
        op = rec["op"]
        if type(op) is not str:
            raise self.fail(f"node {k} op must be a string, got {type(op).__name__}")
        schema = schema_of(op)
        if schema is None:
            raise self.fail(f"node {k} ({op}): no op named {op!r} is registered")
        ins = rec["in"]
        if type(ins) is not list:
            raise self.fail(f"node {k} ({op}) inputs must be a JSON list")
        n = len(values)
        inputs = []
        for j, x in enumerate(ins):
            if type(x) is not int or not 0 <= x < n:
                raise self.fail(f"node {k} ({op}) input {j} is {x!r}, out of range [0, {n})")
            inputs.append(values[x])
        raw = rec["attrs"]
        if type(raw) is not dict:
            raise self.fail(f"node {k} ({op}): attrs must be an object")
        attrs = {}
        for key in sorted(raw):
            attrs[key] = self.attr(raw[key], _Where((f"node {k} ({op}) attr", repr(key))), 0)
        if attrs or schema:
            problem = reg.attr_problem(schema, attrs)
            if problem is not None:
                raise self.fail(f"node {k} ({op}) {problem}")
        outs = rec["out"]
        if type(outs) is not list:
            raise self.fail(f"node {k} ({op}) outputs must be a JSON list")
        expected = reg.get(op).num_outputs
        if expected is not None and len(outs) != expected:
            raise self.fail(f"node {k} ({op}): {len(outs)} outputs, the op has {expected}")
        device = rec["device"]
        if type(device) is not str:
            raise self.fail(f"node {k} ({op}) device must be a string")
        regions: list[Program] = []
        if "regions" in rec:
            raw_regions = self.lst(rec["regions"], f"node {k} ({op}) regions")
            if not raw_regions:
                raise self.fail(f"node {k} ({op}): an empty regions list (leave the key out)")
            for j, text in enumerate(raw_regions):
                if type(text) is not str or len(text) % 2:
                    raise self.fail(f"node {k} ({op}) region {j} must be a string of hex digits")
                try:
                    raw = bytes.fromhex(text)
                except ValueError:
                    raise self.fail(f"node {k} ({op}) region {j} must be a string of hex digits") from None
                try:
                    regions.append(_from_bytes_at(raw, self.depth + 1))
                except SerializationError as exc:
                    raise self.fail(f"node {k} ({op}) region {j}: {exc}") from None
        node = Node(op, inputs, attrs, [], self.origin(rec["origin"], f"node {k}"), device, tuple(regions))
        for j, t in enumerate(outs):
            dtype, shape = self.vtype(t, _Where((f"node {k} ({op}) output", j)))
            v = Value(dtype, shape, node, j)
            node.outputs.append(v)
            values.append(v)
        return node

    # -- plain JSON values -------------------------------------------------------------
    def obj(self, x: Any, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if type(x) is not dict:
            raise self.fail(f"{what} must be a JSON object, got {type(x).__name__}")
        if set(x) != set(keys):
            missing = sorted(set(keys) - set(x))
            extra = sorted(set(x) - set(keys))
            raise self.fail(f"{what}: missing fields {missing}, unknown fields {extra}")
        return x

    def lst(self, x: Any, what: str) -> list[Any]:
        if type(x) is not list:
            raise self.fail(f"{what} must be a JSON list, got {type(x).__name__}")
        return x

    def string(self, x: Any, what: str) -> str:
        if type(x) is not str:
            raise self.fail(f"{what} must be a string, got {type(x).__name__}")
        return x

    def choice(self, x: Any, what: str, allowed: tuple[str, ...]) -> str:
        if type(x) is not str or x not in allowed:
            raise self.fail(f"{what} is {x!r}, not one of {list(allowed)}")
        return x

    def integer(self, x: Any, what: str, lo: int = INT_MIN, hi: int = INT_MAX) -> int:
        if type(x) is not int or not lo <= x < hi:
            raise self.fail(f"{what} must be an int in [{lo}, {hi}), got {x!r}")
        return x

    def index(self, x: Any, n: int, what: str) -> int:
        if type(x) is not int or not 0 <= x < n:
            raise self.fail(f"{what} is {x!r}, out of range [0, {n})")
        return x

    def origin(self, x: Any, what: str) -> Origin | None:
        if x is None:
            return None
        if type(x) is not list or len(x) != 3 or not all(type(s) is str for s in x):
            raise self.fail(f"{what} origin must be [name, type, location], three strings")
        key = (x[0], x[1], x[2])
        o = self.origins.get(key)
        if o is None:
            o = self.origins[key] = Origin(*key)
        return o

    def float_bits(self, x: Any, what: str) -> float:
        if type(x) is not str or len(x) != 16:
            raise self.fail(f"{what}: a float is 16 hex digits")
        try:
            return struct.unpack("<d", bytes.fromhex(x))[0]
        except ValueError:
            raise self.fail(f"{what}: {x!r} is not hex") from None

    # -- types and dims ----------------------------------------------------------------
    def vtype(self, x: Any, what: Any) -> tuple[_dt.DType, tuple[sym.Dim, ...]]:
        if type(x) is not list or len(x) != 2:
            raise self.fail(f"{what} type must be [dtype, shape]")
        name, shape = x
        if type(name) is not str or name not in _DTYPES:
            raise self.fail(f"{what}: unknown dtype {name!r}")
        if type(shape) is not list:
            raise self.fail(f"{what} shape must be a JSON list")
        if all(type(d) is int and 0 <= d < INT_MAX for d in shape):
            return _DTYPES[name], tuple(shape)
        dims = []
        for i, d in enumerate(shape):
            if type(d) is int and d < 0:
                raise self.fail(f"{what}: dim {i} is {d}")
            dims.append(self.dim(d, _Where((what, "dim", i))))
        return _DTYPES[name], tuple(dims)

    def dim(self, x: Any, what: Any) -> sym.Dim:
        if type(x) is int:
            return self.integer(x, what)
        if type(x) is not dict or x.keys() != {"poly"} or type(x["poly"]) is not list:
            raise self.fail(f"{what} must be an int or a polynomial")
        atoms, n_atoms = self.atoms, len(self.atoms)
        terms: dict[sym.Monomial, int] = {}
        for t in x["poly"]:
            if type(t) is not list or len(t) != 2 or type(t[1]) is not list:
                raise self.fail(f"{what}: a term is [coefficient, [factor, ...]]")
            coef = t[0]
            if type(coef) is not int or not INT_MIN <= coef < INT_MAX or coef == 0:
                raise self.fail(f"{what}: the coefficient {coef!r} is not a nonzero int64")
            powers: dict[sym.Atom, int] = {}
            for f in t[1]:
                if type(f) is not list or len(f) != 2:
                    raise self.fail(f"{what}: a factor is [atom, power]")
                a, p = f
                if type(a) is not int or not 0 <= a < n_atoms:
                    raise self.fail(f"{what}: atom {a!r} out of range [0, {n_atoms})")
                if type(p) is not int or not 1 <= p <= _MAX_POWER:
                    raise self.fail(f"{what}: the power {p!r} is not an int in [1, {_MAX_POWER}]")
                atom = atoms[a]
                if atom in powers:
                    raise self.fail(f"{what}: atom {atom} twice in one monomial")
                powers[atom] = p
            mono = tuple(sorted(powers.items())) if len(powers) > 1 else tuple(powers.items())
            if mono in terms:
                raise self.fail(f"{what}: the same monomial twice")
            terms[mono] = coef
        if not terms or list(terms) == [()]:
            raise self.fail(f"{what}: a constant polynomial (write the int)")
        return sym.Poly(terms)

    def _text_of(self, d: sym.Dim) -> int:
        """An upper bound on len(str(d)), from the lengths of its atoms' printed forms."""
        if isinstance(d, int):
            return len(str(d))
        n = 0
        for mono, coef in d.terms.items():
            n += len(str(coef)) + 3
            for a, p in mono:
                n += len(a._key) + len(str(p)) + 3
        return n

    def read_atom(self, i: int, rec: Any) -> None:
        what = f"atom {i}"
        rec = self.lst(rec, what)
        if not rec or type(rec[0]) is not str or not rec[0]:
            raise self.fail(f"{what} must start with a name")
        if len(rec) == 1:
            if len(rec[0]) > _MAX_ATOM_TEXT:
                raise self.fail(f"{what}: a symbol name of {len(rec[0])} characters")
            atom = sym.Atom(rec[0])
        else:
            if rec[0] not in _DIM_FUNCS or len(rec) != 3:
                raise self.fail(
                    f"{what}: {rec[0]!r} of {len(rec) - 1} dims is not one of {list(_DIM_FUNCS)} of two"
                )
            args = tuple(self.dim(a, f"{what} arg") for a in rec[1:])
            # An atom's printed form holds its arguments' (nested atoms repeat their text),
            # so bound it before building it: shared arguments could double it at each level.
            size = len(rec[0]) + 4 + sum(self._text_of(a) for a in args)
            if size > _MAX_ATOM_TEXT or size > self.text_budget:
                raise self.fail(f"{what} would print as {size} characters, more than the format allows")
            self.text_budget -= size
            atom = sym.Atom(rec[0], args)
        if atom in self.atom_set:
            raise self.fail(f"{what}: the same atom twice in the table")
        self.atom_set.add(atom)
        self.atoms.append(atom)

    # -- scalar expressions ------------------------------------------------------------
    def read_sexpr(self, i: int, rec: Any) -> None:
        what = f"scalar expression node {i}"
        rec = self.lst(rec, what)
        if len(rec) not in (3, 4):
            raise self.fail(f"{what} must be [op, args, attr] or [op, args, attr, dtype]")
        op = rec[0]
        if type(op) is not str or (op not in _scalar.PRIMITIVES and op not in ("in", "const")):
            raise self.fail(f"{what}: unknown scalar primitive {op!r}")
        args = tuple(
            self.sexprs[self.index(a, len(self.sexprs), f"{what} arg")] for a in self.lst(rec[1], what)
        )
        attr = self.literal(rec[2], what)
        if op in ("in", "const"):
            if args:
                raise self.fail(f"{what}: {op} takes no arguments")
            if op == "in" and (type(attr) is not int or not 0 <= attr < 2**31):
                raise self.fail(f"{what}: in() needs an input index, got {attr!r}")
            if op == "const" and not (type(attr) in (bool, int, float) or isinstance(attr, np.generic)):
                raise self.fail(f"{what}: const() needs a number, got {attr!r}")
        else:
            if op == "cast":
                if type(attr) is not str or attr not in _CAST_TARGETS:
                    raise self.fail(f"{what}: cast to {attr!r}, not a graphc dtype")
            elif attr is not None:
                raise self.fail(f"{what}: {op} takes no attr, got {attr!r}")
        dtype = None
        if len(rec) == 4:
            if type(rec[3]) is not str or rec[3] not in _ARRAY_DTYPES:
                raise self.fail(f"{what}: {rec[3]!r} is not the dtype of a scalar")
            dtype = _ARRAY_DTYPES[rec[3]].np
        try:
            e = _scalar.SExpr(op, args, attr) if dtype is None else _scalar.SExpr(op, args, attr, dtype)
        except (TypeError, ValueError) as exc:  # the constructor checks arity and dtypes
            raise self.fail(f"{what}: {exc}") from None
        self.sexprs.append(e)

    def literal(self, x: Any, what: str) -> Any:
        if x is None or type(x) in (bool, str):
            return x
        if type(x) is int:
            return self.integer(x, what)
        if type(x) is dict and set(x) == {"f"}:
            return self.float_bits(x["f"], what)
        if type(x) is dict and set(x) == {"np"}:
            v = self.lst(x["np"], what)
            if len(v) != 2 or type(v[0]) is not str or v[0] not in _ARRAY_DTYPES or type(v[1]) is not str:
                raise self.fail(f"{what}: a NumPy scalar is [dtype, hex]")
            np_dtype = _ARRAY_DTYPES[v[0]].np
            if len(v[1]) != 2 * np_dtype.itemsize:
                raise self.fail(f"{what}: {len(v[1])} hex digits for a {v[0]}")
            try:
                raw = bytes.fromhex(v[1])
            except ValueError:
                raise self.fail(f"{what}: {v[1]!r} is not hex") from None
            if np_dtype.kind == "b" and raw not in (b"\x00", b"\x01"):
                raise self.fail(f"{what}: a bool is 00 or 01")
            return np.frombuffer(raw, dtype=np_dtype.newbyteorder("<")).astype(np_dtype)[0]
        raise self.fail(f"{what}: {x!r} is not a scalar literal")

    # -- constant arrays ---------------------------------------------------------------
    def shape(self, x: Any, what: str) -> tuple[int, ...]:
        dims = self.lst(x, what)
        if len(dims) > _MAX_RANK:
            raise self.fail(f"{what}: rank {len(dims)}, more than {_MAX_RANK}")
        return tuple(self.integer(d, f"{what} dim", 0, 2**62) for d in dims)

    def read_blobs(self, table: list[Any]) -> None:
        available = len(self.data) - self.blob_start
        end = 0
        for i, rec in enumerate(table):
            what = f"blob {i}"
            rec = self.obj(rec, what, ("dtype", "shape", "offset", "length"))
            name = rec["dtype"]
            if type(name) is not str or name not in _ARRAY_DTYPES:
                raise self.fail(f"{what}: {name!r} is not the dtype of a numeric or bool array")
            np_dtype = _ARRAY_DTYPES[name].np
            shape = self.shape(rec["shape"], f"{what} shape")
            size = 1
            # An empty array needs no bytes whatever its other dims; otherwise the running
            # product is checked at each step (no huge number is ever built).
            for d in () if 0 in shape else shape:
                size *= d
                if size * np_dtype.itemsize > available:  # checked before anything is allocated
                    raise self.fail(f"{what}: shape {list(shape)} needs more bytes than the data holds")
            if 0 in shape:
                size = 0
            length = size * np_dtype.itemsize
            if rec["offset"] != end or type(rec["offset"]) is not int:
                raise self.fail(f"{what}: offset {rec['offset']!r}, the previous blob ends at {end}")
            if rec["length"] != length or type(rec["length"]) is not int:
                raise self.fail(f"{what}: length {rec['length']!r}, a {name}{list(shape)} takes {length}")
            if end + length > available:
                raise self.fail(
                    f"{what}: bytes {end}..{end + length} are past the end of the data ({available})"
                )
            self.blob_arrays.append(self._blob(self.blob_start + end, size, np_dtype, shape, what))
            end += length
        if end != available:
            raise self.fail(f"{available - end} bytes after the last blob")

    def _blob(
        self, start: int, size: int, np_dtype: np.dtype, shape: tuple[int, ...], what: str
    ) -> Callable[[], np.ndarray]:
        def make() -> np.ndarray:
            raw = np.frombuffer(self.data, dtype=np_dtype.newbyteorder("<"), count=size, offset=start)
            if np_dtype.kind == "b" and size and raw.view(np.uint8).max() > 1:
                raise self.fail(f"{what}: a bool array holds bytes other than 0 and 1")
            arr = raw.astype(np_dtype).reshape(shape)  # a copy of its own, aligned
            arr.setflags(write=False)
            return arr

        return make

    def strings(self, x: dict[str, Any], what: str) -> np.ndarray:
        items = self.lst(x["strings"], what)
        shape = self.shape(x["shape"], f"{what} shape")
        size = 1
        for d in shape:
            size *= d
            if size > len(items):
                break
        if size != len(items):
            raise self.fail(f"{what}: {len(items)} strings for shape {list(shape)}")
        arr = np.empty(len(items), dtype=object)
        for i, s in enumerate(items):
            if type(s) is not str:
                raise self.fail(f"{what}: item {i} is not a string")
            try:
                arr[i] = s.encode("latin-1")
            except UnicodeEncodeError:
                raise self.fail(f"{what}: item {i} has a character above U+00FF") from None
        arr = arr.reshape(shape)
        arr.setflags(write=False)
        return arr

    # -- attribute values --------------------------------------------------------------
    def attr(self, x: Any, what: Any, depth: int) -> Any:
        t = type(x)
        if t is bool or t is str or x is None:
            return x
        if t is int:
            if not INT_MIN <= x < INT_MAX:
                raise self.fail(f"{what} must be an int in [{INT_MIN}, {INT_MAX}), got {x!r}")
            return x
        if depth >= _MAX_ATTR_DEPTH:
            raise self.fail(f"{what}: nested more than {_MAX_ATTR_DEPTH} deep")
        if t is list:
            return tuple([self.attr(v, what, depth + 1) for v in x])
        if type(x) is not dict:
            raise self.fail(f"{what}: {type(x).__name__} is not an attr value")
        keys = set(x)
        if keys == {"f"}:
            return self.float_bits(x["f"], what)
        if keys == {"dtype"}:
            name = x["dtype"]
            if type(name) is not str or name not in _DTYPES:
                raise self.fail(f"{what}: unknown dtype {name!r}")
            return _DTYPES[name]
        if keys == {"poly"}:
            return self.dim(x, what)
        if keys == {"sexpr"}:
            i = x["sexpr"]
            if type(i) is not int or not 0 <= i < len(self.sexprs):
                raise self.fail(f"{what}: expression {i!r} out of range [0, {len(self.sexprs)})")
            return self.sexprs[i]
        if keys == {"array"}:
            k = self.index(x["array"], len(self.blob_arrays), f"{what}: blob")
            if k != self.next_blob:
                raise self.fail(
                    f"{what}: blob {k} where blob {self.next_blob} comes next (each once, in order)"
                )
            self.next_blob += 1
            return self.blob_arrays[k]()
        if keys == {"strings", "shape"}:
            return self.strings(x, what)
        raise self.fail(f"{what}: an object with fields {sorted(keys)} is not an attr value")
