"""A test hook, loaded by Python at start-up when this folder is on PYTHONPATH (conftest.pausing_env):
finetune-exp.py stops itself (SIGSTOP) right after its first complete checkpoint, once, after writing
"<pid> <step>" to the file IPA_TEST_PAUSE_FILE names. A test that interrupts a run then acts on a run
frozen at a known state instead of racing it. With IPA_TEST_PAUSE_TASK set, only that Slurm array
task pauses; with IPA_TEST_PAUSE_RUN set, only at a checkpoint of that run (a run id: one of the
several runs of a packed job). Every other process (the launchers, a second run once the file
exists) is untouched."""
import os
import sys

_FLAG = os.environ.get("IPA_TEST_PAUSE_FILE")
_TASK = os.environ.get("IPA_TEST_PAUSE_TASK")
_RUN = os.environ.get("IPA_TEST_PAUSE_RUN")


def _install():
    import signal

    from transformers.trainer_callback import CallbackHandler

    on_save = CallbackHandler.on_save

    def pause_after_save(self, args, state, control):
        control = on_save(self, args, state, control)  # the Trainer calls it once the checkpoint is complete
        if not os.path.exists(_FLAG) and (_RUN is None or _RUN in args.output_dir):
            with open(_FLAG + ".tmp", "w") as f:
                f.write(f"{os.getpid()} {state.global_step}\n")
            os.replace(_FLAG + ".tmp", _FLAG)
            os.kill(os.getpid(), signal.SIGSTOP)
        return control

    CallbackHandler.on_save = pause_after_save


if (_FLAG and not os.path.exists(_FLAG) and os.path.basename(sys.argv[0]) == "finetune-exp.py"
        and _TASK in (None, os.environ.get("SLURM_ARRAY_TASK_ID"))):
    _install()
