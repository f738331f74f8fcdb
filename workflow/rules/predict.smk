# `snakemake predict`: classify the images of config key predict.input with a trained model,
# into a results folder of that input folder's own (a run on another folder replaces nothing).
rule predict:
    input:
        images=lambda wildcards: predict_files()[0],
        models=[model_output(m, "model") for m in predict_members()],
        metrics=[model_output(m, "metrics") for m in predict_candidates()],
        code=code("predict.py", *(f"wbc.models.{family(m)}" for m in predict_members())),
    output:
        # update: not deleted before the job, and restored when the job fails
        predictions=update(f"results/predict/{PREDICT_ID}/predictions.tsv"),
        folder=update(f"results/predict/{PREDICT_ID}/folder.txt"),
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    params:
        folder=PREDICT_FOLDER,
        untracked=lambda wildcards: predict_files()[1],
        model=PREDICT["model"],
        candidates=predict_candidates(),
        models=predict_members(),
        members=ensemble_members(),
        families={m: family(m) for m in predict_members()},
        sizes={m: settings(m)["image_size"] for m in predict_members()},
        crops={m: settings(m)["crop"] for m in predict_members()},
        window=config["crop"]["window"],
        seed=config["models"]["seed"],
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/predict.py"
