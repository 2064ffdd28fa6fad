"""The Trainer's weight-decay groups follow nanoGPT's configure_optimizers (issue 10)."""
import pytest


def test_weight_decay_groups_are_nanogpts(tmp_path):
    """Decay every parameter of 2+ dimensions (matmuls, wte, wpe, the classifier's score), nothing
    1-D (biases, LayerNorm weights): upstream GPT.configure_optimizers' rule."""
    from transformers import TrainingArguments

    import hf_wrapper
    from ipa_finetune.train.trainer import MultiLanguageTrainer
    from model import GPTConfig

    config = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=16, bias=True)
    model = hf_wrapper.NanoGPTForSequenceClassification.from_gpt_weights(config, None, 3)
    args = TrainingArguments(output_dir=str(tmp_path), weight_decay=0.1, use_cpu=True, report_to="none")
    trainer = MultiLanguageTrainer(model=model, args=args)
    assert trainer.get_decay_parameter_names(model) == [
        "gpt.transformer.wte.weight", "gpt.transformer.wpe.weight",
        "gpt.transformer.h.0.attn.c_attn.weight", "gpt.transformer.h.0.attn.c_proj.weight",
        "gpt.transformer.h.0.mlp.c_fc.weight", "gpt.transformer.h.0.mlp.c_proj.weight", "score.weight"]
    decay, no_decay = trainer.create_optimizer().param_groups[:2]
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == pytest.approx(0.1) and no_decay["weight_decay"] == 0.0
    assert sorted(names[id(p)] for p in no_decay["params"]) == sorted(
        n for n, p in model.named_parameters() if p.dim() < 2)
    assert "gpt.transformer.h.0.ln_1.weight" in {names[id(p)] for p in no_decay["params"]}
