"""Any report section's rule (report_<id>, made from wbc.report.sections.SECTIONS): the
module wbc.report.<id> writes the section from its named inputs, params and outputs."""

from importlib import import_module

from wbc.report.common import render_captions
from wbc.report.sections import SectionJob
from wbc.runtime import run_rule

module = import_module(f"wbc.report.{snakemake.rule.removeprefix('report_')}")
run_rule(lambda: module.section(SectionJob.of(snakemake, render_captions(snakemake))), snakemake)
