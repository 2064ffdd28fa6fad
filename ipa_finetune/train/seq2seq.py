"""Seq2seq runs (task_type "seq2seq", docs/seq2seq.md): what differs from classification. pipeline.py
calls these where the task type matters; checks, resume, signals, selection and results are shared.

    prep = prepare(plan)                                 # tokenizer, NanoGPTForCausalLM, rows, prompts
    trainer = build_trainer(plan, prep, cpus, recorder)  # generates on every language each epoch
    metrics, files = final_metrics(trainer, prep, plan)  # + predictions/<lang>.<split>.jsonl
    results.update(record(plan, prep))                   # layout counts, target columns, error unit

A training row is `source SEP target END`, the loss on the target and END only. A row holds at most
min(block_size, hyperparameters.max_length) tokens (seq2seq_layout.py: longer training examples are
dropped and counted; evaluated sources are cut at their end and counted). Every evaluation (each
epoch on every language's validation split and the eval languages' test splits, as for
classification: epochs.py; and the kept model's eval and test splits) generates each example in full (generation.num_beams: greedy or beam
search, up to generation.max_new_tokens) and scores it with text_metrics.py: chrF, BLEU, exact match
and the error rate in characters or phones (generation.error_unit), plus `loss`, the teacher-forced
cross-entropy per target token of the examples that fit the block whole. The final evaluation adds
the trivial baselines (copy the source; the most frequent target of the run's training splits) as
`copy_source_<metric>` and `most_frequent_target_<metric>`.
"""
import dataclasses
import logging
import types

import torch

from ..checkpoint import load_causal_lm
from ..config import selection
from ..errors import DataError
from ..inputs.splits import roles_of, where
from ..inputs.tokenizer import check_vocab_coverage
from ..predictions import write_text_predictions
from ..seq2seq_layout import encode_pairs, generation_prompts, pad_right, special_tokens, training_rows
from ..text_metrics import BASELINES, ERROR_RATE_NAMES, baseline_statistics, example_statistics
from . import data, loaded
from .trainer import MultiLanguageTrainer, build_trainer as _build_trainer

log = logging.getLogger("ipa_finetune")
SOURCE_JOINER = " | "  # several source columns as one text (predictions, the copy-source baseline)


@dataclasses.dataclass
class TextSplit:
    """One evaluated split of one language, laid out for generation and scoring."""
    language: str
    split: str
    ids: list           # the examples' ids (str), what the report pairs runs by
    sources: list       # source texts
    references: list    # target texts
    prompts: list       # token ids: source (cut at its end if needed) + separator
    loss_rows: list     # training rows of the examples that fit the block whole
    counts: object      # seq2seq_layout.LayoutCounts
    unit: str           # "char" or "phone": the error rate's unit for this target column

    def __len__(self):
        return len(self.ids)


def error_unit(spec, target, setting):
    """generation.error_unit: "auto" counts phones where the target column is one of the entry's
    IPA columns (DatasetSpec.ipa_columns), else characters."""
    if setting != "auto":
        return setting
    return "phone" if target in spec.ipa_columns else "char"


def _split_texts(spec, split, ds, columns, target):
    """(ids, source texts per column, target texts) of one loaded split; ids from its `id` column
    (unique), else the row positions."""
    ids = [str(i) for i in (ds["id"] if "id" in ds.column_names else range(len(ds)))]
    if len(set(ids)) != len(ids):
        seen = set()
        twice = next(i for i in ids if i in seen or seen.add(i))
        raise DataError(f"{where(spec, split, 'id')}: id {twice!r} is used twice; ids name examples "
                        "(the report pairs runs by them), so they must be unique within a split")
    return ids, [list(ds[c]) for c in columns], list(ds[target])


def _pairs(backend, ids, sources, targets, eos, where_):
    """seq2seq_layout Pairs; several source columns are joined by the end token, as classification
    joins its text columns."""
    pairs = encode_pairs(backend, ids, sources[0], targets, where_)
    for extra in sources[1:]:
        more = encode_pairs(backend, ids, extra, targets, where_)
        pairs = [dataclasses.replace(p, source=p.source + (eos,) + m.source) for p, m in zip(pairs, more)]
    return pairs


def _load(plan, tokenizer):
    """{language: {role: (split name, ids, source texts, target texts, pairs)}} of the splits the run
    reads, checked (columns, text, empty sources or targets, unique ids)."""
    study, key = plan.study, plan.model.features_key
    backend, out = tokenizer.backend_tokenizer, {}
    for lang in sorted(set(plan.train_langs) | set(plan.eval_langs)):
        spec = study.dataset(lang)
        roles = roles_of(lang, plan.train_langs, plan.eval_langs)
        raw = loaded.language_splits(plan, spec, key, roles)
        columns, target = spec.features_for(key), spec.target_for(key)
        out[lang] = {}
        for role, (split, ds) in raw.items():
            ids, sources, targets = _split_texts(spec, split, ds, columns, target)
            pairs = _pairs(backend, ids, sources, targets, tokenizer.eos_token_id, where(spec, split))
            out[lang][role] = (split, ids, [SOURCE_JOINER.join(s) for s in zip(*sources)], targets, pairs)
    return out


def _model(plan, tokenizer, generation):
    """The causal LM of the run's model type and the special token ids its rows use."""
    hp, checkpoint = plan.cfg["hyperparameters"], plan.model.existing_checkpoint()
    model = load_causal_lm(checkpoint, eos_token_id=tokenizer.eos_token_id, seed=hp["seed"],
                           dropout=hp.get("dropout"), pretrained=plan.model.pretrained)
    if not plan.model.pretrained:
        log.info("model type %s: init random, the architecture of %s without its weights",
                 plan.model_type, checkpoint)
    check_vocab_coverage(tokenizer, model.config.vocab_size, checkpoint)
    tokens = special_tokens(len(tokenizer), tokenizer.eos_token_id, model.config.vocab_size,
                            generation["separator"], checkpoint)
    return model, tokens


def _train_set(plan, texts, tokens, block_size):
    """The training rows of the train languages (too long ones dropped and counted) as one Dataset."""
    import datasets

    parts, counts = [], {}
    for lang in plan.train_langs:
        split, *_, pairs = texts[lang]["train"]
        rows, counts[lang] = training_rows(pairs, tokens, block_size, where(plan.study.dataset(lang), split))
        parts.append(datasets.Dataset.from_list([dict(r, length=len(r["input_ids"])) for r in rows]))
        if counts[lang].dropped:
            log.warning("%s %s: %d of %d examples are too long for block_size %d and left out of training",
                        lang, split, counts[lang].dropped, counts[lang].examples, block_size)
    hp = plan.cfg["hyperparameters"]
    return data.train_set(parts, hp.get("train_samples"), hp["seed"]), counts


def _text_split(plan, lang, entry, tokens, block_size):
    split, ids, sources, targets, pairs = entry
    spec, generation = plan.study.dataset(lang), plan.cfg["generation"]
    prompts, counts = generation_prompts(pairs, tokens, block_size, generation["max_new_tokens"])
    fitting = [p for p in pairs if len(p.source) + len(p.target) + 2 <= block_size]
    loss_rows = training_rows(fitting, tokens, block_size)[0] if fitting else []
    unit = error_unit(spec, plan.study.target(lang, plan.model_type), generation["error_unit"])
    return TextSplit(lang, split, ids, sources, targets, prompts, loss_rows, counts, unit)


def prepare(plan):
    """Load and validate tokenizer, model and data; lay out the rows and prompts. Raises UserError on
    any bad input, before the first step."""
    generation = plan.cfg["generation"]
    tokenizer = loaded.tokenizer(plan)
    texts = _load(plan, tokenizer)
    model, tokens = _model(plan, tokenizer, generation)
    # rows and prompts: at most max_length tokens, as classification cuts its inputs
    block = min(model.config.block_size, plan.cfg["hyperparameters"]["max_length"])
    train, train_counts = _train_set(plan, texts, tokens, block)
    splits = {role: {lang: _text_split(plan, lang, roles[role], tokens, block)
                     for lang, roles in texts.items() if role in roles} for role in ("eval", "test")}
    test = {lang: s for lang, s in splits["test"].items() if lang in plan.eval_langs}
    # every epoch generates the validation split of every language and the eval languages' test
    # splits (what each selection protocol needs, epochs.py); (split, None): no row order to restore
    return types.SimpleNamespace(
        tokenizer=tokenizer, model=model, tokens=tokens, train=train, train_counts=train_counts,
        eval={lang: splits["eval"][lang] for lang in plan.eval_langs}, test=test,
        monitor={lang: (s, None) for lang, s in splits["eval"].items()},
        monitor_test={lang: (s, None) for lang, s in test.items()},
        choosing=selection.monitored_languages(selection.selection_of(plan.cfg["hyperparameters"]),
                                               plan.train_langs, plan.eval_langs),
        eval_split_names={lang: s.split for lang, s in splits["eval"].items()},
        train_targets=[t for lang in plan.train_langs for t in texts[lang]["train"][3]],
        generator=Generator(tokenizer, tokens, generation, plan.cfg["hyperparameters"]["eval_batch_size"]))


class Generator:
    """Generates and scores TextSplits with a model: the one in training (every epoch) or the kept one."""

    def __init__(self, tokenizer, tokens, generation, batch_size):
        self.tokenizer, self.tokens, self.batch_size = tokenizer, tokens, batch_size
        self.max_new_tokens, self.num_beams = generation["max_new_tokens"], generation["num_beams"]

    def hypotheses(self, model, split):
        """The generated text of each example, in the split's order (shortest prompts first, in
        batches, with a progress bar)."""
        from tqdm import tqdm

        order = sorted(range(len(split)), key=lambda i: len(split.prompts[i]))
        out = [None] * len(split)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc=f"Generating {split.language}/{split.split}", leave=False, disable=None):
            rows = order[start:start + self.batch_size]
            done = model.complete([split.prompts[i] for i in rows], self.max_new_tokens,
                                  num_beams=self.num_beams, batch_size=self.batch_size)
            for i, ids in zip(rows, done):
                ids = [t for t in ids if t < len(self.tokenizer)]  # a "spare" separator has no text
                out[i] = self.tokenizer.decode(ids, skip_special_tokens=True)
        return out

    @torch.no_grad()
    def loss(self, model, split):
        """Cross-entropy per target token (END included) of the examples that fit whole; None when
        none does."""
        if not split.loss_rows:
            return None
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        try:
            for start in range(0, len(split.loss_rows), self.batch_size):
                batch = pad_right(split.loss_rows[start:start + self.batch_size], self.tokens.pad)
                batch = {k: torch.as_tensor(v, device=model.device) for k, v in batch.items()}
                total += float(model(**batch, num_items_in_batch=1).loss)  # the sum over tokens
                count += int((batch["labels"][:, 1:] != -100).sum())
        finally:
            model.train(was_training)
        return total / count

    def evaluate(self, model, split):
        """({chrf, bleu, exact_match, error_rate, loss, n}, hypotheses) of one split."""
        hypotheses = self.hypotheses(model, split)
        scores = example_statistics(hypotheses, split.references, split.unit).scores()
        scores.update(loss=self.loss(model, split), n=len(split))
        return scores, hypotheses


class Seq2SeqTrainer(MultiLanguageTrainer):
    """Evaluation generates (Generator) instead of classifying, on the same splits as classification
    (every language's validation split as `eval_<language>_<metric>`, the eval languages' test splits
    as `test_<language>_<metric>`, each handed to the recorder) and the choosing languages' means as
    `eval__mean_<metric>`, which metric_for_best_model names: the Trainer's best-epoch bookkeeping
    (and its resume) and the per-epoch records (epochs.py) work as for classification."""
    generator = None

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        splits = self.eval_dataset if eval_dataset is None else eval_dataset
        metrics = {}
        for lang, split in splits.items():
            metrics.update(self._generate(lang, "eval", split, f"{metric_key_prefix}_{lang}"))
        metrics.update(self._means(metrics, metric_key_prefix))
        for lang, split in self.test_sets.items():
            metrics.update(self._generate(lang, "test", split, f"test_{lang}"))
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _generate(self, lang, role, split, prefix):
        scores, hypotheses = self.generator.evaluate(self.model, split)
        if self.recorder is not None:
            self.recorder.record(self.state.epoch, lang, role, split, hypotheses)
        return {f"{prefix}_{k}": v for k, v in scores.items() if v is not None and k != "n"}


class RowCollator:
    """Pads training rows on the right (seq2seq_layout.pad_right) as torch tensors; the `id` and
    `length` columns are not model inputs."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, rows):
        return {k: torch.as_tensor(v) for k, v in pad_right(rows, self.pad_id).items()}


def build_trainer(plan, prep, cpus, recorder=None):
    trainer = _build_trainer(plan, prep, cpus, recorder, trainer_class=Seq2SeqTrainer,
                             collator=RowCollator(prep.tokens.pad))
    trainer.generator = prep.generator
    return trainer


def baseline_scores(split, train_targets):
    """`<baseline>_<metric>` of the trivial baselines on one split (text_metrics.BASELINES)."""
    return {f"{kind}_{metric}": value for kind in BASELINES for metric, value in baseline_statistics(
        kind, split.sources, split.references, train_targets, split.unit).scores().items()}


def final_metrics(trainer, prep, plan):
    """The kept model's scores and the trivial baselines' on each eval language's eval and test
    split, and the predictions files: ({lang: {split: metrics}}, {lang: {split: file}})."""
    out, files = {}, {}
    for lang in plan.eval_langs:
        out[lang], files[lang] = {}, {}
        for role, split in (("eval", prep.eval[lang]), ("test", prep.test.get(lang))):
            if split is None:
                continue
            scores, hypotheses = prep.generator.evaluate(trainer.model, split)
            out[lang][role] = dict(scores, **baseline_scores(split, prep.train_targets))
            files[lang][role] = write_predictions(plan.run_dir, lang, role, split, hypotheses)
    return out, files


def write_predictions(run_dir, lang, role, split, hypotheses, epoch=None):
    """predictions.write_text_predictions of one TextSplit (the epochs.Recorder writer of seq2seq)."""
    return write_text_predictions(run_dir, lang, role, split.ids, split.sources, split.references,
                                  hypotheses, epoch=epoch)


def record(plan, prep):
    """results.json's `seq2seq` record: generation settings, special token ids, what each language
    reads and writes (and the error rate's unit), and what the too-long rule did to each split."""
    splits = {"eval": prep.eval, "test": prep.test}
    targets = {lang: {"source_columns": plan.study.columns(lang, plan.model_type),
                      "target_column": plan.study.target(lang, plan.model_type),
                      "error_unit": s.unit, "error_rate": ERROR_RATE_NAMES[s.unit]}
               for lang, s in prep.eval.items()}
    return {"seq2seq": {
        "generation": dict(plan.cfg["generation"]),
        "tokens": {"separator": prep.tokens.separator, "end": prep.tokens.end, "kind": prep.tokens.kind},
        "targets": targets,
        "layout": {"train": {lang: c.as_dict() for lang, c in prep.train_counts.items()},
                   **{role: {lang: s.counts.as_dict() for lang, s in by_lang.items()}
                      for role, by_lang in splits.items()}}}}
