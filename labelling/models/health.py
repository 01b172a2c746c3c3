from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a periodic task, so the health page can tell that a worker (and beat)
    really run, whatever the broker."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.hostname
