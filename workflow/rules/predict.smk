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
        models=[model_output(m, "model") for m in PLAN.predict_members()],
        metrics=[model_output(m, "metrics") for m in PLAN.predict_candidates()],
        training=rules.training_range.output[0],
    output:
        # update: not deleted before the job, and restored when the job fails
        predictions=update(f"results/predict/{PLAN.predict_id}/predictions.tsv"),
        folder=update(f"results/predict/{PLAN.predict_id}/folder.txt"),
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    params:
        code=code_version(
            "predict.py",
            *(
                c
                for m in PLAN.predict_members()
                for c in registry.code_modules(PLAN.model_of(m))
            ),
        ),
        folder=PLAN.predict_folder,
        # the folder's content: an added or edited image reruns predict
        images=lambda wildcards: predict_fingerprint(),
        model=config["predict"]["model"],
        rescale=config["predict"]["rescale"],
        candidates=PLAN.predict_candidates(),
        models=PLAN.predict_members(),
        members=PLAN.ensemble_members(),
        # model id -> its registry model (wbc.models.<model>)
        registry_models={m: PLAN.model_of(m) for m in PLAN.predict_members()},
        sizes={m: PLAN.settings(m)["image_size"] for m in PLAN.predict_members()},
        crops={m: PLAN.settings(m)["crop"] for m in PLAN.predict_members()},
        window=config["crop"]["window"],
        seed=config["models"]["seed"],
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/predict.py"
