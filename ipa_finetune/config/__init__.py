"""Config files -> one resolved Study: cascading JSON5 (loader), its rules (schema), the language
database (database), and the Study the pipelines read (study)."""
