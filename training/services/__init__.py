"""Django glue for the machine learning: the services that read and write rows, called by
the Celery tasks, the API and the management commands."""
