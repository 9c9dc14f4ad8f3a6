"""BLOX's Dataset: the training files of a release (blox-base-<seed>, with blox-ext-<seed> when extended) and
the parts attached to it (bloxparts), with BLOX's getters and their semantics (blox_api's docstring).
"""
from __future__ import annotations

import functools
import random

from blockzoo.macro import bloxhash
from blockzoo.macro.bloxparts import BenchmarkingDataset, BloxError, EnvInfoDataset, StaticInfoDataset, _Dataset


def _extended(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.is_extended:
            raise BloxError("this information requires the extended training dataset: "
                            "from_folder(..., extended=True) and the blox-ext-<seed> files")
        return method(self, *args, **kwargs)

    return wrapper


class Dataset(_Dataset):
    """BLOX's Dataset: training files (base, and ext when extended), with optional benchmarking, static and
    environment information."""

    def __init__(self, dataset_files, devices_files=None, static_info=None, env_info=None, validate_data=True):
        super().__init__(dataset_files, validate_data, "training")
        self.bench_info = BenchmarkingDataset(devices_files, validate_data=validate_data) if devices_files else None
        self.static_info = StaticInfoDataset(static_info) if static_info else None
        self.env_info = EnvInfoDataset(env_info) if env_info else None

    epochs = property(lambda self: self.header["epochs"])
    dataset = property(lambda self: self.header["dataset"])
    is_extended = property(lambda self: self.has_extension)

    def _seed_index(self, seed):
        if seed is None:
            return random.randrange(len(self.seeds))
        if seed not in self.seeds:
            raise BloxError(f"seed {seed!r} is not in this dataset; its seeds are {self.seeds}")
        return self.seeds.index(seed)

    def _query(self, model_hash, seed, devices, include_static_info, include_env_info, return_dict):
        seed_idx = self._seed_index(seed)
        raw = self._row(self.dbs[seed_idx], model_hash)
        if raw is None:
            return None
        if return_dict:
            ret = dict(zip(self.columns[1:], raw, strict=True))
            ret[self.columns[0]] = model_hash
            ret["seed"] = self.seeds[seed_idx]
        else:
            ret = [model_hash, *raw, self.seeds[seed_idx]]
        if devices is not False and (devices is not None or self.bench_info):
            if not self.bench_info:
                raise BloxError("no benchmarking information attached (blox-bench-<device> files)")
            lat = self.bench_info._get(model_hash, devices, return_dict)
            ret.update(lat) if return_dict else ret.extend(lat)
        if include_static_info is not False and (include_static_info is not None or self.static_info):
            if not self.static_info:
                raise BloxError("no static information attached: from_folder(..., include_static_info=True) and "
                                "the blox-info file")
            info = self.static_info._get(model_hash, return_dict)
            if return_dict:
                ret["info"] = info
            else:
                ret.append(info)
        if include_env_info is not False and (include_env_info is not None or self.env_info):
            if not self.env_info:
                raise BloxError("no environment information attached: from_folder(..., include_env_info=True) and "
                                "the blox-env-<seed> files")
            info = self.env_info._get(model_hash, self.seeds[seed_idx], return_dict)
            if return_dict:
                ret["env"] = info
            else:
                ret.append(info)
        return ret

    def full_info(self, arch, seed=None, devices=None, include_static_info=None, include_env_info=None,
                  return_dict=True):
        """Everything about `arch` for one seed (random if not given): a dict of BLOX's columns, model_hash and
        seed, plus per device latency, `info` (static) and `env` when attached; a list when not return_dict;
        None if the dataset lacks `arch`."""
        return self._query(bloxhash.model_hash(arch), seed, devices, include_static_info, include_env_info, return_dict)

    def full_info_by_graph(self, graph, seed=None, devices=None, include_static_info=None, include_env_info=None,
                           return_dict=True):
        """full_info() of the architecture of `graph`, the first element of get_model_graph(arch)."""
        return self._query(bloxhash.graph_hash(graph), seed, devices, include_static_info, include_env_info,
                           return_dict)

    def _info(self, arch, seed):
        return self.full_info(arch, seed=seed, devices=False, include_static_info=False, include_env_info=False,
                              return_dict=False)

    def _curve(self, arch, index, epoch, best, seed, pick):
        info = self._info(arch, seed)
        if info is None:
            return None
        values = info[index]
        if epoch is None:
            epoch = len(values)
        return pick(values[:epoch]) if best else values[epoch - 1]

    def test_acc(self, arch, seed=None):
        """Test top-1 (percent) of the best-validation epoch; None if the dataset lacks `arch`."""
        info = self._info(arch, seed)
        return None if info is None else info[2]

    def val_acc(self, arch, epoch=None, best=True, seed=None):
        """Validation top-1 (percent): max(vals[:epoch]) if best else vals[epoch - 1] (epoch: a count)."""
        return self._curve(arch, 1, epoch, best, seed, max)

    def train_time(self, arch, epoch=None, seed=None):
        """Training time in seconds; for `epoch` epochs, interpolated linearly."""
        info = self._info(arch, seed)
        if info is None:
            return None
        return info[3] if epoch is None else info[3] * (epoch / self.epochs)

    @_extended
    def train_acc(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 4, epoch, best, seed, max)

    @_extended
    def train_loss(self, arch, epoch=None, best=False, seed=None):
        return self._curve(arch, 5, epoch, best, seed, min)

    @_extended
    def train_top5(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 6, epoch, best, seed, max)

    @_extended
    def val_loss(self, arch, epoch=None, best=False, seed=None):
        return self._curve(arch, 7, epoch, best, seed, min)

    @_extended
    def val_top5(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 8, epoch, best, seed, max)

    @_extended
    def test_loss(self, arch, seed=None):
        info = self._info(arch, seed)
        return None if info is None else info[9]

    @_extended
    def test_top5(self, arch, seed=None):
        info = self._info(arch, seed)
        return None if info is None else info[10]

    def latency(self, *args, **kwargs):
        if not self.bench_info:
            raise BloxError("no benchmarking information attached (blox-bench-<device> files)")
        return self.bench_info.latency(*args, **kwargs)

    def _static(self, name, *args, **kwargs):
        if not self.static_info:
            raise BloxError("no static information attached: from_folder(..., include_static_info=True) and the "
                            "blox-info file")
        return getattr(self.static_info, name)(*args, **kwargs)

    def params(self, *args, **kwargs):
        return self._static("params", *args, **kwargs)

    def flops(self, *args, **kwargs):
        return self._static("flops", *args, **kwargs)

    def arch_vec(self, *args, **kwargs):
        return self._static("arch_vec", *args, **kwargs)

    def __iter__(self):
        for k in self.dbs[0].hashes:
            yield self[k]

    def __getitem__(self, k):
        """[model_hash, training rows per seed, static row, benchmarking rows per device, env rows per seed]."""
        if k not in self.dbs[0].index:
            raise KeyError(k)
        return [k] + [None if not part else [db.row(db.index[k]) for db in part.dbs]
                      for part in (self, self.static_info, self.bench_info, self.env_info)]

