"""The model pages of a client's admins: the versions of their sector's taxonomy, one
version in detail, two side by side; train, activate, roll back, move the auto-accept target.

Pages live under /clients/<slug>/models/ and resolve the client through
``client_for_admin_or_maintainer``: the sector's maintainers (site staff, or its listed
maintainers) need not be members; anyone else who is not a member gets a 404, a member of
another role than admin a 403. Its admins manage
the sector's models (every client of a sector shares them); a version or run of another
taxonomy is a 404 whoever asks. The old /models/... addresses redirect to the current
client's (``legacy_redirect``).

Training runs on the training queue; the list page polls ``run_progress`` for its progress
bar. Activating, rolling back and comparing load no model here: the services read the
artifact's checksum and the gold answers workers stored before the pointer moves.
"""

from training.views.client_settings import set_consent, set_retraining, set_target
from training.views.dashboard import (
    curve_points,
    legacy_redirect,
    models_list,
    run_progress,
    run_state,
    train,
)
from training.views.versions import (
    activate,
    compare,
    evaluate,
    gold_head_to_head,
    rollback,
    version_detail,
)

__all__ = [
    "activate",
    "compare",
    "curve_points",
    "evaluate",
    "gold_head_to_head",
    "legacy_redirect",
    "models_list",
    "rollback",
    "run_progress",
    "run_state",
    "set_consent",
    "set_retraining",
    "set_target",
    "train",
    "version_detail",
]
