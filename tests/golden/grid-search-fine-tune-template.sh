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
#SBATCH --job-name=rus-pol-sentiment-ipa-polish+russian-to-polish+russian-001
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gpus=1
#SBATCH --time=06:00:00
#SBATCH --output='/srv/ipa finetune/jobs/rus-pol/logs/rus-pol-sentiment-ipa-polish+russian-to-polish+russian-001-%j.out'
# SIGTERM to the batch shell (python, after the exec below) 120 s before the time limit:
# finetune-exp.py then saves a checkpoint at the current step and exits 143; resubmitting resumes.
#SBATCH --signal=B:TERM@120
#SBATCH --partition=gpu
#SBATCH --account=ipa-gpt
#SBATCH --mem=32G
set -euo pipefail
cd '/srv/ipa finetune'
echo "job ${SLURM_JOB_ID:-local} (rus-pol-sentiment-ipa-polish+russian-to-polish+russian-001) on $(hostname) at $(date -Iseconds); runs: <run_id>"
echo "hyperparameters of its grid point(s):"
cat '/srv/ipa finetune/jobs/temp-configs/rus-pol-sentiment-grid-001-93f45bc0.json'
# Threads follow the CPUs Slurm gave this job, not the node's core count.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-8}"
exec '/opt/py env/bin/python' finetune-exp.py <project>/config/finetune-rus-pol-sentiment.json <tmp>/overlay.json '/srv/ipa finetune/jobs/temp-configs/rus-pol-sentiment-grid-001-93f45bc0.json' --model-type ipa --train-langs polish russian --eval-langs polish russian --cpus "${SLURM_CPUS_PER_TASK:-8}"
