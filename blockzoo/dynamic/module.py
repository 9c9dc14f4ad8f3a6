"""BlockDrop's training as a LightningModule: the curriculum stage (the base network frozen, the policy deciding
one more block per epoch, from the last), then joint fine-tuning (policy and base network, cross-entropy
added, the learning rate x0.1 for the last part of it). Self-critical REINFORCE with bounded exploration; the
greedy policy is validated every epoch, every epoch with the same reward (the run's gamma), so that model
selection compares the curriculum's epochs and fine-tuning's on one scale."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from blockzoo.dynamic.droppable import DroppableNet
from blockzoo.dynamic.policy import PolicyNet, bounded, curriculum_mask, policy_loss, reward


@dataclass(frozen=True)
class Schedule:
    curriculum_epochs: int  # epochs of the curriculum stage (BlockDrop: K, one more block decided per epoch)
    finetune_epochs: int
    gamma: float = 5.0  # the penalty of a wrong prediction in fine-tuning, and of the validation reward of every epoch
    curriculum_gamma: float = 1.0  # ... in the curriculum stage's training
    alpha: float = 0.8  # bounded exploration
    entropy_weight: float = 0.1  # the curriculum stage's entropy bonus
    curriculum_lr: float = 1e-3  # Adam, the policy only
    finetune_lr: float = 1e-4  # Adam, the policy and the base network
    lr_decay_at: float = 0.8  # fine-tuning's lr x0.1 from this fraction of its epochs on (BlockDrop: 1600 of 2000)

    @property
    def epochs(self) -> int:
        return self.curriculum_epochs + self.finetune_epochs

    def finetune_lr_at(self, epoch: int) -> float:
        """Fine-tuning's learning rate in (overall) epoch `epoch`: BlockDrop's step decay, x0.1 once
        floor(lr_decay_at * finetune_epochs) fine-tuning epochs are done (never, if that is 0 or all of them)."""
        step = int(self.lr_decay_at * self.finetune_epochs)
        done = epoch - self.curriculum_epochs
        return self.finetune_lr * (0.1 if 0 < step <= done else 1.0)


class BlockDropModule(L.LightningModule):
    """history: one dict per finished epoch (reward, accuracy and blocks used of the greedy policy on the
    validation split, and the training reward); saved in every checkpoint, so a resumed run knows its past."""

    def __init__(self, droppable: DroppableNet, policy: PolicyNet, schedule: Schedule):
        super().__init__()
        self.droppable, self.policy, self.schedule = droppable, policy, schedule
        self.automatic_optimization = False
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, torch.Tensor] = {}

    @property
    def num_decisions(self) -> int:
        return self.droppable.num_droppable

    def decided(self, epoch: int) -> int:
        """How many of the last blocks the policy decides in `epoch`: one more per curriculum epoch, then all."""
        if epoch >= self.schedule.curriculum_epochs:
            return self.num_decisions
        stride = max(1, math.ceil(self.num_decisions / max(1, self.schedule.curriculum_epochs)))
        return min(self.num_decisions, (epoch + 1) * stride)

    def finetuning(self) -> bool:
        return self.current_epoch >= self.schedule.curriculum_epochs

    def configure_optimizers(self):
        s = self.schedule
        policy = torch.optim.Adam(self.policy.parameters(), lr=s.curriculum_lr)
        joint = torch.optim.Adam([*self.policy.parameters(), *self.droppable.parameters()], lr=s.finetune_lr)
        return [policy, joint]

    def on_train_epoch_start(self) -> None:
        self.droppable.train(self.finetuning())  # frozen base (BN statistics too) during the curriculum
        if self.finetuning():
            for group in self.optimizers()[1].optimizer.param_groups:
                group["lr"] = self.schedule.finetune_lr_at(self.current_epoch)
        for p in self.droppable.parameters():
            p.requires_grad_(self.finetuning())
        self._sums["train"] = torch.zeros(2, device=self.device)  # reward sum, images

    def training_step(self, batch, batch_idx):
        x, y = batch
        s = self.schedule
        mask = curriculum_mask(self.num_decisions, self.decided(self.current_epoch), self.device)
        probs = self.policy(x)
        with torch.no_grad():
            sampled = torch.bernoulli(bounded(probs, s.alpha))
            sampled = torch.where(mask, sampled, torch.ones_like(sampled))  # forced on before the decided ones
            greedy = torch.where(mask, (probs >= 0.5).float(), torch.ones_like(probs))
        gamma = s.gamma if self.finetuning() else s.curriculum_gamma
        with torch.set_grad_enabled(self.finetuning()):  # the base network learns in fine-tuning only
            logits = self.droppable(x, sampled)
        with torch.no_grad():
            sampled_reward = reward(logits.argmax(1) == y, sampled, gamma)
            greedy_reward = reward(self.droppable(x, greedy).argmax(1) == y, greedy, gamma)
        advantage = sampled_reward - greedy_reward  # self-critical: 0 where the sample is the greedy policy
        loss = policy_loss(probs, sampled, advantage, mask, s.alpha, 0.0 if self.finetuning() else s.entropy_weight)
        if self.finetuning():
            loss = loss + F.cross_entropy(logits, y)
        optimizer = self.optimizers()[1 if self.finetuning() else 0]
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self._sums["train"] += torch.stack((sampled_reward.sum(), torch.tensor(float(len(y)), device=self.device)))

    def on_validation_epoch_start(self) -> None:
        self._sums["val"] = torch.zeros(4, device=self.device)  # reward, correct, blocks used, images

    def validation_step(self, batch, batch_idx):
        x, y = batch
        keep = self.greedy(x)
        correct = self.droppable(x, keep).argmax(1) == y
        # every epoch, the curriculum's too, scored with the run's own penalty: one scale for model selection
        self._sums["val"] += torch.stack((reward(correct, keep, self.schedule.gamma).sum(), correct.sum().float(),
                                          keep.sum().float(), torch.tensor(float(len(y)), device=self.device)))

    def greedy(self, x: torch.Tensor) -> torch.Tensor:
        """The policy's greedy decisions, with the current curriculum's forced blocks on."""
        mask = curriculum_mask(self.num_decisions, self.decided(self.current_epoch), x.device)
        probs = self.policy(x)
        return torch.where(mask, (probs >= 0.5).float(), torch.ones_like(probs))

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        val_reward, correct, used, images = self._sums["val"].tolist()
        train_reward, train_images = self._sums.get("train", torch.zeros(2)).tolist()
        entry = {"epoch": self.current_epoch, "stage": "finetune" if self.finetuning() else "curriculum",
                 "decided": self.decided(self.current_epoch), "val_reward": val_reward / max(images, 1),
                 "val_acc": correct / max(images, 1), "val_blocks_used": used / max(images, 1),
                 "train_reward": train_reward / max(train_images, 1)}
        self.history.append(entry)
        # model selection: the greedy policy's validation reward at the run's gamma, once it decides every block
        self.log("val_score", selection_score(entry, self.num_decisions), logger=False)
        self.log("val_acc", entry["val_acc"], prog_bar=True, logger=False)
        self.log("blocks", entry["val_blocks_used"], prog_bar=True, logger=False)
        if self.logger is not None:
            live = self.logger.experiment
            live.step = self.current_epoch
            for name in ("train_reward", "val_reward", "val_acc", "val_blocks_used"):
                live.log_metric(name, entry[name])
            live.sync()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["blockzoo"] = {"history": self.history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("blockzoo", {}).get("history", []))


def selection_score(entry: dict[str, Any], num_decisions: int) -> float:
    """What model selection maximises for one epoch's history entry: its greedy validation reward (at the run's
    gamma, whatever the stage), once the policy decides every block; an epoch that still forces blocks on is
    not a policy of all K blocks and ranks below any that is (the later of two such, higher)."""
    return entry["val_reward"] if entry["decided"] == num_decisions else -1e9 + entry["epoch"]


def selected_entry(history: list[dict[str, Any]], num_decisions: int) -> dict[str, Any]:
    """The history entry model selection picks (the first of equal scores, as ModelCheckpoint keeps it)."""
    best = None
    for entry in history:
        if best is None or selection_score(entry, num_decisions) > selection_score(best, num_decisions):
            best = entry
    return best or {}
