"""The writer of the program format (graphc.ir.serialize documents the format and loads it).

It reads a program through its fields only and imports no other IR module, so that
:meth:`graphc.ir.program.Program.content_hash` can hash a program's bytes. Writing checks
what loading checks of the structure: every input defined before its use, every op
registered, every node's attrs those of its op's schema; a program that fails raises
:class:`SerializationError` instead of giving bytes that would not load.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any

import numpy as np

from graphc import dtypes as _dt
from graphc import registry as reg
from graphc import scalar as _scalar
from graphc import symbolic as sym

MAGIC = b"GRAPHCP\n"
FORMAT = "graphc.program"
VERSION = 1
HEADER = struct.Struct("<8sQ")  # magic, length of the JSON document


class SerializationError(ValueError):
    """A program that cannot be written, or bytes that are not a program (truncated,
    corrupt, of another format or version, or describing an invalid program)."""


def schema_of(op: str) -> dict[str, reg.AttrType] | None:
    """The attr schema of ``op``; None when no such op is registered."""
    try:
        return reg.get(op).attrs
    except KeyError:
        return None


def float_bits(x: float) -> str:
    """A Python float as the hex of its IEEE-754 binary64 bits (every value, -0.0 and NaN
    payloads included, comes back bit for bit)."""
    return struct.pack("<d", x).hex()


def to_bytes(program: Any, *, names: bool = True, check_attrs: bool = True) -> bytes:
    """The program as bytes; the same program always gives the same bytes.

    ``names=False`` leaves out what only names things for people (param names, the
    variable names of updates, origins): two graphs built alike give the same bytes.
    ``check_attrs=False``: the caller has checked every node's attrs against its op's
    schema already (the verifier has)."""
    return _Writer(names, check_attrs).program(program)


class DimWriter:
    """Dims as the program format writes them (DIM, over a table of atoms each after its
    arguments), for documents other than a program's (the compile cache's memory plans).
    :meth:`dim` gives a dim's JSON value; :attr:`atoms` is the table they refer to, read
    back by graphc.ir.serialize.DimReader."""

    def __init__(self) -> None:
        self._writer = _Writer(names=False)

    def dim(self, d: Any) -> Any:
        return self._writer.dim(d)

    @property
    def atoms(self) -> list[list[Any]]:
        return self._writer.atoms


class _Writer:
    def __init__(self, names: bool, check_attrs: bool = True) -> None:
        self.names = names
        self.check_attrs = check_attrs
        self.atoms: list[list[Any]] = []
        self.atom_index: dict[sym.Atom, int] = {}
        self.sexprs: list[list[Any]] = []
        self.sexpr_index: dict[_scalar.SExpr, int] = {}
        self.blob_table: list[dict[str, Any]] = []
        self.blobs: list[bytes] = []
        self.blob_size = 0
        self.dim_cache: dict[sym.Poly, Any] = {}
        self.shapes: dict[tuple[Any, ...], list[Any]] = {}

    # -- the document ----------------------------------------------------------------
    def program(self, p: Any) -> bytes:
        number: dict[int, int] = {}
        params = []
        for i, prm in enumerate(p.params):
            number[id(prm.value)] = i
            params.append(
                {"kind": prm.kind, "name": prm.name if self.names else "", "type": self.vtype(prm.value)}
            )
        nodes = []
        for k, n in enumerate(p.nodes):
            ins = []
            for j, v in enumerate(n.inputs):
                x = number.get(id(v))
                if x is None:
                    raise SerializationError(f"node {k} ({n.op}): input {j} is not defined before the node")
                ins.append(x)
            if self.check_attrs:
                schema = schema_of(n.op)
                if schema is None:
                    raise SerializationError(f"node {k}: no op named {n.op!r} is registered")
                problem = reg.attr_problem(schema, n.attrs)
                if problem is not None:
                    raise SerializationError(f"node {k} ({n.op}) {problem}")
            attrs = {key: self.attr(v) for key, v in n.attrs.items()} if n.attrs else {}
            for v in n.outputs:
                number[id(v)] = len(number)
            rec = {
                "op": n.op,
                "in": ins,
                "attrs": attrs,
                "out": [self.vtype(v) for v in n.outputs],
                "origin": self.origin(n.origin),
                "device": n.device,
            }
            if n.regions:
                # A control-flow node's sub-programs, each as the hex of its own bytes (its
                # own tables of atoms, expressions and blobs); the key is absent otherwise,
                # so programs without control flow write the bytes they always did.
                rec["regions"] = [_Writer(self.names, self.check_attrs).program(r).hex() for r in n.regions]
            nodes.append(rec)
        outputs = []
        for o in p.outputs:
            x = number.get(id(o.value))
            if x is None:
                raise SerializationError(f"output {o.kind} {o.name!r} is not defined by the program")
            named = self.names or o.kind == "fetch"  # a fetch's name is its position
            outputs.append({"kind": o.kind, "name": o.name if named else "", "value": x})
        bindings = [
            {
                "dim": self.dim(b.dim),
                "param": b.param,
                "axis": b.axis,
                "origin": b.origin if self.names else "",
                "source": b.source,
            }
            for b in p.bindings
        ]
        assertions = [
            {"lhs": self.dim(a.lhs), "rhs": self.dim(a.rhs), "origin": self.origin(a.origin)}
            for a in p.assertions
        ]
        defined = []
        for d in p.defined_dims:
            x = number.get(id(d.value))
            if x is None:
                raise SerializationError("a defined dim's value is not defined by the program")
            defined.append({"value": x, "axis": d.axis, "dim": self.dim(d.dim)})
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "atoms": self.atoms,
            "sexprs": self.sexprs,
            "blobs": self.blob_table,
            "params": params,
            "nodes": nodes,
            "outputs": outputs,
            "bindings": bindings,
            "assertions": assertions,
            "defined_dims": defined,
        }
        try:
            text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"the program holds a value the format has no place for: {exc}"
            ) from None
        body = text.encode("ascii")
        return b"".join([HEADER.pack(MAGIC, len(body)), body, *self.blobs])

    def origin(self, o: Any) -> list[str] | None:
        if o is None or not self.names:
            return None
        return [o.name, o.type, o.location]

    def vtype(self, v: Any) -> list[Any]:
        shape = v.shape
        out = self.shapes.get(shape)  # values share shapes: each is encoded once
        if out is None:
            if all(type(d) is int and 0 <= d < INT_MAX for d in shape):
                out = list(shape)
            else:
                out = [self.dim(d) for d in shape]
            self.shapes[shape] = out
        return [v.dtype.name, out]

    # -- dims: ints, and polynomials over a table of atoms (arguments first) ----------
    def dim(self, d: Any) -> Any:
        if type(d) is int:
            return _int(d)
        if not isinstance(d, sym.Poly):
            raise SerializationError(f"{d!r} ({type(d).__name__}) is not a dimension")
        hit = self.dim_cache.get(d)
        if hit is not None:
            return hit
        self._index_atoms(d)
        terms = []
        for mono, coef in sorted(d.terms.items(), key=lambda t: [(a._key, p) for a, p in t[0]]):
            terms.append([coef, [[self.atom_index[a], p] for a, p in mono]])
        out = {"poly": terms}
        self.dim_cache[d] = out
        return out

    def _index_atoms(self, d: sym.Poly) -> None:
        """Give every atom under ``d`` its number, each after its arguments (iteratively)."""
        stack: list[tuple[sym.Atom, bool]] = [(a, False) for a in sorted(d.atoms(), reverse=True)]
        while stack:
            atom, ready = stack.pop()
            if atom in self.atom_index:
                continue
            if not ready:
                stack.append((atom, True))
                for arg in reversed(atom.args):
                    if isinstance(arg, sym.Poly):
                        stack.extend((a, False) for a in sorted(arg.atoms(), reverse=True))
                continue
            if atom.is_symbol:
                record = [atom.op]
            else:
                record = [atom.op, *(self.dim(arg) for arg in atom.args)]
            self.atom_index[atom] = len(self.atoms)
            self.atoms.append(record)

    # -- attribute values --------------------------------------------------------------
    def attr(self, v: Any) -> Any:
        t = type(v)
        if t is bool or t is str or v is None:
            return v
        if t is int:
            return _int(v)
        if t is tuple:
            return [self.attr(x) for x in v]
        if t is float:
            return {"f": float_bits(v)}
        if isinstance(v, _dt.DType):
            return {"dtype": v.name}
        if isinstance(v, sym.Poly):
            return self.dim(v)
        if isinstance(v, _scalar.SExpr):
            return {"sexpr": self.sexpr(v)}
        if type(v) is np.ndarray:
            return self.array(v)
        raise SerializationError(f"an attr value of type {type(v).__name__} has no place in the format")

    def array(self, arr: np.ndarray) -> dict[str, Any]:
        if arr.dtype == object:  # strings: bytes, each as the text of its latin-1 code points
            return {"strings": [b.decode("latin-1") for b in arr.flat], "shape": list(arr.shape)}
        dt = _dt.as_dtype(arr.dtype.newbyteorder("="))
        if arr.dtype.byteorder in "=|" and _LITTLE_ENDIAN or arr.dtype.byteorder == "<":
            raw = arr.tobytes()  # C order
        else:
            raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        self.blob_table.append(
            {"dtype": dt.name, "shape": list(arr.shape), "offset": self.blob_size, "length": len(raw)}
        )
        self.blobs.append(raw)
        self.blob_size += len(raw)
        return {"array": len(self.blob_table) - 1}

    # -- scalar expressions: a table of nodes, arguments first, shared nodes once ------
    def sexpr(self, root: _scalar.SExpr) -> int:
        stack: list[tuple[_scalar.SExpr, bool]] = [(root, False)]
        while stack:
            e, ready = stack.pop()
            if e in self.sexpr_index:
                continue
            if not ready:
                stack.append((e, True))
                stack.extend((a, False) for a in reversed(e.args) if a not in self.sexpr_index)
                continue
            record = [e.op, [self.sexpr_index[a] for a in e.args], literal(e.attr)]
            # An input's dtype is part of what it is; every other node's follows from its
            # arguments and attr (the reader rebuilds it, and would check one given).
            dtype = getattr(e, "dtype", None)
            if e.op == "in" and dtype is not None:
                record.append(_dt.as_dtype(dtype).name)
            self.sexpr_index[e] = len(self.sexprs)
            self.sexprs.append(record)
        return self.sexpr_index[root]


_LITTLE_ENDIAN = sys.byteorder == "little"
INT_MIN, INT_MAX = -(2**63), 2**64  # the document's ints: int64 and uint64 values


def _int(v: int) -> int:
    if not INT_MIN <= v < INT_MAX:
        raise SerializationError(f"the int {v} is outside the format's range [-2**63, 2**64)")
    return v


def literal(v: Any) -> Any:
    """A scalar expression's attr: None, a bool, an int, a str (cast's dtype), a float
    (as its bits) or a NumPy scalar (its dtype and the hex of its little-endian bytes)."""
    if type(v) is int:
        return _int(v)
    if v is None or type(v) in (bool, str):
        return v
    if type(v) is float:
        return {"f": float_bits(v)}
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        le = np.asarray(v).astype(v.dtype.newbyteorder("<"))
        return {"np": [_dt.as_dtype(v.dtype).name, le.tobytes().hex()]}
    raise SerializationError(
        f"a scalar expression attr of type {type(v).__name__} has no place in the format"
    )
