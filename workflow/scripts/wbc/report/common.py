"""What the report's sections share: split and model names, figure and table helpers, and
rendering of templates and captions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402

# evaluated splits in display order, and how the report names them (val: by protocol)
SPLIT_NAMES = {
    "val": "val (grouped by source cell)",
    "test": "TEST folder",
    "test_simple": "TEST_SIMPLE folder",
}
VAL_NAMES = {"source_cell": SPLIT_NAMES["val"], "none": "val (random split of TRAIN)"}


def split_names(group_by: str = "source_cell") -> dict[str, str]:
    """The splits' names on every axis and table: val says which protocol made it
    (config key split.group_by)."""
    return {**SPLIT_NAMES, "val": VAL_NAMES[group_by]}


METRIC_COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
ENSEMBLE_TITLE = "ensemble (weighted vote)"

plt.rcParams.update({"figure.dpi": 100, "font.size": 11, "axes.titlesize": 12})


def title(model: str, titles: dict[str, str]) -> str:
    """How the report names a model (its registry title; the ensemble's own)."""
    return ENSEMBLE_TITLE if model == "ensemble" else titles.get(model, model)


def with_interval(value: float, interval) -> str:
    """``0.812 (0.750–0.870)``: a figure and its 95 % interval."""
    lo, hi = interval
    return f"{value:.3f} ({lo:.3f}–{hi:.3f})"


def evaluated_splits(metrics: dict) -> list[str]:
    return [s for s in SPLIT_NAMES if isinstance(metrics.get(s), dict)]


# --- figures ----------------------------------------------------------------------------


def save_figure(fig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def message_figure(path: str | Path, text: str) -> None:
    """A figure that says why there is nothing to draw (Snakemake needs the file)."""
    fig, ax = plt.subplots(figsize=(8, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_figure(fig, path)


# --- HTML -------------------------------------------------------------------------------


def html_table(frame, index: bool = False, float_format="{:.3f}".format) -> str:
    if index:  # the row axis's name goes in the header row, not on a row of its own
        frame = frame.reset_index()
    return frame.to_html(
        index=False, border=0, classes="table", float_format=float_format, na_rep="", escape=True
    )


def render_template(template: str | Path, **context) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(template).parent)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(Path(template).name).render(**context)


def render_caption(caption: str | Path, snakemake) -> str:
    """A figure's caption as HTML, rendered exactly as ``snakemake --report`` renders it
    (Jinja with the rule's ``snakemake`` object, then reStructuredText): one text for both
    reports."""
    import jinja2
    from docutils.core import publish_parts

    text = jinja2.Template(Path(caption).read_text()).render(snakemake=snakemake)
    return publish_parts(text, writer_name="html")["body"]


def render_captions(snakemake) -> dict[str, str]:
    """Every input named ``caption_<name>`` of the rule, rendered: {name: HTML}."""
    return {
        name.removeprefix("caption_"): render_caption(path, snakemake)
        for name, path in snakemake.input.items()
        if name.startswith("caption_")
    }


def write_section(path: str | Path, template: str | Path, **context) -> None:
    """An HTML fragment of the page; its <img> sources are figure paths that the
    assembly inlines: the figures' real names, not the ones this job writes them under."""
    from ..io import atomic_write
    from ..runtime import final_path

    def real_names(value):
        if isinstance(value, dict):
            return {k: real_names(v) for k, v in value.items()}
        return final_path(value) if isinstance(value, str) else value

    with atomic_write(path) as fh:
        fh.write(render_template(template, **real_names(context)))
