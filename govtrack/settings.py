"""govtrack settings, read from the environment.

With no variables set the app runs embedded: SQLite under var/, Celery tasks run
eagerly in-process, DEBUG on. Setting DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS and DEBUG=0 gives the production shape (see docs/operations.md).
"""

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GOVTRACK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG", default=True)
# The embedded default key is for a laptop only; production refuses to start without one.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "embedded-insecure-key-for-local-use-only"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "apps.core.admin_site.SupportAdminConfig",  # django.contrib.admin, as a support window for platform staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.core",
    "apps.tenancy",
    "apps.audit",
    "apps.webhooks",
    "apps.funding",
    "apps.compliance",
    "apps.risks",
    "apps.compute",
    "apps.dashboard",
]

MIDDLEWARE = [
    "apps.core.metrics.RequestMetricsMiddleware",  # first, so its time covers every other middleware
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.throttling.RateLimitHeadersMiddleware",
    "apps.core.middleware.ApiErrorBodyMiddleware",
    "apps.core.middleware.NulQueryParameterMiddleware",
    "apps.core.middleware.DeprecatedApiPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.idempotency.IdempotencyKeyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "govtrack.urls"
WSGI_APPLICATION = "govtrack.wsgi.application"
ASGI_APPLICATION = "govtrack.asgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    # Behind PgBouncer in transaction mode a server-side cursor would outlive the server connection it was opened
    # on (deploy/k8s runs PgBouncer so; docs/operations.md): DB_PGBOUNCER_TRANSACTION_MODE=1 turns them off.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_PGBOUNCER_TRANSACTION_MODE", False)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "govtrack.sqlite3",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenancy.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise looks here even before collectstatic
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production shape) ---------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Probes from the orchestrator reach the pod over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenancy.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.tenancy.authentication.ApiTokenScopeAllows",
        "apps.core.strict.KnownQueryParameters",  # an unknown query parameter on a GET is a 400 naming it
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "apps.core.ordering.StableOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    # JSON in: one request media type per operation. The upload actions (evidence, imports) name MultiPartParser.
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.BoundedJSONParser"],
    # Per IP (anonymous), per user (all of a user's requests) and per API token; see apps/core/throttling.py.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.AnonymousIpThrottle",
        "apps.core.throttling.UserThrottle",
        "apps.core.throttling.ApiTokenThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("API_THROTTLE_USER", "600/min"),
        "token": os.environ.get("API_THROTTLE_TOKEN", "200/min"),
    },
    # Proxies in front of the app that append to X-Forwarded-For; 0: the peer address is the client's.
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_MAX_PAGE_SIZE = 200
# The unversioned /api/ paths (aliases of /api/v1/) answer until this date, with Deprecation and Sunset headers.
API_UNVERSIONED_SUNSET = date.fromisoformat(os.environ.get("API_UNVERSIONED_SUNSET", "2027-06-30"))
# Input limits (docs/security.md): a JSON body nested deeper than this is a 400; a body larger than
# DATA_UPLOAD_MAX_MEMORY_SIZE (Django's, 2.5 MiB by default) a 413. The ingest API has its own size limit.
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 64)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2621440)
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)

# --- Abuse limits and tenancy rules -------------------------------------------------------
# The cache holds the API's rate counters: Redis when there is one, so the limits hold across gunicorn workers.
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "govtrack"),
            # A slow or dead Redis costs a request at most this long; the throttles then let it through.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "govtrack"}}
# Sign-in lockout (django-axes): this many wrong passwords for one username from one address lock that pair.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGNIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Refused attempts during a lockout do not extend it, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "apps.tenancy.signin.signin_locked_out"
AXES_CLIENT_IP_CALLABLE = "apps.core.throttling.client_ip"
AXES_ENABLE_ADMIN = False  # the admin is read-only; a lockout ends by itself (or `manage.py axes_reset_username`)
AXES_VERBOSE = False  # no start-up banner; failures and lockouts are still logged
# Two-factor sign-in (django-otp's TOTP devices): the code step after the password, recovery codes, and the
# organization policy that sends members without it to set it up (apps.identity).
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "apps.identity"]
MIDDLEWARE.append("apps.identity.middleware.TwoFactorRequiredMiddleware")
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "govtrack")  # the name authenticator apps show
# OpenID Connect sign-in (mozilla-django-oidc), on when OIDC_RP_CLIENT_ID is set. The provider's endpoints are
# the operator's (its discovery document lists them); the first sign-in makes an account with no membership.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_REDIRECT_REQUIRE_HTTPS = not DEBUG
AUTHENTICATION_BACKENDS.append("apps.identity.oidc.ProviderBackend")
# A password reset link works once, and for this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = 3600 * env_int("PASSWORD_RESET_HOURS", 24)
# Who may create an organization: "staff" (platform staff only) or "anyone" signed in (the embedded default).
ORGANIZATION_CREATE = os.environ.get("ORGANIZATION_CREATE", "anyone" if DEBUG else "staff")
if ORGANIZATION_CREATE not in {"staff", "anyone"}:
    raise RuntimeError("ORGANIZATION_CREATE must be 'staff' or 'anyone'")
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)

SPECTACULAR_SETTINGS = {
    "TITLE": "govtrack API",
    "DESCRIPTION": (
        "Grants, investments, milestones, escrow, compute evidence, privacy audits and risks. "
        "Every path is under /api/v1/; the unversioned /api/ paths are deprecated aliases (Sunset header). "
        'Authenticate with `Authorization: Bearer <token>` (docs/api.md, "First token"). '
        'Errors share one shape: `{"message": str, "extra": {"fields": {field: [str]}}}`.'
    ),
    # The major number is the path's version (/api/v1/); docs/api.md, "Versions and deprecation".
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["apps.core.openapi.current_version_only"],
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Shared enum components first, then the API-wide rules of apps/core/openapi.py (errors, headers, media types).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.core.openapi.postprocess"],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.tenancy.models.Role",
        "FunderKindEnum": "apps.funding.models.FunderKind",
        "RequirementKindEnum": "apps.funding.models.RequirementKind",
        "CriterionKindEnum": "apps.funding.models.CriterionKind",
        "DisbursementKindEnum": "apps.funding.models.DisbursementKind",
        "GrantStatusEnum": "apps.funding.models.GrantStatus",
        "GrantReportStatusEnum": "apps.funding.models.GrantReportStatus",
        "RequirementStatusEnum": "apps.funding.models.RequirementStatus",
        "InvestmentStatusEnum": "apps.funding.models.InvestmentStatus",
        "MilestoneStatusEnum": "apps.funding.models.MilestoneStatus",
        "CriterionStatusEnum": "apps.funding.models.CriterionStatus",
        "DeliveryStatusEnum": "apps.webhooks.models.DeliveryStatus",
        "WebhookEventEnum": "apps.webhooks.models.WebhookEvent",
        "ApproverKindEnum": "apps.escrow.models.ApproverKind",
    },
}

# --- Celery -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Embedded default: no broker, so tasks run in the calling process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks are idempotent by rule, so a task is acknowledged only once it has run:
# a worker that dies mid-task leaves it on the queue for another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Queues: "chain" holds every escrow task and is served by one single-concurrency worker, so the signer takes nonces
# in order; "ingest" the compute collections, "reports" the PDF builds; everything else runs on "celery". A worker
# started without -Q serves them all (the embedded and single-host shape); deploy/k8s runs one Deployment per queue.
TASK_QUEUES = ("celery", "chain", "ingest", "reports")
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {name: {"exchange": name, "routing_key": name} for name in TASK_QUEUES}
CELERY_TASK_ROUTES = {
    "apps.escrow.tasks.*": {"queue": "chain"},
    "apps.compute.tasks.compute_collect_source": {"queue": "ingest"},
    "apps.reports.tasks.*": {"queue": "reports"},
}
# The worker and beat keep Celery's patient broker defaults (retry and reconnect). Web requests never publish through
# them: after commit they nudge through apps/core/outbox.py, whose own connection gives up after this timeout
# (connect, then each socket read/write) and then leaves the rows to the beat sweeps for OUTBOX_NUDGE_PAUSE_SECONDS.
OUTBOX_NUDGE_TIMEOUT_SECONDS = float(os.environ.get("OUTBOX_NUDGE_TIMEOUT_SECONDS", "0.08"))
OUTBOX_NUDGE_PAUSE_SECONDS = float(os.environ.get("OUTBOX_NUDGE_PAUSE_SECONDS", "5"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # a worker started before Redis waits for it (worker-only)
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "audit-verify-chains": {
        "task": "apps.audit.tasks.audit_verify_chains",
        "schedule": timedelta(hours=6),
    },
}

CELERY_BEAT_SCHEDULE |= {
    "funding-reminders": {"task": "apps.funding.tasks.funding_send_reminders", "schedule": timedelta(hours=1)},
    "funding-period-reminders": {
        "task": "apps.funding.tasks.funding_period_reminders",
        "schedule": timedelta(hours=1),
    },
    "webhook-sweep": {"task": "apps.webhooks.tasks.webhook_sweep", "schedule": timedelta(seconds=15)},
    "idempotency-forget": {"task": "apps.core.tasks.idempotency_forget_expired_keys", "schedule": timedelta(hours=1)},
}

# --- Funding ------------------------------------------------------------------------------
# Separation of duties and the dual-approval threshold are each organization's policy (funding.OrganizationPolicy,
# changed by its owner, audited); the defaults are in the model.
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 25 * 1024 * 1024)
REMINDER_DAYS_AHEAD = env_int("REMINDER_DAYS_AHEAD", 7)
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# The escrow app plugs into the milestone machine (apps/funding/machines.py) without funding importing it:
MILESTONE_LOCK_HOOKS: list[str] = []  # callables(milestone) -> [(model, pk)] locked before the milestone
FUNDING_BRIEF_HOOKS: list[str] = []  # callables(parents) adding figures to a page of grants or investments
MILESTONE_RELEASE_HOOKS: list[str] = []  # callables(milestone=, by=) run in the transaction approving a release
# callables(milestone=, by=) run in the transaction in which the owner accepts the chain's approval of a conflict
MILESTONE_CONFLICT_HOOKS: list[str] = []
COMPUTE_CRITERION_VALIDATOR = ""  # set by the compute app: validates compute criteria configs

# --- Webhooks ---------------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
# Receivers must use https in production; plain http is allowed on the embedded default (local tools).
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", DEBUG)

# --- Egress gate (apps/core/egress.py): every request made on a tenant's behalf ------------------------
# Internal addresses are refused; only an operator may allow some (an on-prem Prometheus), never a tenant.
EGRESS_ALLOW_NETWORKS = env_list("EGRESS_ALLOW_NETWORKS", [])  # CIDRs, e.g. 10.20.0.0/16,fd00:1::/64
EGRESS_ALLOW_HOSTS = env_list("EGRESS_ALLOW_HOSTS", [])  # names or name:port, e.g. prometheus.monitoring.svc:9090
EGRESS_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("EGRESS_CONNECT_TIMEOUT_SECONDS", "5"))
EGRESS_MAX_TIMEOUT_SECONDS = float(os.environ.get("EGRESS_MAX_TIMEOUT_SECONDS", "60"))  # read timeout cap
EGRESS_MAX_RESPONSE_BYTES = env_int("EGRESS_MAX_RESPONSE_BYTES", 64 * 1024 * 1024)  # PromQL range answers
EGRESS_CA_BUNDLE = os.environ.get("EGRESS_CA_BUNDLE", "")  # CA file for internal TLS; empty: certifi's bundle

# --- Mail -------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "govtrack <noreply@govtrack.local>")

# --- Health and metrics -----------------------------------------------------------------------
READYZ_TIMEOUT_SECONDS = float(os.environ.get("READYZ_TIMEOUT_SECONDS", "2"))
# /metrics answers a bearer token equal to this; empty: open with DEBUG on, 404 in production (apps/core/metrics.py).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_PROBE_TIMEOUT_SECONDS = float(os.environ.get("METRICS_PROBE_TIMEOUT_SECONDS", "1"))  # broker, chain node

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
DEMO_SEEDERS: list[str] = []  # each app appends "apps.<app>.demo.seed"
DEMO_SEEDERS.append("apps.funding.demo.seed")

# --- Compliance and risks ---------------------------------------------------------------
# Hourly: the tasks act at most once a day per finding or risk, and catch up after downtime.
CELERY_BEAT_SCHEDULE["compliance-findings-daily"] = {
    "task": "apps.compliance.tasks.compliance_findings_daily",
    "schedule": timedelta(hours=1),
}
CELERY_BEAT_SCHEDULE["risks-evaluate-indicators"] = {
    "task": "apps.risks.tasks.risks_evaluate_indicators",
    "schedule": timedelta(minutes=5),
}
CELERY_BEAT_SCHEDULE["risks-send-reminders"] = {
    "task": "apps.risks.tasks.risks_send_reminders",
    "schedule": timedelta(hours=1),
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] |= {
    "AuditStatusEnum": "apps.compliance.models.AuditStatus",
    "FindingStatusEnum": "apps.compliance.models.FindingStatus",
    "RemediationActionStatusEnum": "apps.compliance.models.ActionStatus",
    "DpiaStatusEnum": "apps.compliance.models.DpiaStatus",
    "ProcessingRoleEnum": "apps.compliance.models.ProcessingRole",
    "RiskStatusEnum": "apps.risks.models.RiskStatus",
    "MitigationStatusEnum": "apps.risks.models.MitigationStatus",
    "IndicatorSourceEnum": "apps.risks.models.IndicatorSource",
}
DEMO_SEEDERS.append("apps.compliance.demo.seed")
DEMO_SEEDERS.append("apps.risks.demo.seed")

# --- Compute ---------------------------------------------------------------------------------
COMPUTE_INGEST_MAX_BATCH = env_int("COMPUTE_INGEST_MAX_BATCH", 5000)  # samples per ingest request (413 above)
COMPUTE_INGEST_MAX_BYTES = env_int("COMPUTE_INGEST_MAX_BYTES", 10 * 1024 * 1024)
COMPUTE_MAX_CLOCK_SKEW_SECONDS = env_int("COMPUTE_MAX_CLOCK_SKEW_SECONDS", 300)  # how far ahead a sample may be
COMPUTE_RAW_RETENTION_DAYS = env_int("COMPUTE_RAW_RETENTION_DAYS", 30)  # raw samples; rollups are kept
COMPUTE_SCHEDULER_TICK_SECONDS = env_int("COMPUTE_SCHEDULER_TICK_SECONDS", 15)
COMPUTE_VERIFY_EVERY_SECONDS = env_int("COMPUTE_VERIFY_EVERY_SECONDS", 15)
COMPUTE_SOURCE_MAX_BACKOFF_SECONDS = env_int("COMPUTE_SOURCE_MAX_BACKOFF_SECONDS", 3600)
COMPUTE_SAMPLES_RAW_MAX_SECONDS = env_int("COMPUTE_SAMPLES_RAW_MAX_SECONDS", 6 * 3600)  # longer ranges: rollups
COMPUTE_DEMO_PROMETHEUS_URL = os.environ.get("COMPUTE_DEMO_PROMETHEUS_URL", "")
if COMPUTE_DEMO_PROMETHEUS_URL:  # the operator named it: the demo source may reach it, wherever it is
    EGRESS_ALLOW_HOSTS.append(COMPUTE_DEMO_PROMETHEUS_URL.split("//", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1])
# Sealed windows (docs/compute.md): a sample is on time until its ts plus its source's lateness allowance, or the
# allowance of its device's kind; a window is evaluated once its end plus the allowance (plus the margin) has passed.
COMPUTE_LATENESS_SECONDS = {
    "gpu": env_int("COMPUTE_LATENESS_SECONDS_GPU", 120),
    "npu": env_int("COMPUTE_LATENESS_SECONDS_NPU", 120),
    "edge": env_int("COMPUTE_LATENESS_SECONDS_EDGE", 6 * 3600),
}
COMPUTE_SEAL_MARGIN_SECONDS = env_int("COMPUTE_SEAL_MARGIN_SECONDS", 5)  # an ingest in flight commits within it
COMPUTE_DEFAULT_CADENCE_SECONDS = env_int("COMPUTE_DEFAULT_CADENCE_SECONDS", 10)  # push sources, devices without one
# The nvidia-smi program that nvidia_smi sources run: the operator's choice, never a tenant's.
COMPUTE_NVIDIA_SMI_BINARY = os.environ.get("COMPUTE_NVIDIA_SMI_BINARY", "nvidia-smi")
COMPUTE_CRITERION_VALIDATOR = "apps.compute.criteria.criterion_config_clean"
CELERY_BEAT_SCHEDULE["compute-schedule-sources"] = {
    "task": "apps.compute.tasks.compute_schedule_sources",
    "schedule": timedelta(seconds=COMPUTE_SCHEDULER_TICK_SECONDS),
}
CELERY_BEAT_SCHEDULE["compute-verify-criteria"] = {
    "task": "apps.compute.tasks.compute_verify_criteria",
    "schedule": timedelta(seconds=COMPUTE_VERIFY_EVERY_SECONDS),
}
CELERY_BEAT_SCHEDULE["compute-purge-raw-samples"] = {
    "task": "apps.compute.tasks.compute_purge_raw_samples",
    "schedule": timedelta(hours=1),
}
DEMO_SEEDERS.append("apps.compute.demo.seed")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ComputeSourceKindEnum": "apps.compute.models.SourceKind",
        "ComputeDeviceKindEnum": "apps.compute.models.DeviceKind",
        "VerificationReportSourceEnum": "apps.compute.models.ReportSource",
    }
)

# --- Dashboard and reports ---------------------------------------------------------------------
INSTALLED_APPS.append("django_htmx")  # htmx itself ships with it, served from static files
INSTALLED_APPS.append("apps.reports")
INSTALLED_APPS.append("apps.proofs")
# The address a printed grant report puts before a proof page's path (https://govtrack.example.org); empty: the
# path alone is printed.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000" if DEBUG else "")
MIDDLEWARE.append("django_htmx.middleware.HtmxMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("apps.dashboard.context.navigation")
STATICFILES_DIRS = [BASE_DIR / "static"]
# A grant report with more milestones than this is built by a Celery task, with its progress shown.
REPORTS_SYNC_MAX_MILESTONES = env_int("REPORTS_SYNC_MAX_MILESTONES", 30)
# An export still queued this long after its request never reached a worker: the sweep queues it again. A running
# export whose progress has not moved for REPORTS_EXPORT_STALE_SECONDS lost its worker and is built again.
REPORTS_EXPORT_SWEEP_AFTER_SECONDS = env_int("REPORTS_EXPORT_SWEEP_AFTER_SECONDS", 30)
REPORTS_EXPORT_STALE_SECONDS = env_int("REPORTS_EXPORT_STALE_SECONDS", 900)
CELERY_BEAT_SCHEDULE["reports-export-sweep"] = {
    "task": "apps.reports.tasks.grant_report_export_sweep",
    "schedule": timedelta(seconds=30),
}
# Fonts embedded in the PDF (Debian: fonts-dejavu-core); the report's @font-face points at these files.
REPORTS_FONT_DIR = Path(os.environ.get("REPORTS_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
# WeasyPrint logs each rendering step and fontTools each font subset at INFO: kept for warnings only.
LOGGING["loggers"] |= {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}}

# --- Content-Security-Policy and API docs ------------------------------------------------------------
# Pages load scripts, styles, images and fonts from govtrack itself only: no inline script or style, no eval, no
# plugins, no framing. Charts are inline SVG styled by static/dashboard/charts.css; htmx is a static file.
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# The OpenAPI schema and its Swagger/Redoc pages: open to anyone on the embedded default, behind sign-in in
# production unless the operator opens them.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", DEBUG)

# --- Escrow on chain ---------------------------------------------------------------------------
INSTALLED_APPS.append("apps.escrow")
# Empty: no chain configured (escrow features answer so; /readyz has no "chain" check). `make run` sets it to the
# local anvil it starts (http://127.0.0.1:8545, chain 31337).
ETH_RPC_URL = os.environ.get("ETH_RPC_URL", "")
ETH_CHAIN_ID = env_int("ETH_CHAIN_ID", 31337)
ESCROW_ADDRESS = os.environ.get("ESCROW_ADDRESS", "")  # empty: the contract `manage.py escrow_deploy` recorded
# The signer's private key is read from the environment (ESCROW_SIGNER_KEY, or the file ESCROW_SIGNER_KEY_FILE
# names) when a transaction is signed; it is never kept in settings, logs or the database.
ESCROW_SIGNER_KEY_FILE = os.environ.get("ESCROW_SIGNER_KEY_FILE", "")
# With DEBUG on a local chain (31337) and no key set, anvil's first default account signs (its key is public).
ESCROW_ALLOW_LOCAL_DEV_KEY = DEBUG and ETH_CHAIN_ID == 31337
# The escrow contract's owner (pause/unpause), given at deploy: a separate address (a Safe in production), never the
# signing key. Empty on the local chain of `make run`: anvil's third default account (apps/escrow/owner.py).
ESCROW_OWNER_ADDRESS = os.environ.get("ESCROW_OWNER_ADDRESS", "")
# Blocks on top of a transaction's (its own included) before it counts as confirmed and its events take effect.
ESCROW_CONFIRMATIONS = env_int("ESCROW_CONFIRMATIONS", 1 if ETH_CHAIN_ID == 31337 else 12)
# How long the sender waits, in one run, for the receipt of a token approve it just sent before signing its create.
ESCROW_APPROVE_RECEIPT_WAIT_SECONDS = float(os.environ.get("ESCROW_APPROVE_RECEIPT_WAIT_SECONDS", "2"))
ESCROW_MAX_FEE_GWEI = Decimal(os.environ.get("ESCROW_MAX_FEE_GWEI", "300"))  # cap on maxFeePerGas
ESCROW_MIN_PRIORITY_FEE_GWEI = Decimal(os.environ.get("ESCROW_MIN_PRIORITY_FEE_GWEI", "1"))
ESCROW_REPLACE_AFTER_SECONDS = env_int("ESCROW_REPLACE_AFTER_SECONDS", 180)  # unmined: re-sign with +12.5% fees
ESCROW_RPC_TIMEOUT_SECONDS = float(os.environ.get("ESCROW_RPC_TIMEOUT_SECONDS", "10"))
ESCROW_RETRY_BASE_SECONDS = env_int("ESCROW_RETRY_BASE_SECONDS", 5)
ESCROW_RETRY_MAX_SECONDS = env_int("ESCROW_RETRY_MAX_SECONDS", 600)
ESCROW_MAX_ATTEMPTS = env_int("ESCROW_MAX_ATTEMPTS", 8)  # a call the node keeps refusing (revert) then fails
ESCROW_LOG_PAGE_BLOCKS = env_int("ESCROW_LOG_PAGE_BLOCKS", 2000)
ESCROW_LOG_PAGE_MAX_BLOCKS = env_int("ESCROW_LOG_PAGE_MAX_BLOCKS", 10000)
ESCROW_REORG_WATCH_BLOCKS = env_int("ESCROW_REORG_WATCH_BLOCKS", 128)  # confirmed txs re-checked this long
ESCROW_START_BLOCK = env_int("ESCROW_START_BLOCK", 0)  # with ESCROW_ADDRESS: where its events begin
ESCROW_DEADLINE_GRACE_DAYS = env_int("ESCROW_DEADLINE_GRACE_DAYS", 0)  # on-chain deadline = due date + grace
ESCROW_SEND_ON_COMMIT = env_bool("ESCROW_SEND_ON_COMMIT", True)  # queue the sender when an intent commits
ESCROW_POLL_SECONDS = env_int("ESCROW_POLL_SECONDS", 5)
# `manage.py escrow_watch`: how often the block watcher asks the node for its head (a sync round per new block).
ESCROW_WATCH_SECONDS = float(os.environ.get("ESCROW_WATCH_SECONDS", "1"))
CELERY_BEAT_SCHEDULE["escrow-sync"] = {
    "task": "apps.escrow.tasks.escrow_sync",
    "schedule": timedelta(seconds=ESCROW_POLL_SECONDS),
}
CELERY_BEAT_SCHEDULE["escrow-refund-expired"] = {
    "task": "apps.escrow.tasks.escrow_refund_expired",
    "schedule": timedelta(minutes=10),
}
MILESTONE_LOCK_HOOKS.append("apps.escrow.services.attestations.escrow_milestone_lock_rows")
FUNDING_BRIEF_HOOKS.append("apps.escrow.selectors.escrow_held_attach")
MILESTONE_RELEASE_HOOKS.append("apps.escrow.services.attestations.escrow_milestone_release_approved")
MILESTONE_CONFLICT_HOOKS.append("apps.escrow.services.evidence.conflict_withdrawals_record")
DEMO_SEEDERS.append("apps.escrow.demo.seed")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "EscrowAgreementStatusEnum": "apps.escrow.models.AgreementStatus",
        "OnchainMilestoneStatusEnum": "apps.escrow.models.OnchainMilestoneStatus",
        "ChainTxKindEnum": "apps.escrow.models.ChainTxKind",
        "ChainTxStatusEnum": "apps.escrow.models.ChainTxStatus",
    }
)

# --- Economics: rate cards, compute cost, the scaling roadmap and success metrics ---------------------------
INSTALLED_APPS.append("apps.economics")
DEMO_SEEDERS.append("apps.economics.demo.seed")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "RateCardKindEnum": "apps.economics.models.RateCardKind",
        "SuccessMetricSourceEnum": "apps.economics.models.MetricSource",
        "InitiativeStatusEnum": "apps.economics.models.InitiativeStatus",
        "BudgetCategoryEnum": "apps.funding.models.BudgetCategory",
        "ReportingPeriodStatusEnum": "apps.funding.models.PeriodStatus",
        "BudgetAmendmentStatusEnum": "apps.funding.models.AmendmentStatus",
    }
)
CELERY_BEAT_SCHEDULE["economics-refresh-usage-days"] = {
    "task": "apps.economics.tasks.economics_refresh_usage_days",
    "schedule": timedelta(minutes=15),
}
