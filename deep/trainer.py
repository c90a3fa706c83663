"""The shared training loop for every network in ``deep/`` (IQA CNNs and fine-tuned backbones).

Stable API
----------
``content_split(groups, val_fraction, seed) -> (train_idx, val_idx)``
    Content-disjoint validation split *of the training records only*
    (``GroupShuffleSplit`` on the ``content`` column, or on any group labels).

``TrainConfig(...)``
    Loop settings: ``max_epochs``, ``patience`` (epochs without improvement of the
    validation metric before stopping; ``None`` = never stop early), ``min_delta``,
    ``mode`` (``"min"``: lower validation metric is better, ``"max"``), ``batch_size``
    (*items* per batch: one item is one image with its patches, e.g. Bosse et al.:
    ``batch_size=4`` images x 32 patches from :class:`deep.patches.PatchDataset`),
    ``collate_fn``, ``batch_sampler`` (optional ``(dataset, epoch) -> iterable of index lists``
    for training batches with a structure, e.g. :class:`deep.patches.GroupedBatchSampler` for
    same-content pairs), ``num_workers`` (``None``: 0 on CPU, up to 4 on CUDA), ``device`` (``None`` = CUDA when
    available), ``amp`` / ``channels_last`` (``None`` = on for CUDA; always off on CPU),
    ``grad_clip``, ``seed``, ``work_dir`` (checkpoints), ``resume``, ``progress``.  On CUDA
    the batch losses stay on the device until the epoch ends (checked for NaN and summed there),
    so a training step never waits for the host.

``Trainer(model, loss_fn, optimizer_factory, config, val_metric=None, scheduler_factory=None,
run_key="")``
    * ``loss_fn(model, batch) -> scalar tensor``: the batch (a dict/tuple/tensor from the
      loader) is already on the device; the loss runs under autocast when AMP is on.
    * ``optimizer_factory(params) -> torch.optim.Optimizer`` (see :func:`adam`, :func:`sgd`).
    * ``val_metric(model, loader, device) -> float`` (model in eval mode, no grad); default:
      the item-weighted mean of ``loss_fn`` over the validation loader.  It may instead return
      a dict with the early-stopping value under ``"metric"`` and other values (e.g.
      ``val_loss``, ``val_srocc``) that go into the epoch's history row.
    * ``scheduler_factory(optimizer) -> LR scheduler`` stepped once per epoch (optional).
    * ``run_key``: a fingerprint of the run (data + hyper-parameters); a checkpoint with a
      different key is ignored instead of resumed.

``Trainer.fit(train, val=None) -> TrainResult``
    ``train``/``val`` are batch sources (objects with ``iter_batches(epoch)``, e.g. the
    in-memory :class:`deep.batches.PatchBatches`: used as they are, no ``DataLoader``),
    datasets (the trainer builds a ``DataLoader`` per epoch whose
    shuffling is seeded by ``(seed, epoch)`` and calls ``dataset.set_epoch(epoch)`` when it
    exists, so patches are resampled every epoch and a resumed run is identical to an
    uninterrupted one) or ready ``DataLoader`` objects.  Items that failed to load (a batch's
    ``errors``, see ``skip_errors`` in :mod:`deep.patches`) are recorded in ``dataset.errors``
    and skipped; so is a batch with nothing else.  After ``fit`` the model holds the
    *best* weights (lowest validation metric; the last epoch when there is no validation set).

Checkpoints (``work_dir``): ``latest.pt`` after every epoch (or at most every
``checkpoint_interval_s`` seconds, and always after the last epoch and with every new best;
model, optimiser, scheduler,
AMP scaler, epoch, best metric, patience counter, history, all RNG states) and ``best.pt``
(model weights of the best epoch), written atomically.  With ``resume=True`` a run restarts
after the last finished epoch; an early-stopped run is not trained again, and a run that
reached ``max_epochs`` continues only when ``max_epochs`` has been raised.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from ._utils import autocast, seed_everything, select_device

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "content_split",
    "adam",
    "sgd",
    "to_device",
    "take_errors",
    "mean_loss_metric",
    "batch_units",
    "rng_state",
    "set_rng_state",
    "CHECKPOINT_LATEST",
    "CHECKPOINT_BEST",
    "time_budget",
]

CHECKPOINT_LATEST = "latest.pt"
CHECKPOINT_BEST = "best.pt"

LossFn = Callable[[nn.Module, Any], torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
ValMetric = Callable[[nn.Module, Iterable, torch.device], "float | dict[str, float]"]


#: the training-time budget of :func:`time_budget` (seconds; None = none)
_TIME_BUDGET: contextvars.ContextVar[float | None] = contextvars.ContextVar("iqabench_time_budget", default=None)


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Within the block, every :meth:`Trainer.fit` whose ``TrainConfig.time_budget_s`` is ``None``
    stops once its training loop has run ``seconds`` (wall time since the loop started, checked
    after every training step): the epoch in progress ends at that step (``TrainResult.budget_cut_epoch``:
    it saw part of the training set), is validated and checkpointed as usual, and training ends
    (``TrainResult.stopped_by_budget``).  For a run that must end within a fixed time
    (``bench/gpu_paper_presets.sh``); the epoch caps of the presets and early stopping still
    apply.  ``None``: no budget."""
    if seconds is not None and not seconds > 0:
        raise ValueError(f"time budget must be > 0 seconds, got {seconds!r}")
    token = _TIME_BUDGET.set(None if seconds is None else float(seconds))
    try:
        yield
    finally:
        _TIME_BUDGET.reset(token)


# --------------------------------------------------------------------------- splits
def content_split(groups: Sequence[Any] | np.ndarray | Any, val_fraction: float = 0.2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` with no content id shared between them.

    ``groups`` is the ``content`` column (or a records DataFrame that has one; without it
    every row is its own group).  ``GroupShuffleSplit(test_size=val_fraction)``; with fewer
    than two groups, or ``val_fraction <= 0``, everything is training and ``val`` is empty.
    """
    from sklearn.model_selection import GroupShuffleSplit

    if hasattr(groups, "columns"):
        groups = groups["content"].to_numpy() if "content" in groups.columns else np.arange(len(groups))
    g = np.asarray(groups)
    g = np.array([str(x) for x in g], dtype=object)
    n = len(g)
    uniq = np.unique(g)
    if val_fraction <= 0 or len(uniq) < 2:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    n_val_groups = max(1, int(round(val_fraction * len(uniq))))
    n_val_groups = min(n_val_groups, len(uniq) - 1)
    gss = GroupShuffleSplit(n_splits=1, test_size=n_val_groups, random_state=int(seed) % (2 ** 32))
    tr, va = next(gss.split(np.zeros(n), groups=g))
    return np.sort(tr), np.sort(va)


# --------------------------------------------------------------------------- optimisers
def adam(lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> OptimizerFactory:
    """Adam factory (defaults: Kingma & Ba / Bosse et al. 2018, Sec. III-D)."""
    return lambda params: torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def sgd(lr: float = 1e-2, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False) -> OptimizerFactory:
    """SGD-with-momentum factory."""
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                          nesterov=nesterov)


# --------------------------------------------------------------------------- helpers
def to_device(obj: Any, device: torch.device, channels_last: bool = False, non_blocking: bool = False) -> Any:
    """Move tensors in nested dicts/lists/tuples to ``device``; 4-D float tensors get the
    ``channels_last`` memory format when asked."""
    if torch.is_tensor(obj):
        t = obj.to(device, non_blocking=non_blocking)
        if channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        return t
    if isinstance(obj, dict):
        return {k: to_device(v, device, channels_last, non_blocking) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device, channels_last, non_blocking) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(v, device, channels_last, non_blocking) for v in obj)
    return obj


def take_errors(batch: Any, loader: Any) -> Any:
    """Move a batch's ``errors`` (items that failed to load, see :mod:`deep.patches`) into
    ``loader.dataset.errors``; ``None`` when nothing else is left in the batch."""
    if batch is None:
        return None
    if isinstance(batch, dict) and "errors" in batch:
        batch = dict(batch)
        errs = batch.pop("errors")
        store = getattr(getattr(loader, "dataset", None), "errors", None)
        if isinstance(store, dict):
            store.update(dict(errs))
        if not batch:
            return None
    return batch


def _batch_items(batch: Any) -> int:
    """How many items (images) a batch holds, for weighting batch means."""
    if isinstance(batch, dict):
        for key in ("index", "target"):
            if key in batch and torch.is_tensor(batch[key]):
                return max(1, int(batch[key].shape[0]))
        return 1
    if isinstance(batch, (list, tuple)) and batch and torch.is_tensor(batch[0]):
        return max(1, int(batch[0].shape[0]))
    return 1


def batch_units(batch: Any) -> int:
    """Network inputs in a batch: patches (or crops) of a flat patch batch, else images."""
    if isinstance(batch, dict):
        for key in ("patches", "image"):
            x = batch.get(key)
            if torch.is_tensor(x):
                return int(x.shape[0])
            if isinstance(x, list):
                return len(x)
    return _batch_items(batch)


class _SourceEpoch:
    """One epoch of a batch source (``iter_batches``), with the ``dataset`` attribute of a loader."""

    def __init__(self, source: Any, epoch: int):
        self.dataset, self.epoch = source, epoch

    def __iter__(self):
        return iter(self.dataset.iter_batches(self.epoch))

    def __len__(self) -> int:
        return len(self.dataset.batches_of(self.epoch)) if hasattr(self.dataset, "batches_of") else 0


def mean_loss_metric(loss_fn: LossFn, amp: bool = False, channels_last: bool = False) -> ValMetric:
    """Validation metric = item-weighted mean of ``loss_fn`` (Bosse et al.: mean validation loss)."""

    def metric(model: nn.Module, loader: Iterable, device: torch.device) -> float:
        total, count = 0.0, 0
        for batch in loader:
            batch = take_errors(batch, loader)
            if batch is None:       # every item of the batch failed (see deep.patches skip_errors)
                continue
            batch = to_device(batch, device, channels_last)
            with autocast(device, enabled=amp):
                loss = loss_fn(model, batch)
            k = _batch_items(batch)
            total += float(loss.detach().float()) * k
            count += k
        return total / count if count else float("nan")

    return metric


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def rng_state() -> dict[str, Any]:
    """Snapshot of the Python, NumPy (global), torch-CPU and torch-CUDA random states."""
    import random

    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a :func:`rng_state` snapshot (the CUDA part only when the GPU count matches)."""
    import random

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8).cpu() for s in state["cuda"]])
        except (RuntimeError, IndexError):
            pass


# --------------------------------------------------------------------------- config / result
@dataclass
class TrainConfig:
    """Settings of one training run (see the module docstring)."""

    max_epochs: int = 100
    patience: int | None = 10
    min_delta: float = 0.0
    mode: str = "min"
    batch_size: int = 4
    collate_fn: Callable | None = None
    batch_sampler: Callable[[Dataset, int], Iterable[list[int]]] | None = None
    shuffle: bool = True
    drop_last: bool = False
    num_workers: int | None = None     # None: 0 on CPU, min(4, cores - 1) on CUDA
    device: str | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    grad_clip: float | None = None
    seed: int = 0
    work_dir: str | os.PathLike | None = None
    checkpoint_interval_s: float = 0.0   # write latest.pt at most this often (0 = every epoch); always at the end
    resume: bool = True
    progress: bool = False
    desc: str = "train"
    time_budget_s: float | None = None   # stop at the step that reaches it (None: time_budget(), else none)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.max_epochs < 0:
            raise ValueError("max_epochs must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be >= 1 or None")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_metric: float = float("nan")
    epochs_run: int = 0            # epochs trained in this call (after a resume: the new ones)
    last_epoch: int = -1           # index of the last finished epoch overall
    stopped_early: bool = False
    stopped_by_budget: bool = False   # ended by the time budget (TrainConfig.time_budget_s / time_budget())
    budget_cut_epoch: bool = False    # ... within its last epoch (that epoch saw only part of the training set)
    resumed_from: int | None = None
    seconds: float = 0.0
    items_seen: int = 0            # training items (images) processed in this call
    units_seen: int = 0            # network inputs (patches, crops or images) processed in this call
    train_seconds: float = 0.0     # time in training steps only (no validation, no checkpoints)
    train_cpu_seconds: float = 0.0  # process CPU time of those steps (all threads)

    @property
    def items_per_second(self) -> float:
        """Training images per second of the training steps."""
        return self.items_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    @property
    def units_per_second(self) -> float:
        """Training patches (crops, images) per second of the training steps."""
        return self.units_seen / self.train_seconds if self.train_seconds > 0 else float("nan")


# --------------------------------------------------------------------------- trainer
class Trainer:
    """Generic epoch loop with early stopping, checkpoints/resume, AMP and seeding."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, optimizer_factory: OptimizerFactory | None = None,
                 config: TrainConfig | None = None, val_metric: ValMetric | None = None,
                 scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None = None, run_key: str = ""):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer_factory = optimizer_factory or adam()
        self.config = config or TrainConfig()
        self.val_metric = val_metric
        self.scheduler_factory = scheduler_factory
        self.run_key = str(run_key)
        self.device = select_device(self.config.device or None)
        # Mixed precision and channels_last only on CUDA (never on CPU); float16 needs loss scaling,
        # bfloat16 (chosen by deep._utils.autocast where supported) does not.
        self.amp = self.device.type == "cuda" and self.config.amp is not False
        self.fp16_scaling = self.amp and not torch.cuda.is_bf16_supported()
        self.channels_last = self.device.type == "cuda" and (self.config.channels_last is not False)
        nw = self.config.num_workers
        self.num_workers = (0 if self.device.type != "cuda" else max(0, min(4, (os.cpu_count() or 1) - 1))
                            ) if nw is None else int(nw)

    # -- loaders
    def _loader(self, data: Dataset | DataLoader | None, epoch: int, train: bool) -> Iterable | None:
        if data is None:
            return None
        ds = data.dataset if isinstance(data, DataLoader) else data
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
        if isinstance(data, DataLoader):
            return data
        if hasattr(data, "iter_batches"):     # an in-memory batch source: no DataLoader
            return _SourceEpoch(data, epoch)
        cfg = self.config
        if train and cfg.batch_sampler is not None:
            return DataLoader(data, batch_sampler=cfg.batch_sampler(data, epoch), collate_fn=cfg.collate_fn,
                              num_workers=self.num_workers, pin_memory=self.device.type == "cuda")
        if train and cfg.shuffle:
            gen = torch.Generator()
            gen.manual_seed((int(cfg.seed) * 1_000_003 + epoch) % (2 ** 63))
            sampler = RandomSampler(data, generator=gen)
        else:
            sampler = SequentialSampler(data)
        return DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, collate_fn=cfg.collate_fn,
                          num_workers=self.num_workers, drop_last=cfg.drop_last and train,
                          pin_memory=self.device.type == "cuda", persistent_workers=False)

    # -- checkpoint I/O
    @property
    def work_dir(self) -> Path | None:
        return None if self.config.work_dir is None else Path(self.config.work_dir)

    def _load_checkpoint(self, name: str) -> dict[str, Any] | None:
        wd = self.work_dir
        if wd is None or not (wd / name).is_file():
            return None
        try:
            ckpt = torch.load(wd / name, map_location="cpu", weights_only=False)
        except Exception:  # a corrupt checkpoint is ignored (training restarts)
            return None
        if not isinstance(ckpt, dict) or ckpt.get("run_key", "") != self.run_key:
            return None
        return ckpt

    def load_best(self) -> bool:
        """Load ``best.pt`` from ``work_dir`` into the model (True when found)."""
        ckpt = self._load_checkpoint(CHECKPOINT_BEST)
        if ckpt is None:
            return False
        self.model.load_state_dict(ckpt["model"])
        return True

    # -- the loop
    def fit(self, train: Dataset | DataLoader, val: Dataset | DataLoader | None = None) -> TrainResult:
        cfg = self.config
        seed_everything(cfg.seed)
        model = self.model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = self.optimizer_factory([p for p in model.parameters() if p.requires_grad])
        scheduler = self.scheduler_factory(optimizer) if self.scheduler_factory else None
        scaler = torch.amp.GradScaler("cuda", enabled=self.fp16_scaling)
        metric_fn = self.val_metric or mean_loss_metric(self.loss_fn, self.amp, self.channels_last)
        sign = 1.0 if cfg.mode == "min" else -1.0

        result = TrainResult()
        start_epoch = 0
        best_score = math.inf              # sign * metric, lower is better
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0
        finished = False

        wd = self.work_dir
        if wd is not None:
            wd.mkdir(parents=True, exist_ok=True)
        ckpt = self._load_checkpoint(CHECKPOINT_LATEST) if cfg.resume else None
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler") is not None:
                scaler.load_state_dict(ckpt["scaler"])
            start_epoch = int(ckpt["epoch"]) + 1
            best_score = float(ckpt["best_score"])
            bad_epochs = int(ckpt["bad_epochs"])
            # An early-stopped run is over; one that reached its epoch budget may be extended.
            finished = bool(ckpt.get("stopped_early", False))
            result.history = list(ckpt.get("history", []))
            result.best_epoch = int(ckpt.get("best_epoch", -1))
            result.best_metric = float(ckpt.get("best_metric", float("nan")))
            result.stopped_early = bool(ckpt.get("stopped_early", False))
            result.resumed_from = int(ckpt["epoch"])
            result.last_epoch = int(ckpt["epoch"])
            set_rng_state(ckpt["rng"])
            best = self._load_checkpoint(CHECKPOINT_BEST)
            best_state = best["model"] if best is not None else None

        t_start = time.perf_counter()
        last_save = t_start
        budget = cfg.time_budget_s if cfg.time_budget_s is not None else _TIME_BUDGET.get()
        epoch_iter: Iterable[int] = range(start_epoch, cfg.max_epochs)
        outer = None
        if cfg.progress and not finished:
            from tqdm.auto import tqdm

            outer = tqdm(total=cfg.max_epochs, initial=start_epoch, desc=cfg.desc, unit="epoch", leave=False)
        for epoch in ([] if finished else epoch_iter):
            t0, c0 = time.perf_counter(), time.process_time()
            loader = self._loader(train, epoch, train=True)
            model.train()
            total, count, units, t_train = 0.0, 0, 0, 0.0
            batches: Iterable = loader
            inner = None
            if cfg.progress:
                from tqdm.auto import tqdm

                inner = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False)
                batches = inner
            t_step, c_step = time.perf_counter(), time.process_time()
            # On a GPU the batch losses stay on the device until the epoch ends (no host round trip
            # per batch); they are then checked and summed exactly as the per-batch path does.
            deferred: list[tuple[int, torch.Tensor, int]] | None = [] if self.device.type == "cuda" else None
            cut = False
            for b, batch in enumerate(batches):
                batch = take_errors(batch, loader)
                if batch is None:   # every item of the batch failed to load (recorded by the dataset)
                    continue
                batch = to_device(batch, self.device, self.channels_last, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with autocast(self.device, enabled=self.amp):
                    loss = self.loss_fn(model, batch)
                if deferred is None and not torch.isfinite(loss.detach()):
                    raise FloatingPointError(f"{cfg.desc}: non-finite training loss at epoch {epoch + 1}, "
                                             f"batch {b + 1}")
                scaler.scale(loss).backward()
                if cfg.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                k = _batch_items(batch)
                if deferred is not None:
                    deferred.append((b, loss.detach().float(), k))
                else:
                    total += float(loss.detach().float()) * k
                count += k
                units += batch_units(batch)
                if inner is not None and deferred is None:
                    inner.set_postfix(loss=f"{total / max(count, 1):.4g}")
                if budget is not None and time.perf_counter() - t_start >= budget:
                    cut = True          # out of time within the epoch: validate what was trained, then stop
                    break
            if deferred:
                total = _deferred_total(deferred, cfg.desc, epoch)
            t_train, c_train = time.perf_counter() - t_step, time.process_time() - c_step
            if inner is not None:
                inner.close()
            if scheduler is not None:
                scheduler.step()
            result.items_seen += count
            result.units_seen += units
            result.train_seconds += t_train
            result.train_cpu_seconds += c_train
            train_loss = total / max(count, 1)

            val_loader = self._loader(val, epoch, train=False)
            val_value = float("nan")
            val_extra: dict[str, float] = {}
            if val_loader is not None:
                model.eval()
                with torch.no_grad():
                    got = metric_fn(model, val_loader, self.device)
                if isinstance(got, dict):
                    val_extra = {k: float(v) for k, v in got.items() if k != "metric"}
                    got = got["metric"]
                val_value = float(got)
            use_val = math.isfinite(val_value)
            # without a (usable) validation metric the latest epoch is the best
            score = sign * val_value if use_val else -float(epoch)
            improved = score < best_score - (cfg.min_delta if use_val else 0.0)
            if improved:
                best_score = score
                bad_epochs = 0
                best_state = _cpu_state(model)
                result.best_epoch = epoch
                result.best_metric = val_value
            else:
                bad_epochs += 1
            row = {"epoch": epoch, "train_loss": train_loss, "val_metric": val_value, **val_extra,
                   "lr": float(optimizer.param_groups[0]["lr"]), "seconds": time.perf_counter() - t0,
                   "cpu_seconds": time.process_time() - c0,
                   "train_seconds": t_train, "train_cpu_seconds": c_train, "train_items": count,
                   "train_units": units}
            result.history.append(row)
            result.epochs_run += 1
            result.last_epoch = epoch
            stop = use_val and cfg.patience is not None and bad_epochs >= cfg.patience
            out_of_time = not stop and budget is not None and (cut or (
                epoch + 1 < cfg.max_epochs and time.perf_counter() - t_start >= budget))
            result.stopped_by_budget = out_of_time
            result.budget_cut_epoch = cut
            done = stop or out_of_time or epoch + 1 >= cfg.max_epochs
            result.stopped_early = stop
            due = time.perf_counter() - last_save >= cfg.checkpoint_interval_s
            if wd is not None and (improved or due or done):
                if improved:
                    _atomic_save({"run_key": self.run_key, "model": best_state, "epoch": epoch,
                                  "metric": val_value}, wd / CHECKPOINT_BEST)
                _atomic_save({
                    "run_key": self.run_key, "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "scaler": scaler.state_dict(), "epoch": epoch, "best_score": best_score,
                    "best_epoch": result.best_epoch, "best_metric": result.best_metric,
                    "bad_epochs": bad_epochs, "history": result.history, "rng": rng_state(),
                    "finished": done, "stopped_early": stop, "config": _config_dict(cfg),
                }, wd / CHECKPOINT_LATEST)
                last_save = time.perf_counter()
            if outer is not None:
                outer.update(1)
                outer.set_postfix(train=f"{train_loss:.4g}", val=f"{val_value:.4g}")
            if stop or out_of_time:
                break
        if outer is not None:
            outer.close()
        result.seconds = time.perf_counter() - t_start
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return result


def _deferred_total(losses: list[tuple[int, torch.Tensor, int]], desc: str, epoch: int) -> float:
    """Item-weighted sum of an epoch's batch losses ``(batch number, loss, items)`` kept on the
    device: one transfer to the host; a non-finite loss raises as the per-batch check does."""
    values = torch.stack([v for _, v, _ in losses]).cpu().tolist()
    total = 0.0
    for (b, _, k), v in zip(losses, values):
        if not math.isfinite(v):
            raise FloatingPointError(f"{desc}: non-finite training loss at epoch {epoch + 1}, batch {b + 1}")
        total += v * k
    return total


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["collate_fn"] = getattr(cfg.collate_fn, "__name__", None) if cfg.collate_fn else None
    d["batch_sampler"] = repr(cfg.batch_sampler) if cfg.batch_sampler else None
    d["work_dir"] = None if cfg.work_dir is None else os.fspath(cfg.work_dir)
    return d

