"""The report's sections, in page order: one list that the sections' rules, the report
rule's inputs, the page's navigation, the section numbers and the assembly order all come
from. A new section is a module (``wbc.report.<id>``, with ``section(job)``), a template
(``workflow/report/sections/<id>.html.j2``), a caption (``workflow/report/<name>.rst``)
and one entry here: ``workflow/rules/report.smk`` makes its rule ``report_<id>``.

An entry names what its section reads (``inputs``: files the run makes, resolved by
``section_inputs`` in ``workflow/rules/inputs.smk``), the run plan's values it needs
(``params``: ``section_params``) and what it writes (``figures``, ``tables``); the rule
hands them to the module as mappings of names (``SectionJob``).

Standard library only: the Snakefile reads it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Output:
    """A figure or table a section writes: its file (a figure's under
    ``results/report/figures/[<model>/]``), and the caption (``workflow/report/<caption>``)
    that the fragment shows and, with ``reported``, ``snakemake --report`` too."""

    file: str
    caption: str | None = None
    reported: bool = True


@dataclass(frozen=True)
class Section:
    id: str  # the rule report_<id>, the module, template and fragment's name, the anchor
    title: str
    inputs: tuple[str, ...] = ()  # names of files the run makes (inputs.smk: section_inputs)
    params: tuple[str, ...] = ()  # names of the run plan's values (inputs.smk: section_params)
    figures: dict[str, Output] = field(default_factory=dict, hash=False)
    tables: dict[str, Output] = field(default_factory=dict, hash=False)  # file: a path
    # captions of figures other rules make that the fragment shows: name -> caption file
    captions: dict[str, str] = field(default_factory=dict, hash=False)
    numbered: bool = True  # the headline is not
    per_model: bool = False  # one fragment per reported model (wildcard {model})
    threads: int = 1

    @property
    def anchor(self) -> str:
        """The page anchor: the id with dashes; per-model sections gather under <id>s."""
        return self.id.replace("_", "-") + ("s" if self.per_model else "")

    @property
    def category(self) -> str:
        """Its figures' category in ``snakemake --report``: ``2. Comparison``."""
        return f"{numbers()[self.id] or 0}. {self.title}"

    def fragment(self) -> str:
        if self.per_model:
            return f"results/report/sections/{self.id}/{{model}}.html"
        return f"results/report/sections/{self.id}.html"

    def figure_path(self, name: str) -> str:
        folder = "results/report/figures/{model}" if self.per_model else "results/report/figures"
        return f"{folder}/{self.figures[name].file}"

    def outputs(self) -> dict[str, tuple[str, Output]]:
        """name -> (path, what it is) of its figures and tables."""
        figures = {n: (self.figure_path(n), o) for n, o in self.figures.items()}
        return figures | {n: (o.file, o) for n, o in self.tables.items()}

    def report_place(self) -> dict[str, str | None]:
        """Where its figures go in ``snakemake --report``: under its heading, by model."""
        return {"category": self.category, "subcategory": "{model}" if self.per_model else None}

    def files(self, pattern: str, model_ids) -> str | list[str]:
        """A pattern in {model}: for a per-model section, one file per model id."""
        return [pattern.format(model=m) for m in model_ids] if self.per_model else pattern

    def figure_files(self, model_id: str | None) -> list[str]:
        """Its figures (of ``model_id``, for a per-model section)."""
        return [self.figure_path(n).format(model=model_id) for n in self.figures]

    def job_file(self, kind: str) -> str:
        """Its log or benchmark file (``kind``: logs, benchmarks)."""
        suffix = "log" if kind == "logs" else "tsv"
        name = f"report_{self.id}/{{model}}" if self.per_model else f"report_{self.id}"
        return f"results/{kind}/{name}.{suffix}"

    def caption_files(self) -> dict[str, str]:
        """name -> caption file of every caption its fragment shows."""
        made = {n: o.caption for n, o in (*self.figures.items(), *self.tables.items())}
        return {n: c for n, c in {**made, **self.captions}.items() if c}


@dataclass
class SectionJob:
    """What a section's module gets: its named inputs (a path, or a list of them), the run
    plan's values it asked for, its outputs, its rendered captions (name -> HTML), its
    template, and for a per-model section the model id."""

    input: dict
    params: dict
    output: dict
    captions: dict
    template: str
    model: str | None = None

    @classmethod
    def of(cls, snakemake, captions: dict) -> SectionJob:
        def plain(value):
            return value if isinstance(value, str) else [str(v) for v in value]

        return cls(
            input={k: plain(v) for k, v in snakemake.input.items() if k != "template"},
            params=dict(snakemake.params.items()),
            output={k: str(v) for k, v in snakemake.output.items()},
            captions=captions,
            template=snakemake.input.template,
            model=snakemake.wildcards.get("model"),
        )


# the run facts come last: they describe the jobs of the sections before them
SECTIONS = (
    Section(
        "headline",
        "Headline",
        inputs=("comparison_table", "comparison_pairs", "comparison_seeds", "leaks"),
        params=("titles", "reference", "protocol"),
        figures={"figure": Output("headline.png", "headline.rst")},
        numbered=False,
    ),
    Section(
        "dataset",
        "Dataset",
        inputs=("manifest", "qc", "splits", "groups", "integrity"),
        params=("split_names", "root", "source", "protocol", "crop_method"),
        figures={
            "counts": Output("dataset.png", "dataset.rst"),
            "gallery": Output("crop_gallery.png", "crop_gallery.rst"),
        },
    ),
    Section(
        "comparison",
        "Comparison",
        inputs=("metrics", "predictions"),
        params=("reported_models", "titles", "reference", "disabled", "protocol"),
        figures={"chart": Output("comparison.png", "comparison.rst")},
        tables={
            "table": Output("results/report/metrics.tsv", "metrics_table.rst"),
            "pairs": Output("results/report/comparisons.tsv", "comparisons_table.rst"),
            "seeds": Output("results/report/seeds.tsv", reported=False),
        },
    ),
    Section(
        "model",
        "Per model",
        # training, saliency: a Keras model's curves and maps (rules report_training and
        # report_saliency), absent for the others
        inputs=("metrics", "predictions", "training", "saliency", "splits"),
        params=("titles", "protocol", "root"),
        figures={
            "confusion": Output("confusion_matrices.png", "confusion_matrices.rst"),
            "roc": Output("roc_curves.png", "roc_curves.rst"),
            "reliability": Output("reliability.png", "reliability.rst"),
            "errors": Output("errors.png", "errors.rst"),
            "margins": Output("narrow_margins.png", reported=False),
            "saliency": Output("saliency.png", "saliency.rst", reported=False),
        },
        tables={"error_table": Output("results/report/errors/{model}.tsv", reported=False)},
        captions={"training": "training_curves.rst"},
        per_model=True,
    ),
    Section(
        "protocols",
        "What the protocols mean",
        inputs=("splits",),
        params=("split_names", "protocol"),
    ),
    Section(
        "run_facts",
        "Run facts",
        inputs=("benchmarks", "config", "trained_metrics"),
        params=("model_ids", "snakemake_version", "stages"),
    ),
)


def section(section_id: str) -> Section:
    return next(s for s in SECTIONS if s.id == section_id)


def numbers() -> dict[str, str]:
    """Section id -> its number on the page ('' for the headline)."""
    out, k = {}, 0
    for s in SECTIONS:
        if s.numbered:
            k += 1
        out[s.id] = str(k) if s.numbered else ""
    return out


def heading(section_id: str) -> str:
    """``2. Comparison``: the <h2> and the navigation say the same."""
    number = numbers()[section_id]
    title = section(section_id).title
    return f"{number}. {title}" if number else title


def anchor(section_id: str) -> str:
    return section(section_id).anchor
