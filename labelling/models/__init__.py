from labelling.models.audit import AuditAction, AuditEvent
from labelling.models.clients import Client, ClientLabelName, Membership, Role
from labelling.models.health import WorkerHeartbeat
from labelling.models.images import (
    Image,
    ImageHashBand,
    ImageLabel,
    ImageStatus,
    InvalidTransition,
    UploadBatch,
)
from labelling.models.predictions import Prediction
from labelling.models.review_queue import ReviewLease, ReviewSnapshot
from labelling.models.reviews import Review, ReviewDecision
from labelling.models.sectors import Label, Sector, Taxonomy, TaxonomyKind
from labelling.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditAction",
    "AuditEvent",
    "Client",
    "ClientLabelName",
    "Image",
    "ImageHashBand",
    "ImageLabel",
    "ImageStatus",
    "InvalidTransition",
    "Label",
    "Membership",
    "Prediction",
    "Review",
    "ReviewDecision",
    "ReviewLease",
    "ReviewSnapshot",
    "Role",
    "Sector",
    "Taxonomy",
    "TaxonomyKind",
    "UploadBatch",
    "WorkerHeartbeat",
]
