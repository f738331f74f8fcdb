# What predict compares each new image with: the train split's image sizes, crop sizes and
# cell colours (predictions.tsv's column outside_training; predict.rescale).
rule training_range:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        train=rules.split.output.train,
    output:
        "results/predict/training_range.json",
    log:
        "results/logs/training_range.log",
    benchmark:
        "results/benchmarks/training_range.tsv"
    params:
        code=code_version("training_range.py"),
        seed=config["models"]["seed"],
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/training_range.py"


# `snakemake predict`: classify the images of config key predict.input with a trained model,
# into a results folder of that input folder's own (a run on another folder replaces nothing).
rule predict:
    input:
        models=[model_output(m, "model") for m in predict_members()],
        metrics=[model_output(m, "metrics") for m in predict_candidates()],
        training=rules.training_range.output[0],
    output:
        # update: not deleted before the job, and restored when the job fails
        predictions=update(f"results/predict/{PREDICT_ID}/predictions.tsv"),
        folder=update(f"results/predict/{PREDICT_ID}/folder.txt"),
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    params:
        code=code_version(
            "predict.py",
            *(c for m in predict_members() for c in registry.code_modules(family(m))),
        ),
        folder=PREDICT_FOLDER,
        # the folder's content: an added or edited image reruns predict
        images=lambda wildcards: predict_fingerprint(),
        model=PREDICT["model"],
        rescale=PREDICT["rescale"],
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
