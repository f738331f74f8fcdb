import gc
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate

# Python's cyclic garbage collector walks every tracked object in each full collection and
# once more as the process exits; the ~130 k objects of Snakemake's imports live as long as
# the process. Frozen, they are skipped: a dry run of the 12.5 k archive takes 0.90 s
# instead of 1.07 s, most of it saved at exit. Objects made later are collected as before.
gc.freeze()

# The run's set-up: the package on sys.path, the config validated, the run plan (PLAN:
# every list that follows from the config alone, wbc.plan, unit-tested without
# Snakemake), the start and error hooks, code versions. Input functions: inputs.smk.


def scripts_folder():
    """The folder of the rule scripts and their package ``wbc``, and whether it is a local
    checkout. A module from a git host is read through Snakemake's source cache, which
    copies each file on first use: the package's files (``wbc/FILES``) are copied now.
    """
    scripts = workflow.current_basedir.join("../scripts")
    if isinstance(scripts, LocalSourceFile):
        return Path(scripts.get_path_or_uri(secret_free=True)).resolve(), True
    listing = workflow.sourcecache.open(scripts.join("wbc/FILES")).read().splitlines()
    for name in (line for line in listing if line and not line.startswith("#")):
        workflow.sourcecache.get_path(scripts.join(f"wbc/{name}"))
    init = workflow.sourcecache.get_path(scripts.join("wbc/__init__.py"))
    return Path(init).parents[1], False


SCRIPTS, LOCAL_CHECKOUT = scripts_folder()
sys.path.insert(0, str(SCRIPTS))
from wbc import SPLITS
from wbc import models as registry
from wbc.imports import code_version as _code_version, use_cache_file
from wbc.plan import PlanError, RunPlan, fold_outputs, id_pattern, model_outputs
from wbc.preflight import offline_problems
from wbc.runtime import RECAP as ERROR_RECAP, error_recap
from wbc.report.sections import SECTIONS
from wbc.settings import config_schema, typed_from_command_line


def plain_dicts(value):
    if isinstance(value, dict):
        return {key: plain_dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_dicts(item) for item in value]
    return value


def validate_config(config):
    """Snakemake's schema validation (fills defaults), its error cut to one line. The
    schema, the file plus the registry's model blocks (wbc.settings), goes to a temporary
    file: ``validate`` reads schemas from files. libyaml's loader and a JSON file, which
    ``validate`` reads without YAML, save ~0.04 s of every Snakemake call."""
    base = yaml.load(
        workflow.sourcecache.open(
            workflow.current_basedir.join("../schemas/config.schema.yaml")
        ).read(),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )
    full = config_schema(base)
    config.update(typed_from_command_line(config, full))
    with tempfile.TemporaryDirectory() as folder:
        schema = Path(folder) / "config.schema.json"
        schema.write_text(json.dumps(full))
        try:
            validate(config, schema=str(schema))
            # the defaults it filled are the JSON schema's OrderedDicts: plain dicts, as
            # YAML's, so that the config's dump (config_used) can write them
            config.update(plain_dicts(config))
        except WorkflowError as err:
            detail = err.__context__  # the jsonschema ValidationError validate() caught
            if not hasattr(detail, "absolute_path"):
                raise
            where = ".".join(str(p) for p in detail.absolute_path) or "(top level)"
            raise WorkflowError(
                f"config key '{where}': {detail.message} "
                "(see workflow/schemas/config.schema.yaml)"
            ) from None


validate_config(config)
try:
    PLAN = RunPlan(config)
except PlanError as err:
    raise WorkflowError(str(err)) from None
SOURCE = PLAN.source


onstart:
    # before any job starts: one line per download this run needs and cannot make
    jobs = list(workflow.dag.needrun_jobs())
    problems = offline_problems(
        {job.rule.name for job in jobs},
        SOURCE.value if SOURCE.kind == "kaggle" else None,
        # the models whose backbone weights a job fetches
        [
            registry.backbone_weights()[job.wildcards.weights_file]
            for job in jobs
            if job.rule.name == "backbone_weights"
        ],
    )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    error_recap()  # none left from an earlier run
    os.environ[ERROR_RECAP] = "1"


onerror:
    for line in error_recap():
        print(f"ERROR {line}", file=sys.stderr)


# each package file's digest and imports, kept by size and mtime: parsed only when edited
use_cache_file(Path(".snakemake", "wbc-code-versions.json").resolve())


def code_version(script, *modules):
    """The params entry ``code``: a hash of the normalised source of the script, the package
    modules it imports and ``modules`` it loads by name (wbc.imports.code_version)."""
    if not LOCAL_CHECKOUT:  # a module from a git host: its script, copied on first use
        workflow.sourcecache.get_path(
            workflow.current_basedir.join(f"../scripts/{script}")
        )
    return _code_version(SCRIPTS / script, modules)
