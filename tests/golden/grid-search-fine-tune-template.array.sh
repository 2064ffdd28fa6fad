#!/bin/bash
# Points of a hyperparameter grid (one or more runs per job, trained one after another by one
# finetune-exp.py), written by grid-search.py from jobs/templates/grid-search-fine-tune-template.sh
# (str.format fields in braces; literal braces written doubled). Required fields: job_name, cpus,
# gpus, timeout (the job's: runs x the time limit per run), args. The extra field temp_config_name is
# the generated hyperparameter config of each run (also the last config of its arguments). Also set
# per job: log, project_dir, python, run_id, run_dir, study, model_type, train_langs, eval_langs (one
# word per run or distinct value), output_dir; sbatch_options (the config's slurm.options as #SBATCH
# lines); array and array_task (a job array's #SBATCH --array line and the lines that read the
# task's job from the job list; in an array script, temp_config_name, args and the other per-job
# fields are that task's values). A line holding only an empty field is left out. Any other field
# comes from the config's slurm.fields.
#SBATCH --job-name=rus-pol-sentiment-grid
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gpus=1
#SBATCH --time=06:00:00
#SBATCH --output='/srv/ipa finetune/jobs/rus-pol/logs/rus-pol-sentiment-grid-%A_%a.out'
# SIGTERM to the batch shell (python, after the exec below) 120 s before the time limit:
# finetune-exp.py then saves a checkpoint at the current step and exits 143; resubmitting resumes.
#SBATCH --signal=B:TERM@120
#SBATCH --partition=gpu
#SBATCH --account=ipa-gpt
#SBATCH --mem=32G
#SBATCH --array=0-2%2
set -euo pipefail
cd '/srv/ipa finetune'
# Array task: its job is line SLURM_ARRAY_TASK_ID + 1 of the job list, shell-quoted words
# written by the launcher (lists of the job's run ids, run folders, model types, train and eval
# languages and grid configs, then finetune-exp.py's arguments, the runs' separated by --then);
# eval turns them back into those words.
JOB_LIST='/srv/ipa finetune/jobs/rus-pol/rus-pol-sentiment-grid-<hash>.jobs'
TASK_ID="${SLURM_ARRAY_TASK_ID:?is not set: submit this script with sbatch}"
TASK_LINE=$(sed -n "$((TASK_ID + 1))p" "$JOB_LIST")
[ -n "$TASK_LINE" ] || {
  echo "array task $TASK_ID: no line $((TASK_ID + 1)) in $JOB_LIST" >&2; exit 2; }
eval "TASK=($TASK_LINE)"
eval "TASK_RUN_IDS=(${TASK[0]}) TASK_RUN_DIRS=(${TASK[1]}) TASK_MODEL_TYPES=(${TASK[2]})"
eval "TASK_TRAIN_LANGS=(${TASK[3]}) TASK_EVAL_LANGS=(${TASK[4]}) TASK_TEMP_CONFIGS=(${TASK[5]})"
TASK_ARGS=("${TASK[@]:6}")
echo "array task ${SLURM_ARRAY_JOB_ID:-local}_${TASK_ID}: line $((TASK_ID + 1)) of $JOB_LIST"
echo "job ${SLURM_JOB_ID:-local} (rus-pol-sentiment-grid) on $(hostname) at $(date -Iseconds); runs: ${TASK_RUN_IDS[*]}"
echo "hyperparameters of its grid point(s):"
cat "${TASK_TEMP_CONFIGS[@]}"
# Threads follow the CPUs Slurm gave this job, not the node's core count.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-8}"
exec '/opt/py env/bin/python' finetune-exp.py "${TASK_ARGS[@]}" --cpus "${SLURM_CPUS_PER_TASK:-8}"
