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
#SBATCH --job-name={job_name}
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={cpus}
#SBATCH --gpus={gpus}
#SBATCH --time={timeout}
#SBATCH --output={log}
# SIGTERM to the batch shell (python, after the exec below) 120 s before the time limit:
# finetune-exp.py then saves a checkpoint at the current step and exits 143; resubmitting resumes.
#SBATCH --signal=B:TERM@120
{sbatch_options}
{array}
set -euo pipefail
cd {project_dir}
{array_task}
echo "job ${{SLURM_JOB_ID:-local}} ({job_name}) on $(hostname) at $(date -Iseconds); runs: {run_id}"
echo "hyperparameters of its grid point(s):"
cat {temp_config_name}
# Threads follow the CPUs Slurm gave this job, not the node's core count.
export OMP_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-{cpus}}}"
exec {python} finetune-exp.py {args} --cpus "${{SLURM_CPUS_PER_TASK:-{cpus}}}"
