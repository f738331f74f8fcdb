# The workflow is workflow/Snakefile, where snakedeploy and the Snakemake workflow catalog
# look for it; this file lets `snakemake` run from the repository's top level. Included
# with Snakemake's own `include`, keeping the workflow's default target (rule all).
workflow.include("workflow/Snakefile", overwrite_default_target=True)
