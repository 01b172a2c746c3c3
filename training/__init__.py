"""Machine learning for the product.

The pure modules here (backbones, pipeline, heads, schedule, evaluation, artifacts) import
neither Django nor the database: they take arrays and paths, so that they can be read,
tested and run on a GPU host on their own. The Django glue (Celery tasks and the services
that read and write rows) lives in ``training.tasks`` and ``training.services``.
"""
