"""hf_wrapper.py: the nanoGPT sequence classifier (pooling, checkpoint loading, save/load, Trainer)."""
import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForSequenceClassification, Trainer, TrainingArguments

from hf_wrapper import NanoGPTConfig, NanoGPTForSequenceClassification, last_token_index
from ipa_finetune.checkpoint import load_checkpoint, load_classifier, read_checkpoint
from ipa_finetune.errors import CheckpointError
from tests.ckpt_helpers import TINY, tiny_gpt, train_steps, write_train_py_checkpoint

LABELS = {0: "negative", 1: "neutral", 2: "positive"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs tiny models in this process."""


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A trained-a-little tiny nanoGPT in train.py's format (compiled, saved from a 'GPU')."""
    model = tiny_gpt(dropout=0.1)
    optimizer = train_steps(model)
    return str(write_train_py_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "ckpt.pt",
                                         optimizer=optimizer, on_cuda=True))


@pytest.fixture
def classifier(ckpt):
    return load_classifier(ckpt, 3, seed=0, dropout=0.0, id2label=LABELS)


def right_padded(lengths, t=12, pad_id=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), t), pad_id)
    mask = torch.zeros(len(lengths), t, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(0, TINY["vocab_size"], (n,), generator=gen)
        mask[i, :n] = 1
    return ids, mask


def test_from_checkpoint_keeps_the_body_and_builds_no_lm_head(ckpt, classifier):
    gpt = load_checkpoint(ckpt)
    x, _ = right_padded([12, 12])
    with torch.no_grad():
        assert torch.equal(classifier.gpt.hidden_states(x), gpt.hidden_states(x))
    assert classifier.config.n_embd == TINY["n_embd"] and classifier.config.hidden_size == TINY["n_embd"]
    assert classifier.config.dropout == 0.0  # overridden; the checkpoint says 0.1
    assert classifier.gpt.transformer.h[0].attn.dropout == 0.0
    assert classifier.config.id2label == LABELS and classifier.config.label2id["positive"] == 2
    assert not any("lm_head" in name for name in classifier.state_dict())
    assert not classifier.training


def test_head_is_reproducible_under_a_seed(ckpt):
    config, weights = read_checkpoint(ckpt)
    build = NanoGPTForSequenceClassification.from_gpt_weights
    a, b, c = (build(config, weights, 3, seed=7), build(config, weights, 3, seed=7),
               build(config, weights, 3, seed=8))
    assert torch.equal(a.score.weight, b.score.weight)
    assert not torch.equal(a.score.weight, c.score.weight)
    assert 0.01 < a.score.weight.std().item() < 0.04  # normal(0, 0.02)
    assert a.config.dropout == 0.1  # kept from the checkpoint


def test_padded_batch_gives_the_logits_of_each_row_alone(classifier):
    lengths = [12, 3, 7, 1]
    ids, mask = right_padded(lengths)
    with torch.no_grad():
        batched = classifier(ids, attention_mask=mask).logits
        for i, n in enumerate(lengths):
            alone = classifier(ids[i:i + 1, :n]).logits
            assert torch.allclose(batched[i], alone[0], atol=1e-5, rtol=0)
        # the pad id does not matter either
        other_pad, _ = right_padded(lengths, pad_id=0)
        assert torch.allclose(classifier(other_pad, attention_mask=mask).logits, batched, atol=1e-6, rtol=0)
    assert batched.shape == (4, 3) and batched.dtype == torch.float32


def test_pools_last_real_token():
    ids = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    assert last_token_index(ids, mask).tolist() == [4, 1, 0]
    assert last_token_index(ids).tolist() == [4, 4, 4]


def test_loss_is_cross_entropy_and_follows_trainer_accumulation(classifier):
    ids, mask = right_padded([12, 5, 9])
    labels = torch.tensor([0, 2, 1])
    out = classifier(ids, attention_mask=mask, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits, labels)
    assert torch.allclose(out.loss, expected)
    summed = classifier(ids, attention_mask=mask, labels=labels, num_items_in_batch=torch.tensor(6))
    assert torch.allclose(summed.loss, expected * 3 / 6)
    loss, logits = classifier(ids, attention_mask=mask, labels=labels, return_dict=False)
    assert torch.equal(logits, out.logits)
    with pytest.raises(TypeError, match="token_type_ids"):
        classifier(ids, token_type_ids=torch.zeros_like(ids))


def test_input_longer_than_block_size_is_a_clear_value_error(classifier):
    with pytest.raises(ValueError, match=r"33 tokens per row.*block_size is 32.*max_length <= 32"):
        classifier(torch.zeros(2, 33, dtype=torch.long))


def test_bad_checkpoint_error_reaches_the_caller(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "nope.pt", 3)


def test_save_pretrained_round_trip_through_auto_classes(classifier, tmp_path):
    ids, mask = right_padded([12, 4])
    classifier.save_pretrained(tmp_path / "best_model")
    files = sorted(os.listdir(tmp_path / "best_model"))
    assert files == ["config.json", "model.safetensors"]
    with safe_open(str(tmp_path / "best_model" / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "score.weight" in keys and not any("lm_head" in k for k in keys)

    assert isinstance(AutoConfig.from_pretrained(tmp_path / "best_model"), NanoGPTConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "best_model")
    assert isinstance(loaded, NanoGPTForSequenceClassification)
    assert loaded.config.id2label == LABELS
    with torch.no_grad():
        assert torch.equal(loaded(ids, attention_mask=mask).logits, classifier(ids, attention_mask=mask).logits)


def test_fresh_model_has_nanogpt_init():
    torch.manual_seed(0)
    model = NanoGPTForSequenceClassification(NanoGPTConfig(n_layer=2, n_head=4, n_embd=256, block_size=32,
                                                           vocab_size=64, num_labels=3))
    h = model.gpt.transformer.h
    assert abs(h[0].mlp.c_fc.weight.std().item() - 0.02) < 0.002
    assert abs(h[1].attn.c_proj.weight.std().item() - 0.01) < 0.001  # 0.02 / sqrt(2 * n_layer)
    assert torch.equal(h[0].ln_1.weight, torch.ones(256))


def test_one_trainer_step_lowers_the_loss(classifier, tmp_path):
    ids, mask = right_padded([12, 3, 7, 10, 5, 12, 2, 8], seed=3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    rows = [{"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]} for i in range(8)]

    def loss():
        classifier.eval()
        with torch.no_grad():
            return classifier(ids, attention_mask=mask, labels=labels).loss.item()

    before = loss()
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, gradient_accumulation_steps=2,
        max_steps=1, learning_rate=1e-2, lr_scheduler_type="constant", use_cpu=True, report_to="none",
        save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)
    trainer = Trainer(model=classifier, args=args, train_dataset=rows)
    assert trainer.model_accepts_loss_kwargs  # it passes num_items_in_batch, which forward honours
    trainer.train()
    assert loss() < before - 1e-3
