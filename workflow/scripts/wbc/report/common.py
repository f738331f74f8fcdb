"""What the report's sections share: split and model names, figure and table helpers, and
rendering of templates and captions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402

from .protocol import Protocol  # noqa: E402
from .sections import anchor, heading  # noqa: E402

# evaluated splits in display order, and how the report names them by default (val and
# cv: by the run's protocol, Protocol.split_names)
SPLIT_NAMES = Protocol().split_names()


def split_names(protocol: Protocol | str = "source_cell") -> dict[str, str]:
    """The splits' names on every axis and table: val and cv say which protocol made
    them (config keys split.group_by, split.folds)."""
    if isinstance(protocol, str):
        protocol = Protocol(group_by=protocol)
    return protocol.split_names()


METRIC_COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
ENSEMBLE_TITLE = "ensemble (weighted vote)"

plt.rcParams.update({"figure.dpi": 100, "font.size": 11, "axes.titlesize": 12})


def title(model: str, titles: dict[str, str]) -> str:
    """How the report names a model (its registry title; the ensemble's own)."""
    return ENSEMBLE_TITLE if model == "ensemble" else titles.get(model, model)


def listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names as a sentence lists them."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
    # a section's number and title, and its anchor, from SECTIONS
    env.globals.update(heading=heading, anchor=anchor)
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
    """An HTML fragment of the page; its <img> sources are the figures' paths as this job
    has them, which the assembly matches to its inputs (wbc.report.assemble.find_figure)."""
    from ..io import atomic_write

    with atomic_write(path) as fh:
        fh.write(render_template(template, **context))
