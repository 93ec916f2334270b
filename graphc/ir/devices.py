"""Device names: parsing and the one normal form every pass compares.

A device string follows TF1's ``DeviceSpec``: ``/``-separated fields, each optional,
``/job:NAME/replica:R/task:T/device:TYPE:INDEX``, with the legacy short form
``/TYPE:INDEX`` for CPU and GPU (``/cpu:0``, ``/GPU:1``; the type is case-insensitive
there) and ``*`` for "any index". ``/cpu:0``, ``/device:CPU:0`` and
``/job:localhost/replica:0/task:0/device:CPU:0`` all name the same device.

:func:`canonical` gives the normal form that the IR's passes compare (:class:`Node`'s
``device`` keeps the text the user wrote):

- ``""`` (no device) stays ``""``: the op is unplaced;
- the local task (job ``localhost``, replica 0, task 0, or those fields left out) is not
  written: ``/device:CPU:0``;
- another job or task keeps every field, with replica and task defaulting to 0:
  ``/job:ps/replica:0/task:1/device:CPU:0``;
- a device type without an index (``/gpu``, ``/gpu:*``) means that type's first device,
  index 0 (a single-process runtime has no other choice to make);
- CPU and GPU are written in capitals whichever form named them.
"""

from __future__ import annotations

import dataclasses
import functools

LOCAL_JOB = "localhost"


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """The fields of a device string; None for a field the string leaves out."""

    job: str | None = None
    replica: int | None = None
    task: int | None = None
    device_type: str | None = None
    device_index: int | None = None

    def to_string(self) -> str:
        """The fields that are set, in TF1's long form (``/job:x/replica:0/task:0/device:CPU:0``)."""
        parts = []
        if self.job is not None:
            parts.append(f"/job:{self.job}")
        if self.replica is not None:
            parts.append(f"/replica:{self.replica}")
        if self.task is not None:
            parts.append(f"/task:{self.task}")
        if self.device_type is not None:
            index = "*" if self.device_index is None else str(self.device_index)
            parts.append(f"/device:{self.device_type}:{index}")
        return "".join(parts)

    def merge(self, inner: DeviceSpec) -> DeviceSpec:
        """This spec with every field ``inner`` sets taken from ``inner`` (TF1's nested
        ``tf.device`` scopes: an inner scope refines the outer one)."""
        fields = {}
        for f in dataclasses.fields(self):
            value = getattr(inner, f.name)
            fields[f.name] = value if value is not None else getattr(self, f.name)
        return DeviceSpec(**fields)

    @property
    def is_local(self) -> bool:
        return self.job in (None, LOCAL_JOB) and self.replica in (None, 0) and self.task in (None, 0)


def _int_field(value: str, name: str, spec: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"device {spec!r}: {name} must be an integer, got {value!r}") from None
    if n < 0:
        raise ValueError(f"device {spec!r}: {name} must not be negative, got {n}")
    return n


def parse(spec: str | DeviceSpec | None) -> DeviceSpec:
    """The fields of a device string (TF1's ``DeviceSpec.from_string``); ValueError for
    text that is not one."""
    if isinstance(spec, DeviceSpec):
        return spec
    if not spec:
        return DeviceSpec()
    if not isinstance(spec, str):
        raise TypeError(f"a device is a string, got {type(spec).__name__}")
    job: str | None = None
    replica: int | None = None
    task: int | None = None
    dtype: str | None = None
    index: int | None = None
    for part in spec.strip().split("/"):
        if not part:
            continue
        y = part.split(":")
        key = y[0]
        if len(y) == 2 and key == "job":
            if not y[1]:
                raise ValueError(f"device {spec!r}: empty job name")
            job = y[1]
        elif len(y) == 2 and key == "replica":
            replica = _int_field(y[1], "replica", spec)
        elif len(y) == 2 and key == "task":
            task = _int_field(y[1], "task", spec)
        elif len(y) in (1, 2) and key.upper() in ("CPU", "GPU"):
            if dtype is not None:
                raise ValueError(f"device {spec!r}: more than one device type")
            dtype = key.upper()
            index = None if len(y) == 1 or y[1] == "*" else _int_field(y[1], "device index", spec)
        elif len(y) == 3 and key == "device":
            if dtype is not None:
                raise ValueError(f"device {spec!r}: more than one device type")
            if not y[1]:
                raise ValueError(f"device {spec!r}: empty device type")
            dtype = y[1].upper() if y[1].upper() in ("CPU", "GPU") else y[1]
            index = None if y[2] == "*" else _int_field(y[2], "device index", spec)
        else:
            raise ValueError(
                f"device {spec!r}: unknown field {part!r} (expected job:NAME, replica:N, task:N, "
                f"device:TYPE:N or CPU:N / GPU:N)"
            )
    return DeviceSpec(job, replica, task, dtype, index)


@functools.lru_cache(maxsize=1024)
def _canonical(spec: str) -> str:
    d = parse(spec)
    if d.is_local:
        if d.device_type is None:
            return ""  # the local task, any device: no constraint
        return f"/device:{d.device_type}:{d.device_index or 0}"
    full = DeviceSpec(
        d.job or LOCAL_JOB,
        d.replica or 0,
        d.task or 0,
        d.device_type,
        (d.device_index or 0) if d.device_type is not None else None,
    )
    return full.to_string()


def canonical(spec: str | DeviceSpec | None) -> str:
    """The normal form of a device (see the module docstring): equal for two strings
    that name the same device, ``""`` for none."""
    if isinstance(spec, DeviceSpec):
        spec = spec.to_string()
    return _canonical(spec or "")


def comparable(spec: str | None) -> str:
    """:func:`canonical`, or the text itself when it is not a device string: for passes
    that only compare devices (a malformed name is reported where ops are placed)."""
    try:
        return canonical(spec)
    except (ValueError, TypeError):
        return str(spec)


def merge(outer: str | None, inner: str | None) -> str:
    """The device an op gets inside ``tf.device(inner)`` nested in ``tf.device(outer)``:
    inner's fields over outer's, in the long form (``""`` when neither sets any)."""
    return parse(outer).merge(parse(inner)).to_string()


def same_device(a: str | None, b: str | None) -> bool:
    """Whether two device strings name the same device."""
    return canonical(a) == canonical(b)


def describe(device: str) -> str:
    """A device for messages: its normal form, or "(default)" for none."""
    c = canonical(device)
    return c or "(default device)"
