"""BLOX's model hash: the minimised graph of an arch vector (BLOX's graph_utils.get_model_graph_np) and its
Weisfeiler-Lehman md5 hash (graph_hash_np), to the letter, so that a hash names the same network in BLOX's
files and here. Every isomorphic arch vector has the same hash (blockzoo's canonical BLOX cells are exactly
BLOX's hash classes, docs/blox.md), so the hash of an arch vector is computed from its canonical form, once.
"""
from __future__ import annotations

import functools
import hashlib

from blockzoo.errors import BlockzooError
from blockzoo.macro import blox


def model_graph(arch) -> tuple[list[list[int]], list]:
    """BLOX's minimised graph of an arch vector: (adjacency, labels), dangling nodes pruned; ([], []) when
    nothing connects the input to the output."""
    nodes = sum(len(blox_cell) for blox_cell in arch) + 2 + len(arch)
    mat = [[0] * nodes for _ in range(nodes)]
    labels: list = [("input", None)]
    nidx, outputs, all_outputs = 1, [0], {0: [0]}
    for sidx, stage in enumerate(arch):
        stage_outputs = list(outputs)
        for node_index, node in enumerate(stage):
            op, *cons = node
            prev, inp, sc = cons if node_index > 0 else (1, 0, cons[0] if cons else 0)
            labels.append((blox.OPS[op], sidx))
            for i in (outputs if prev else []) + (stage_outputs if inp else []):
                mat[i][nidx] = 1
            outputs = [nidx] + (all_outputs[nidx - 1] if sc else [])
            all_outputs[nidx] = outputs
            nidx += 1
        labels.append(("reduction", sidx))
        for o in outputs:
            mat[o][nidx] = 1
        outputs = [nidx]
        all_outputs[nidx] = outputs
        nidx += 1
    labels.append(("output", None))
    for o in outputs:
        mat[o][nidx] = 1
    keep = _reachable(mat, 0, forward=True) & _reachable(mat, nodes - 1, forward=False)
    order = sorted(keep)
    return [[mat[a][b] for b in order] for a in order], [labels[a] for a in order]


def _reachable(mat: list[list[int]], source: int, forward: bool) -> set[int]:
    seen, stack = {source}, [source]
    while stack:
        n = stack.pop()
        for m in range(len(mat)):
            if m not in seen and (mat[n][m] if forward else mat[m][n]):
                seen.add(m)
                stack.append(m)
    return seen


def graph_hash(graph) -> str | None:
    """BLOX's graph_hash_np of (adjacency, labels): Weisfeiler-Lehman over md5, its exact strings."""
    mat, labels = graph
    if not labels:
        return None
    codes = [-1] + [(len(blox.OPS) if op == "reduction" else blox.OPS.index(op)) + (len(blox.OPS) + 1) * sidx
                    for op, sidx in labels[1:-1]] + [-2]
    n = len(mat)
    # BLOX sums a float64 matrix: the degrees print as floats ("(1.0, 0.0, -1)")
    hashes = [_md5(str((float(sum(mat[v])), float(sum(mat[w][v] for w in range(n))), codes[v]))) for v in range(n)]
    ins = [[w for w in range(n) if mat[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if mat[v][w]] for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted(hashes[w] for w in ins[v])) + "|" + "".join(sorted(hashes[w] for w in outs[v]))
                       + "|" + hashes[v]) for v in range(n)]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def model_hash(arch) -> str | None:
    """BLOX's search_space.get_model_hash: the same for every isomorphic arch vector; None for one without an
    output (BLOX's invalid vectors)."""
    try:
        key = blox.canonical(arch)
    except BlockzooError:
        return _hash_of_nested(_freeze(arch))  # an invalid vector: BLOX's hash of what its graph keeps
    return _canonical_hash(key)


@functools.cache
def _canonical_hash(blox_cells: tuple) -> str | None:
    return graph_hash(model_graph([[[c[0]], [c[1], c[2], c[3], c[4]]] for c in blox_cells]))


def _hash_of_nested(frozen) -> str | None:
    try:
        return graph_hash(model_graph(frozen))
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


__all__ = ["graph_hash", "model_graph", "model_hash"]
