"""Finished runs -> tables -> Markdown, CSV and figures, plus job status: what collect-results.py
does. collect reads results.json files; tables computes; markdown, plots and status present."""
