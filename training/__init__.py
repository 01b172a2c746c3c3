"""Machine learning for the product.

The pure modules here (named in PURE_MODULES: backbones, pipeline, heads, schedule,
evaluation, artifacts, ...) import neither Django nor the database: they take arrays and
paths, so that they can be read, tested and run on a GPU host on their own. The Django glue
(Celery tasks, the services that read and write rows, the models each worker process holds)
lives beside them in ``training.tasks``, ``training.services``, ``training.runtime`` and
``training.embedding_store``, and imports them; never the other way round.
"""

# Checked by a test: importing all of these loads no Django module.
PURE_MODULES = (
    "training.artifacts",
    "training.backbones",
    "training.backbones.base",
    "training.backbones.efficientnet_lite",
    "training.backbones.efficientnet_lite.network",
    "training.backbones.efficientnet_lite.weights",
    "training.backbones.inception_v3",
    "training.backbones.preprocess",
    "training.backbones.torch_pickle",
    "training.backbones.wrapper",
    "training.calibration",
    "training.defaults",
    "training.diversity",
    "training.evaluation",
    "training.finetune",
    "training.head_training",
    "training.heads",
    "training.inference",
    "training.multi_label",
    "training.new_label_clusters",
    "training.noise",
    "training.pipeline",
    "training.projection",
    "training.schedule",
    "training.splits",
)
