"""Channel groups of a model, derived by tracing its forward pass.

Removing an output channel of a conv is only possible together with every channel it is tied
to: the other operand of a residual add or an attention gate, the input slices of the convs
that read it (through concatenations and slices), the sub-pixel channels a pixel shuffle merges
into one, the channels of a weight-shared block used several times, one channel per group of a
grouped conv. `trace(model)` finds these ties for any Flax model built from
`jax.lax.conv_general_dilated` and elementwise/shape ops: it interprets the model's jaxpr with a
label per channel and unites labels that an op ties together (union-find). The result is a list
of **units** (the smallest sets of param slices that can be removed together: a kernel's output
filters, its bias entries, the consumers' input slices) gathered into **groups** of units with
the same layout (e.g. RFDN's 50 trunk channels form one group of 50 units). Nothing here knows a
layer name; the models are only asked to build their forward pass.

A group is prunable structurally when none of its units touches the model's input or output
image channels (`kind` "internal", or "subpixel" when it feeds a pixel shuffle, i.e. an
upsampler conv; the latter are left out of pruning by default). Reductions over the channel
axis, gathers along it, or padding of it make the channels involved fixed.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.extend import core as jex_core

from jaxsr import models
from jaxsr.models.layers import plain_grouped_convs

Lab = tuple  # per axis: an int array of label ids, or None (not a channel-carrying axis)

_ELEMENTWISE = {
    "add", "sub", "mul", "div", "max", "min", "pow", "atan2", "rem", "nextafter",
    "neg", "abs", "sign", "floor", "ceil", "round", "exp", "exp2", "expm1", "log", "log1p",
    "tanh", "logistic", "sin", "cos", "tan", "sqrt", "rsqrt", "cbrt", "square", "integer_pow",
    "erf", "erfc", "erf_inv", "is_finite", "convert_element_type", "copy", "copy_p",
    "reduce_precision", "select_n", "clamp", "eq", "ne", "lt", "le", "gt", "ge",
    "and", "or", "not", "xor", "stop_gradient", "optimization_barrier",
}  # fmt: skip
_CALLS = {"pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call",
          "custom_vjp_call", "custom_vjp_call_jaxpr"}  # fmt: skip


class _Labels:
    """Union-find over label ids, with what each id stands for."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.atom: list[tuple | None] = []  # (param path, axis, index) or None
        self.fixed: set[int] = set()  # ids tied to the image input/output or mixed channels
        self.subpixel: set[int] = set()  # ids merged by a channel-splitting reshape

    def new(self, n: int, atom: Any = None) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        self.atom.extend(atom(i) if callable(atom) else atom for i in range(n))
        return np.arange(start, start + n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(np.ravel(a), np.ravel(b), strict=True):
            rx, ry = self.find(int(x)), self.find(int(y))
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def fix(self, ids: np.ndarray | None) -> None:
        if ids is not None:
            self.fixed.update(int(i) for i in np.ravel(ids))


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """Units with the same layout. `index[member][u]`: unit u's indices on that param axis."""

    name: str
    kind: str  # "internal" | "subpixel" | "fixed"
    members: tuple[tuple[str, int], ...]  # (param path, axis), e.g. ("B1/c1_r/kernel", 3)
    index: dict[tuple[str, int], tuple[np.ndarray, ...]] = dataclasses.field(repr=False)

    @property
    def size(self) -> int:
        """The number of units."""
        return len(next(iter(self.index.values())))

    @property
    def producers(self) -> tuple[str, ...]:
        """Conv kernels whose output filters belong to this group."""
        return tuple(p for p, a in self.members if p.endswith("kernel") and a == 3)


@dataclasses.dataclass(frozen=True)
class ChannelGraph:
    """What `trace` found: the groups, and for each conv its kernel shape and output split."""

    groups: tuple[ChannelGroup, ...]
    shapes: dict[str, tuple[int, ...]]  # every param path -> shape
    convs: dict[str, dict]  # kernel path -> {"groups": g, "segments": (offsets...) | None}

    def group(self, name: str) -> ChannelGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"no channel group {name!r}; groups: {[g.name for g in self.groups]}")

    def axis_units(self) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """Per (param path, axis) that a group touches: for each index along that axis, the
        number (in `groups`) of the group owning it and its unit there; -1 where none does
        (e.g. a first conv's image input channels)."""
        out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        for gi, g in enumerate(self.groups):
            for m in g.members:
                n = self.shapes[m[0]][m[1]]
                grp, unit = out.setdefault(m, (np.full(n, -1), np.full(n, -1)))
                for u, idx in enumerate(g.index[m]):
                    grp[idx], unit[idx] = gi, u
        return out

    def describe(self) -> str:
        rows = [f"{len(self.groups)} channel groups"]
        for g in self.groups:
            rows.append(
                f"  {g.name:<24} {g.kind:<9} {g.size:>4} units  "
                f"{len(g.producers)} producer conv(s), {len(g.members)} param axes"
            )
        return "\n".join(rows)


def _sub(params: dict, key: str) -> Any:
    for k in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if k in params:
            return params[k]
    raise KeyError(key)


class _Tracer:
    def __init__(self, labels: _Labels) -> None:
        self.L = labels
        self.conv_out: list[tuple[np.ndarray, int]] = []  # (O ids, feature_group_count)
        self.slices: list[tuple[np.ndarray, int, int]] = []  # (channel ids, start, limit)

    # -- helpers ---------------------------------------------------------------------------
    def unify_axes(self, labs: list[Lab], shape: tuple[int, ...]) -> Lab:
        out = []
        for a, n in enumerate(shape):
            cands = [lab[a] for lab in labs if len(lab) == len(shape) and lab[a] is not None]
            cands = [c for c in cands if len(c) == n]
            for c in cands[1:]:
                self.L.union(cands[0], c)
            out.append(cands[0] if cands else None)
        return tuple(out)

    def fix_lab(self, lab: Lab) -> None:
        for ids in lab:
            self.L.fix(ids)

    # -- the interpreter -------------------------------------------------------------------
    def run(self, jaxpr: Any, in_labs: list[Lab]) -> list[Lab]:
        env: dict[Any, Lab] = {}

        def read(v: Any) -> Lab:
            if isinstance(v, jex_core.Literal):
                return (None,) * np.ndim(v.val)
            return env.get(v, (None,) * len(v.aval.shape))

        for v, lab in zip(jaxpr.invars, in_labs, strict=True):
            env[v] = lab
        for v in jaxpr.constvars:
            env[v] = (None,) * len(v.aval.shape)
        for eqn in jaxpr.eqns:
            labs = [read(v) for v in eqn.invars]
            outs = self.eqn(eqn, labs)
            for v, lab in zip(eqn.outvars, outs, strict=True):
                env[v] = lab
        return [read(v) for v in jaxpr.outvars]

    def eqn(self, eqn: Any, labs: list[Lab]) -> list[Lab]:
        name, p = eqn.primitive.name, eqn.params
        shapes = [tuple(v.aval.shape) for v in eqn.outvars]
        if all(x is None for lab in labs for x in lab):
            return [(None,) * len(s) for s in shapes]
        if name in _ELEMENTWISE:
            return [self.unify_axes(labs, shapes[0])]
        if name in _CALLS:
            sub = _sub(p, name)
            return self.run(getattr(sub, "jaxpr", sub), labs)
        fn = getattr(self, f"op_{name}", None)
        if fn is None:
            raise NotImplementedError(
                f"channel tracing: primitive {name!r} on channel-carrying values is not "
                "supported (add a rule in jaxsr/channels/graph.py)"
            )
        return fn(eqn, labs, shapes)

    def op_broadcast_in_dim(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        (lab, *_), out = labs, [None] * len(shapes[0])
        src = eqn.invars[0].aval.shape
        for i, d in enumerate(eqn.params["broadcast_dimensions"]):
            if lab[i] is None:
                continue
            if src[i] == shapes[0][d]:
                out[d] = lab[i]
            else:  # one channel feeds many: they all stand or fall with it
                out[d] = np.full(shapes[0][d], lab[i][0])
        return [tuple(out)]

    def op_transpose(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        perm = eqn.params["permutation"]
        return [tuple(labs[0][a] for a in perm)]

    def op_squeeze(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        dims = set(eqn.params["dimensions"])
        return [tuple(x for a, x in enumerate(labs[0]) if a not in dims)]

    def op_expand_dims(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        return self.op_reshape(eqn, labs, shapes)

    def op_reshape(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        src, dst, lab = tuple(eqn.invars[0].aval.shape), shapes[0], labs[0]
        out: list[Any] = [None] * len(dst)
        i = j = 0
        while i < len(src) or j < len(dst):  # walk matching blocks of equal size products
            i0, j0 = i, j
            a = src[i] if i < len(src) else 1
            b = dst[j] if j < len(dst) else 1
            i, j = i + 1, j + 1
            while a != b:
                if a < b:
                    a *= src[i]
                    i += 1
                else:
                    b *= dst[j]
                    j += 1
            s_axes = [k for k in range(i0, min(i, len(src))) if src[k] != 1]
            d_axes = [k for k in range(j0, min(j, len(dst))) if dst[k] != 1]
            labelled = [k for k in s_axes if lab[k] is not None]
            if not labelled:
                continue
            if len(labelled) > 1:
                raise NotImplementedError("channel tracing: reshape merging two channel axes")
            k = labelled[0]
            ids = lab[k]
            if len(s_axes) == 1:  # one source axis split into d_axes (row-major)
                first, rest = d_axes[0], math.prod(dst[d] for d in d_axes[1:])
                if rest > 1:  # e.g. pixel shuffle: r*r sub-pixel channels become one
                    blocks = ids.reshape(dst[first], rest)
                    for row in blocks:
                        self.L.union(np.full(rest - 1, row[0]), row[1:])
                        self.L.subpixel.update(int(x) for x in row)
                    out[first] = blocks[:, 0]
                else:
                    out[first] = ids
            elif len(d_axes) == 1:  # source axes merged into one destination axis
                inner = math.prod(src[m] for m in s_axes if m > k)
                outer = math.prod(src[m] for m in s_axes if m < k)
                out[d_axes[0]] = np.tile(np.repeat(ids, inner), outer)
            else:
                raise NotImplementedError("channel tracing: reshape regrouping a channel axis")
        return [tuple(out)]

    def op_concatenate(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        d = eqn.params["dimension"]
        parts = []
        for v, lab in zip(eqn.invars, labs, strict=True):
            ids = lab[d] if lab[d] is not None else self.L.new(v.aval.shape[d])
            if lab[d] is None:
                self.L.fix(ids)
            parts.append(ids)
        rest = [tuple(None if a == d else x for a, x in enumerate(lab)) for lab in labs]
        out = list(self.unify_axes(rest, shapes[0]))
        out[d] = np.concatenate(parts)
        return [tuple(out)]

    def op_slice(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        p, lab = eqn.params, labs[0]
        strides = p["strides"] or (1,) * len(lab)
        out = []
        for a, ids in enumerate(lab):
            if ids is None:
                out.append(None)
                continue
            lo, hi, st = p["start_indices"][a], p["limit_indices"][a], strides[a]
            if st == 1 and (lo > 0 or hi < len(ids)):
                self.slices.append((ids, lo, hi))
            out.append(ids[lo:hi:st])
        return [tuple(out)]

    def op_split(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        axis, lab = eqn.params["axis"], labs[0]
        outs, start = [], 0
        for size in eqn.params["sizes"]:
            o = list(lab)
            if lab[axis] is not None:
                self.slices.append((lab[axis], start, start + size))
                o[axis] = lab[axis][start : start + size]
            outs.append(tuple(o))
            start += size
        return outs

    def _reduce(self, lab: Lab, axes: Any) -> Lab:
        for a in axes:
            self.L.fix(lab[a])  # a sum/max over channels mixes them: none can go
        return tuple(x for a, x in enumerate(lab) if a not in set(axes))

    def op_reduce_sum(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        return [self._reduce(labs[0], eqn.params["axes"])]

    op_reduce_max = op_reduce_min = op_reduce_prod = op_argmax = op_argmin = op_reduce_sum

    def op_reduce_window_max(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        p, lab = eqn.params, labs[0]
        out = []
        for a, ids in enumerate(lab):
            plain = p["window_dimensions"][a] == 1 and p["window_strides"][a] == 1
            plain = plain and tuple(p["padding"][a]) == (0, 0)
            if ids is not None and not plain:
                self.L.fix(ids)
                ids = None
            out.append(ids)
        return [tuple(out)]

    op_reduce_window_sum = op_reduce_window_min = op_reduce_window_max

    def op_pad(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        lab, cfg = labs[0], eqn.params["padding_config"]
        out = []
        for ids, (lo, hi, interior) in zip(lab, cfg, strict=True):
            if ids is not None and (lo, hi, interior) != (0, 0, 0):
                self.L.fix(ids)
                ids = None
            out.append(ids)
        return [tuple(out)]

    def op_gather(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        dn, sizes, lab = eqn.params["dimension_numbers"], eqn.params["slice_sizes"], labs[0]
        src = eqn.invars[0].aval.shape
        self.fix_lab(labs[1])  # index arrays carrying channels: mixed
        skip = set(dn.collapsed_slice_dims) | set(getattr(dn, "operand_batching_dims", ()))
        offset_axes = [a for a in range(len(src)) if a not in skip]
        out: list[Any] = [None] * len(shapes[0])
        for k, a in enumerate(offset_axes):
            if lab[a] is None:
                continue
            if a in dn.start_index_map or sizes[a] != src[a]:
                self.L.fix(lab[a])
            else:
                out[dn.offset_dims[k]] = lab[a]
        for a in skip:
            self.L.fix(lab[a])
        return [tuple(out)]

    def op_conv_general_dilated(self, eqn, labs, shapes):  # noqa: ANN001, ANN201
        p = eqn.params
        lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
        if p["batch_group_count"] != 1:
            raise NotImplementedError("channel tracing: batch_group_count != 1")
        g = int(p["feature_group_count"])
        x, k = labs
        kin = k[rhs_spec[1]]
        if kin is None:
            kin = self.L.new(eqn.invars[1].aval.shape[rhs_spec[1]])
            self.L.fix(kin)
        xin = x[lhs_spec[1]]
        if xin is not None:  # input channel c of group c // (cin/g) reads kernel input c % (cin/g)
            self.L.union(xin, np.tile(kin, g))
        for a, ids in enumerate(x):
            if a != lhs_spec[1]:
                self.L.fix(ids)
        kout = k[rhs_spec[0]]
        if kout is None:
            kout = self.L.new(shapes[0][out_spec[1]])
            self.L.fix(kout)
        if g > 1:  # a grouped conv stays grouped only with equal widths per group: output j
            per = kout.reshape(g, -1)  # of every group goes together
            for row in per[1:]:
                self.L.union(per[0], row)
        self.conv_out.append((kout, g))
        out: list[Any] = [None] * len(shapes[0])
        out[out_spec[1]] = kout
        return [tuple(out)]


def _conv_paths_by_ids(labels: _Labels, ids: np.ndarray) -> str | None:
    atom = labels.atom[int(ids[0])]
    return None if atom is None else atom[0]


def trace(model: Any, lr_size: int = 32, params: Any = None) -> ChannelGraph:
    """The channel groups of a Flax SR model (NHWC RGB in, RGB out), from its jaxpr.

    `params` (or their abstract shapes) default to the model's initial ones; `lr_size` must be
    large enough for every layer (RFDN's ESA pools a strided conv's output 7x7/3)."""

    if params is None:
        params = models.abstract_params(model, lr_size)
    flat = traverse_util.flatten_dict(params)
    shapes = {"/".join(k): tuple(v.shape) for k, v in flat.items()}
    x = jax.ShapeDtypeStruct((1, lr_size, lr_size, 3), jnp.float32)
    with plain_grouped_convs():
        closed = jax.make_jaxpr(lambda p, xx: model.apply({"params": p}, xx))(params, x)

    L = _Labels()
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    in_labs: list[Lab] = []
    for path, leaf in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        lab = tuple(
            L.new(n, lambda i, a=a, name=name: (name, a, i)) for a, n in enumerate(leaf.shape)
        )
        in_labs.append(lab)
    x_lab = (None, None, None, L.new(3))
    L.fix(x_lab[3])
    tr = _Tracer(L)
    (out_lab,) = tr.run(closed.jaxpr, [*in_labs, x_lab])
    tr.fix_lab(out_lab)

    # roots that are conv outputs -> units; a unit's atoms, grouped by (path, axis)
    conv_ids = {L.find(int(i)) for ids, _ in tr.conv_out for i in ids}
    fixed_roots = {L.find(i) for i in L.fixed}
    sub_roots = {L.find(i) for i in L.subpixel}
    unit_atoms: dict[int, dict[tuple[str, int], list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, atom in enumerate(L.atom):
        if atom is None:
            continue
        r = L.find(i)
        if r in conv_ids:
            unit_atoms[r][(atom[0], atom[1])].append(atom[2])

    # kernel spatial axes etc. never join a conv output: only channel axes appear here
    by_sig: dict[tuple, list[int]] = defaultdict(list)
    for r, atoms in unit_atoms.items():
        by_sig[tuple(sorted(atoms))].append(r)
    order = {p: i for i, p in enumerate(shapes)}  # params order, then conv execution order
    for i, (kout, _) in enumerate(tr.conv_out):
        path = _conv_paths_by_ids(L, kout)
        if path is not None:
            order[path] = len(shapes) + i
    raw = []
    for sig, roots in by_sig.items():
        roots.sort(key=lambda r: min(min(v) for v in unit_atoms[r].values()))
        producers = [m for m in sig if m[0].endswith("kernel") and m[1] == 3]
        first = min(producers or list(sig), key=lambda m: (order[m[0]], m[1]))
        kind = "internal"
        if any(r in fixed_roots for r in roots):
            kind = "fixed"
        elif any(r in sub_roots for r in roots):
            kind = "subpixel"
        index = {m: tuple(np.asarray(sorted(unit_atoms[r][m])) for r in roots) for m in sig}
        raw.append((order[first[0]], int(index[first][0][0]), first[0], kind, sig, index))
    raw.sort(key=lambda t: (t[0], t[1]))
    groups, seen = [], defaultdict(int)
    for _, _, path, kind, sig, index in raw:
        base = path.removesuffix("/kernel")
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        groups.append(ChannelGroup(name, kind, sig, index))

    convs: dict[str, dict] = {}
    for kout, g in tr.conv_out:
        path = _conv_paths_by_ids(L, kout)
        if path is None or path in convs:
            continue
        roots = [L.find(int(i)) for i in kout]
        cuts = set()
        for ids, lo, hi in tr.slices:
            sroots = [L.find(int(i)) for i in ids]
            if sroots == roots:
                cuts.update(c for c in (lo, hi) if 0 < c < len(roots))
        convs[path] = {"groups": g, "segments": tuple(sorted(cuts)) or None}
    return ChannelGraph(tuple(groups), shapes, convs)
