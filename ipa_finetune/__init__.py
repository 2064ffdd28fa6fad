"""ipa-finetune's importable logic, one folder per pipeline (docs/architecture.md).

The toolkit runs offline: importing it makes the Hugging Face libraries read datasets and models from
local files and the HF cache only, never the network (a job on a cluster node must not depend on a
hub, and a study must not change because a hub did). Set HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 in
the environment to allow downloads. This is set before any of them is imported (they read it once).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
