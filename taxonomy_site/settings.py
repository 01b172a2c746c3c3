"""Settings for the taxonomy site: one module, driven by environment variables (a secret may
instead come from the file NAME_FILE names; a value that cannot be read is an error at start).

The embedded defaults (SQLite, a SQLite-backed Celery broker, local media) need no server; set
DATABASE_URL, REDIS_URL and AWS_STORAGE_BUCKET_NAME to run on PostgreSQL, Redis and S3.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from taxonomy_site.env import env_bool, env_float, env_int, env_list, env_str
from training import defaults as training_defaults

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the embedded set-up writes (database, media, broker queue) lives here.
DATA_DIR = Path(env_str("TAXONOMY_DATA_DIR", str(BASE_DIR / "var")))

# The data dir holds the database, the secret key, media and caches: what the product
# writes is readable by its owner only (TAXONOMY_UMASK=027 lets the owner's group read).
UMASK = int(env_str("TAXONOMY_UMASK", "077"), 8)
os.umask(UMASK)
FILE_UPLOAD_PERMISSIONS = 0o666 & ~UMASK
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o777 & ~UMASK


def _own_data_dir() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o777 & ~UMASK)
    try:
        # A data dir made before (or by another tool) with wider modes is closed up too.
        if DATA_DIR.stat().st_uid == os.getuid():
            DATA_DIR.chmod(0o777 & ~UMASK)
    except OSError:
        pass  # a mount we do not own: its owner decides


_own_data_dir()

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY in production; on the embedded set-up, a random key made on first
    start and kept in the data dir (readable by its owner only), never a shared default."""
    if "DJANGO_SECRET_KEY" in os.environ:
        key = os.environ["DJANGO_SECRET_KEY"].strip()
        if not key:
            # Set but empty is a mistake in the deployment, not a request for the default.
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is set but empty: give it a value, or unset it to use "
                "the key generated in the data directory."
            )
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        import secrets

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it or set DJANGO_SECRET_KEY.")
    return key


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- HTTPS ----------------------------------------------------------------------------
# Secure by default once DEBUG is off: redirect to https, HSTS, cookies sent over https
# only. DJANGO_HTTPS=0 turns all of it off (plain http, e.g. `make run` on localhost).
# Behind a TLS-terminating proxy, name the header it sets, e.g.
# DJANGO_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO (its value must be "https").
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
_proxy_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER").strip()
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", HTTPS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app (no CDN)
    "labelling",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF's check, which parses form bodies.
    "labelling.middleware.RequestSizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "labelling.middleware.CurrentClientMiddleware",
]

ROOT_URLCONF = "taxonomy_site.urls"
WSGI_APPLICATION = "taxonomy_site.wsgi.application"
ASGI_APPLICATION = "taxonomy_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "labelling.context_processors.current_client",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Keep connections: the last connection to close a WAL database checkpoints it,
            # which a lone request would otherwise pay for every time.
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                # A web process and a worker write at once: WAL lets readers go on while one
                # writes, IMMEDIATE makes writers queue for the lock instead of failing with
                # "database is locked" when a read transaction upgrades, and the timeout is
                # how long they queue.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Mail (password reset): SMTP when EMAIL_HOST is set, else each message is written as a file
# in the data dir's mail/ folder, for an admin to pass on.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail")))
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "taxonomy@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
# Front-end libraries come from npm (package.json) and are served by the app: no CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("uppy", BASE_DIR / "node_modules" / "uppy" / "dist"),
    # The embedding map's WebGL scatter plot, and the two libraries its build imports.
    ("regl-scatterplot", BASE_DIR / "node_modules" / "regl-scatterplot" / "dist"),
    ("regl", BASE_DIR / "node_modules" / "regl" / "dist"),
    ("pub-sub-es", BASE_DIR / "node_modules" / "pub-sub-es" / "dist"),
]
# Without collectstatic (development, tests) WhiteNoise serves straight from the finders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")


def s3_storage(bucket: str, *, endpoint_url: str | None, region_name: str | None, **extra) -> dict:
    """The S3-compatible storage of media and model artifacts (MinIO in the compose file;
    tests/test_object_storage.py runs it against a real S3 server). Media is never public:
    the app serves it after a permission check, so objects stay private. Credentials come
    from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or ``extra``)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region_name or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            **extra,
        },
    }


if AWS_STORAGE_BUCKET_NAME:
    default_storage = s3_storage(
        AWS_STORAGE_BUCKET_NAME,
        endpoint_url=env_str("AWS_S3_ENDPOINT_URL"),
        region_name=env_str("AWS_S3_REGION_NAME"),
    )
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {
        "BACKEND": "taxonomy_site.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Images: limits applied by the upload service.
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000)
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
# Memory one image may take while it is decoded, whatever its compressed size (a 2 KB
# WebP can claim 7000 × 7000): an 8-bit PNG or TIFF up to the pixel cap, a 16-bit RGBA one
# of 33 megapixels, a WebP of 16, any JPEG under the pixel cap (decoded at a fraction of
# its scale). Per image being checked: a process checking N at once needs N times it.
# See image_validation.decoded_bytes.
MAX_DECODED_BYTES = env_int("MAX_DECODED_BYTES", 256 * 1024 * 1024)
# Request bodies, refused with a 413 before they are read (RequestSizeLimitMiddleware):
# JSON and forms are small; a request carrying files (the batch files and predict
# endpoints) may hold a few full-size images, and at most DATA_UPLOAD_MAX_NUMBER_FILES files
# (Django stops parsing at the next one).
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 1024 * 1024)
MAX_UPLOAD_REQUEST_BYTES = env_int("MAX_UPLOAD_REQUEST_BYTES", 2 * MAX_UPLOAD_BYTES)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES  # the form fields beside the files
DATA_UPLOAD_MAX_NUMBER_FILES = 20

# Model artifacts and backbone caches (under the data dir, or the bucket on S3).
MODEL_CACHE_DIR = Path(env_str("TAXONOMY_MODEL_CACHE", str(DATA_DIR / "model-cache")))
# The backbone converters (pure ML code, no Django) read their cache folder from here.
os.environ.setdefault("TAXONOMY_MODEL_CACHE", str(MODEL_CACHE_DIR))
INCEPTION_V3_WEIGHTS = env_str("INCEPTION_V3_WEIGHTS")
# What a new install trains comes from training.defaults, which the comparison protocol
# reads too (bench/protocol.py), so that it measures what users get.
DEFAULT_BACKBONE = env_str(training_defaults.BACKBONE_ENV, "").strip() or (
    training_defaults.DEFAULT_BACKBONE
)
# 0 = each backbone's own input size; a smaller one trades accuracy for speed (tests use it).
BACKBONE_INPUT_SIZE = env_int(training_defaults.INPUT_SIZE_ENV, 0)
PREDICTION_TOP_N = env_int("PREDICTION_TOP_N", 5)

# --- Celery ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# With acks_late a message is handed out again when its worker has not acked it within this
# window; it must outlast the longest training run or a run would start twice. A worker
# whose task child dies rejects the task at once (task_reject_on_worker_lost), so this
# window only matters when a whole worker is lost.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)
BROKER_DB = DATA_DIR / "broker.sqlite3"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
else:
    # Kombu's SQLAlchemy transport on a SQLite file of its own, made safe by
    # taxonomy_site.broker (a failed write raises, lost workers' messages come back, acked
    # rows are deleted): no server needed, no message lost (bench/broker.py).
    CELERY_BROKER_URL = f"sqlitebroker+sqlite:///{BROKER_DB}"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "busy_timeout": env_float("CELERY_BROKER_BUSY_TIMEOUT", 30),
        # How long an idle worker sleeps between looks at the queue (kombu's default: 1 s),
        # which is the delay before a new upload starts ingesting. A look is one indexed read.
        "polling_interval": env_float("CELERY_BROKER_POLLING_INTERVAL", 0.1),
    }
CELERY_TASK_IGNORE_RESULT = True  # outcomes are stored on rows, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# How long the pool waits for a dead child's last result before calling its task lost (and
# handing the message back); Celery's default, settable so a test need not sit through it.
CELERY_WORKER_LOST_WAIT = env_float("CELERY_WORKER_LOST_WAIT", 10.0)
# On Redis a worker reserves one task at a time, so a long one never holds others back. On
# the embedded broker (a polling transport) Celery runs its blocking loop, which acknowledges
# a finished task only between waits of up to 2 s for the next message: reserving one at a
# time, the worker idled those 2 s after every ingest task (5 images/s end to end where Redis
# made 38, measured on the filesystem broker). Reserving 8 keeps it busy (39 images/s;
# bench/end_to_end.py).
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int(
    "CELERY_WORKER_PREFETCH_MULTIPLIER", 1 if REDIS_URL else 8
)
CELERY_TASK_DEFAULT_QUEUE = "ingest"
# Every task names its queue (queue=...): ingest for per-image work, training for runs.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 30)
# Images left in processing this long (a worker killed mid-task) are queued again.
INGEST_STUCK_AFTER_MINUTES = env_int("INGEST_STUCK_AFTER_MINUTES", 30)
# The review queue. A reviewer's hold on an image lasts this long without a call to next
# (each call renews it); an expired hold stays theirs until someone else claims the image.
REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 300)
# Each web process reuses a queue's head (its first free images, in order) this long before
# ordering the whole queue again: ordering ten thousand images takes tens of milliseconds.
REVIEW_QUEUE_WINDOW_SECONDS = env_float("REVIEW_QUEUE_WINDOW_SECONDS", 5.0)
# Suggestions shown per image in the queue: keys 1-9, then 0, pick one.
REVIEW_TOP_N = env_int("REVIEW_TOP_N", 10)
# A prediction job with images still unanswered and no new answer for this long lost its
# message; it is queued again, for this many hours after it was asked.
PREDICTION_JOB_STALE_AFTER_MINUTES = env_int("PREDICTION_JOB_STALE_AFTER_MINUTES", 15)
PREDICTION_JOB_RETRY_HOURS = env_int("PREDICTION_JOB_RETRY_HOURS", 24)
# A training run with no progress (no finished epoch) for this long lost its worker.
TRAINING_STALE_AFTER_MINUTES = env_int("TRAINING_STALE_AFTER_MINUTES", 90)
# A new active version predicts the images waiting for people in batches this small, each
# queueing the next, so that new uploads are never stuck behind the whole library.
BACKFILL_BATCH_SIZE = env_int("BACKFILL_BATCH_SIZE", 32)
# A taxonomy retrains by itself after this many newly verified images (admins change it per
# taxonomy on the models page), and trains its first model once every label has this many.
RETRAIN_AFTER_VERIFIED = env_int("RETRAIN_AFTER_VERIFIED", 50)
FIRST_MODEL_MIN_PER_LABEL = env_int("FIRST_MODEL_MIN_PER_LABEL", 5)
# A head run also trains this many heads, each on all but one fold of the verified images,
# to choose the auto-accept thresholds on every image scored out of fold (0: the
# validation split only, no extra heads).
AUTO_ACCEPT_FOLDS = env_int("AUTO_ACCEPT_FOLDS", 5)
# After each head run the training queue audits the verified labels with the new model
# (training.services.label_audit); off, audits run only when an admin asks.
LABEL_AUDIT_AFTER_TRAINING = env_bool("LABEL_AUDIT_AFTER_TRAINING", True)
# The embedding map's t-SNE: "opentsne" (the default where it is installed) or "sklearn";
# and the threads it may use on the training worker (bench/map.py measures both). One by
# default: on cores other processes also use, OpenMP threads waiting at barriers cost far
# more than a second thread saves; raise it where the training worker has cores to itself.
EMBEDDING_MAP_METHOD = env_str("EMBEDDING_MAP_METHOD", "")
EMBEDDING_MAP_JOBS = env_int("EMBEDDING_MAP_JOBS", 1)
# Before a taxonomy has any model, ingestion still embeds each image (with the default
# backbone), so that the review queue can offer diverse picks and groups of similar images.
COLD_START_EMBED = env_bool("TAXONOMY_COLD_START_EMBED", True)
# Pages tell librarians and admins when no worker was seen for this long, or when images
# waited this long to be processed; the answer is cached this many seconds.
PIPELINE_WORKER_SILENT_MINUTES = env_int("PIPELINE_WORKER_SILENT_MINUTES", 5)
PIPELINE_WAIT_MINUTES = env_int("PIPELINE_WAIT_MINUTES", 10)
PIPELINE_NOTICE_CACHE_SECONDS = env_int("PIPELINE_NOTICE_CACHE_SECONDS", 30)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "labelling.worker_heartbeat",
        "schedule": CELERY_WORKER_HEARTBEAT_SECONDS,
    },
    "sweep-stuck-images": {"task": "labelling.sweep_stuck_images", "schedule": 300},
    "sweep-stale-training-runs": {"task": "training.sweep_stale_runs", "schedule": 300},
    "check-retraining-policies": {"task": "training.check_retraining_policies", "schedule": 600},
    "resume-backfills": {"task": "training.resume_backfills", "schedule": 900},
    "requeue-stalled-prediction-jobs": {
        "task": "training.requeue_stalled_prediction_jobs",
        "schedule": 300,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Cache and throttling -------------------------------------------------------------
# Throttle counters live in the cache: Redis when REDIS_URL is set (shared by every web
# process and host), else files in the data dir (shared by the processes of one host).
CACHE_URL = env_str("CACHE_URL", REDIS_URL)
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "taxonomy",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
            # Past MAX_ENTRIES the file cache deletes a third of its entries at random,
            # throttle counters included; Django's 300 would let a busy site's counters go.
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }


def _rate(name: str, default: str) -> str | None:
    # "10/min", "100/hour", ...; "off" (or "none") lifts the limit.
    value = env_str(f"THROTTLE_{name.upper()}", default).strip()
    return None if value.lower() in {"off", "none", "0"} else value


THROTTLE_RATES = {
    # Login form POSTs, per client address and per user name (pages and admin).
    "login": _rate("login", "10/min"),
    # API requests with a wrong or expired token, per client address.
    "token": _rate("token", "20/min"),
    "upload": _rate("upload", "600/min"),
    "training": _rate("training", "10/hour"),
    "prediction": _rate("prediction", "120/min"),
    "anon": _rate("anon", "120/min"),
    "user": _rate("user", "2000/min"),
}

# --- API ------------------------------------------------------------------------------
# API tokens (the tokens page, `manage.py create_api_token`): days a new one lasts by
# default, and at most.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labelling.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "labelling.api.input.LimitOffsetPagination",
    # JSON bodies are objects (labelling/api/input.py); forms and files as DRF takes them.
    "DEFAULT_PARSER_CLASSES": [
        "labelling.api.input.ObjectJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [],
    # Every caller is limited (per user, or per address when anonymous); uploads, training
    # runs and predictions have their own scope on their views (labelling/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "labelling.throttling.WriteScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    # Django ValidationErrors raised by services become 400s, never 500s.
    "EXCEPTION_HANDLER": "labelling.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Taxonomy tagging API",
    "DESCRIPTION": "Sectors, taxonomies, clients, images, batches, predictions and reviews.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "labelling.api.schema.document_error_responses",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ImageStatusEnum": "labelling.models.ImageStatus"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
