from wbc.report import dataset_tables, gallery_selection, plot_dataset, plot_gallery, read_tsv
from wbc.runtime import run_rule


def main():
    manifest, qc = read_tsv(snakemake.input.manifest), read_tsv(snakemake.input.qc)
    splits = {name: read_tsv(snakemake.input[name]) for name in snakemake.params.splits}
    plot_dataset(dataset_tables(manifest, qc, splits), snakemake.output.counts)
    selection = gallery_selection(qc, manifest, snakemake.params.gallery_size)
    plot_gallery(selection, snakemake.params.root, snakemake.output.gallery)


run_rule(main, snakemake.log[0])
