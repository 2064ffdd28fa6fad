"""Classification metrics: what results.json reports per language and split.

Pure functions of labels and predictions (numpy arrays or lists), so they are tested on hand-computed
cases without a model.
"""
import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

# The mean over eval languages is logged as "eval__mean_<metric>": language names start with a letter
# or digit, so it cannot be mistaken for a language's "eval_<language>_<metric>".
MEAN = "_mean"


def classification_metrics(labels, predictions, num_classes):
    """Accuracy and macro precision/recall/F1 over all `num_classes` classes (a class absent from both
    labels and predictions counts as 0, scikit-learn's zero_division=0), plus the example count n."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    # labels=range(num_classes): the macro average is over the task's classes, not only those seen here,
    # so scores stay comparable across languages whose splits lack a class.
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predictions, labels=list(range(num_classes)), average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, predictions)) if len(labels) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "n": int(len(labels)),
    }


def majority_baseline(labels):
    """Accuracy of always predicting the split's most frequent class: the best any constant predictor
    can do on this split (a model that does not beat it has learned nothing useful)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    return float(np.bincount(labels).max() / len(labels))
