"""The review queue: handing images to reviewers, their decisions, undo and release.

One module per concern: ``queue`` (handing images out), ``cache`` (each process's queue
heads), ``leases`` (holds), ``decisions``, ``undo``, ``conflicts`` (why something is
refused) and ``suggestions`` (what accepting means). Reads of many rows are in
``labelling.selectors``. What pages, the API and tasks call is named here.
"""

from labelling.services.review.cache import review_windows_clear, review_windows_refresh_due
from labelling.services.review.conflicts import NothingToUndo, ReviewConflict
from labelling.services.review.decisions import (
    MAX_DECISIONS,
    Decision,
    image_correct,
    images_label_group,
    review_submit,
)
from labelling.services.review.groups import review_group_label, review_group_next
from labelling.services.review.lasso import MAX_LASSO, LassoOutcome, images_label_lasso
from labelling.services.review.leases import lease_seconds, review_leases_sweep, review_release
from labelling.services.review.queue import MAX_ITEMS, QueueItem, review_next
from labelling.services.review.undo import UndoOutcome, review_undo

__all__ = [
    "MAX_DECISIONS",
    "MAX_ITEMS",
    "MAX_LASSO",
    "Decision",
    "LassoOutcome",
    "NothingToUndo",
    "QueueItem",
    "ReviewConflict",
    "UndoOutcome",
    "image_correct",
    "images_label_group",
    "images_label_lasso",
    "lease_seconds",
    "review_group_label",
    "review_group_next",
    "review_leases_sweep",
    "review_next",
    "review_release",
    "review_submit",
    "review_undo",
    "review_windows_clear",
    "review_windows_refresh_due",
]
