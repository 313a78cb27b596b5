"""Django settings, read from the environment.

Two modes (see README, "Configuration"):
- embedded default, no variables: SQLite, media and a Celery filesystem broker
  under ./var, a SECRET_KEY generated once into ./var/secret_key;
- scaled: DATABASE_URL (Postgres), CELERY_BROKER_URL (Redis), shared MEDIA_ROOT
  or S3-compatible storage (STORAGE_BACKEND=s3 and the AWS_* variables).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ldct_web import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.text("LDCT_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env.secret_key("SECRET_KEY", VAR_DIR / "secret_key")
DEBUG = env.flag("DEBUG", default=False)
ALLOWED_HOSTS = env.word_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.word_list("CSRF_TRUSTED_ORIGINS", [])
# Where clients reach this server: the origin of the absolute URLs DICOMweb answers carry
# (RetrieveURL, BulkDataURI). Unset, they follow the request's Host header, which some
# clients send without the port (dicomweb-client does) and a proxy may rewrite.
LDCT_PUBLIC_URL = env.origin("LDCT_PUBLIC_URL")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_vite",
    "axes",
    "csp",
    "reader_study",
]

MIDDLEWARE = [
    # First: it answers CORS preflights itself (they carry no credentials).
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "reader_study.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "reader_study.middleware.PrivateCacheMiddleware",
    # Last: it turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ldct_web.urls"
WSGI_APPLICATION = "ldct_web.wsgi.application"
ASGI_APPLICATION = "ldct_web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The shared layout and the login and password pages first: the admin app ships
        # registration/ templates of the same names. Each domain package of reader_study
        # keeps its own templates beside its views.
        "DIRS": [
            BASE_DIR / "reader_study" / "templates",
            *sorted((BASE_DIR / "reader_study").glob("*/templates")),
        ],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reader_study.access.role_context",
            ],
            # Tag libraries of domain packages (they are not apps of their own).
            "libraries": {"study_extras": "reader_study.studies.templatetags.study_extras"},
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out account or address before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# A login lasts a working day (LDCT_SESSION_HOURS), not Django's two weeks: reading rooms
# and laptops are shared. "Log out everywhere" (password page) ends every session at once.
SESSION_COOKIE_AGE = env.integer("LDCT_SESSION_HOURS", 12, minimum=1) * 3600
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Per process: blinded reading keeps slice lists and geometry, the analysis page its
# results (both derived from data that never changes under the same key).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 50000},
    }
}

# --- Static files and the Vite bundle -------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.text("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
DJANGO_VITE = {
    "default": {
        "dev_mode": env.flag("VITE_DEV_MODE", default=False),
        "manifest_path": FRONTEND_DIST / ".vite" / "manifest.json",
        "static_url_prefix": "",
    }
}

# --- Media storage --------------------------------------------------------
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.text("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGE_BACKEND = env.text("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "local":
    # FileSystemStorage, except that a write cut short leaves no part of a file behind.
    _media_storage = {"BACKEND": "reader_study.media_storage.WholeFileStorage"}
elif STORAGE_BACKEND == "s3":
    # django-storages reads the rest: AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL,
    # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_S3_REGION_NAME.
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.text("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.text("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env.text("AWS_S3_REGION_NAME") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if not _media_storage["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured(
            "Environment variable AWS_STORAGE_BUCKET_NAME is required when STORAGE_BACKEND=s3."
        )
else:
    raise ImproperlyConfigured(
        f"Environment variable STORAGE_BACKEND={STORAGE_BACKEND!r} is invalid: "
        "expected 'local' or 's3'."
    )
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Case ingestion limits (README, "Configuration") ------------------------
LDCT_MAX_UPLOAD_BYTES = env.integer("LDCT_MAX_UPLOAD_BYTES", 4 * 1024**3, minimum=1)
LDCT_MAX_FILES_PER_CASE = env.integer("LDCT_MAX_FILES_PER_CASE", 5000, minimum=1)
LDCT_UPLOAD_CHUNK_BYTES = env.integer("LDCT_UPLOAD_CHUNK_BYTES", 8 * 1024**2, minimum=64 * 1024)
# A zip member may expand at most this many times its compressed size (zip bombs).
LDCT_ZIP_MAX_RATIO = env.integer("LDCT_ZIP_MAX_RATIO", 200, minimum=1)
# Empty list: the built-in set (uncompressed, deflate, JPEG, JPEG-LS, JPEG 2000, RLE).
LDCT_ACCEPTED_TRANSFER_SYNTAXES = env.word_list("LDCT_ACCEPTED_TRANSFER_SYNTAXES", [])
if any(not uid.replace(".", "").isdigit() for uid in LDCT_ACCEPTED_TRANSFER_SYNTAXES):
    raise ImproperlyConfigured(
        "Environment variable LDCT_ACCEPTED_TRANSFER_SYNTAXES is invalid: expected "
        "comma-separated transfer syntax UIDs, e.g. 1.2.840.10008.1.2.1,1.2.840.10008.1.2.4.90."
    )
# A chunk request body is read as a stream, never into memory whole; this only
# bounds the bodies Django does read whole (forms, JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

# --- REST framework -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not logged in" into a 401.
        "rest_framework.authentication.TokenAuthentication",
        # The same tokens as `Authorization: Bearer ...` (OHIF and OIDC-minded clients).
        "reader_study.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The schema's path parameters keep the URLconf's names ({pk}), as clients call them.
    "SCHEMA_COERCE_PATH_PK": False,
}
# The OpenAPI 3 schema of the REST API (/api/schema/); DICOMweb follows PS3.18 instead.
SPECTACULAR_SETTINGS = {
    "TITLE": "LDCT Reader Studio API",
    "DESCRIPTION": "Cases, uploads, denoising and training jobs, the model registry, reader "
    "studies and blinded reading. Authenticate with `Authorization: Token <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "PREPROCESSING_HOOKS": ["reader_study.schema.only_the_rest_api"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reader_study.schema.document_auth_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- CORS: a viewer served from another origin (OHIF) reading DICOMweb --------
# Only the listed origins, only /dicomweb/, and no cookies: such a viewer sends a token
# (`Authorization: Token|Bearer`), so a foreign page can never ride a researcher's session.
CORS_ALLOWED_ORIGINS = env.origin_list("LDCT_CORS_ORIGINS")
CORS_URLS_REGEX = r"^/dicomweb/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Warning", "Content-Location", "Content-Type"]

# --- Celery ---------------------------------------------------------------
# Hard limit for the longest task (a training run); the Redis visibility
# timeout must exceed it, or Redis hands a still-running task to a second worker.
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 6 * 3600, minimum=60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_EMBEDDED_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = env.text(
    "CELERY_RESULT_BACKEND",
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith("redis")
    else f"file://{(VAR_DIR / 'celery-results').as_posix()}",
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600,
}
# Lets several deployments (or test runs) share one Redis without sharing queues.
if env.text("CELERY_BROKER_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env.text("CELERY_BROKER_KEY_PREFIX")
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(CELERY_EMBEDDED_DIR / "queue"),
            "data_folder_out": str(CELERY_EMBEDDED_DIR / "queue"),
            "processed_folder": str(CELERY_EMBEDDED_DIR / "processed"),
            # Broadcast (control) messages; kombu's default is ./control in the cwd.
            "control_folder": str(CELERY_EMBEDDED_DIR / "control"),
            "store_processed": False,
        }
    )

# --- Logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Bounded: a message or traceback that a client's input can grow is cut, never unbounded.
    "formatters": {
        "plain": {
            "()": "ldct_web.logs.BoundedFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.text("LOG_LEVEL", "INFO")},
}

# --- Login throttling (django-axes) ---------------------------------------
# LDCT_LOGIN_FAILURES wrong passwords lock the account, and separately the client address,
# for LDCT_LOGIN_LOCKOUT_MINUTES; staff unlock early in the admin (Access attempts) or with
# `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = env.integer("LDCT_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("LDCT_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Behind a proxy, the client's address is the proxy's unless the proxy is trusted to say it.
# Behind trusted proxies the client is the address they add to X-Forwarded-For (counted
# from the right, so a client cannot forge it); without, X-Forwarded-For is ignored.
LDCT_TRUSTED_PROXIES = env.integer("LDCT_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "reader_study.accounts.addresses.client_address"

# --- Content-Security-Policy (django-csp) ---------------------------------
# Scripts and styles only from this site's bundle; the viewer's codecs are WebAssembly
# ('wasm-unsafe-eval' compiles them, no JavaScript eval) and its decoders run as web
# workers built into the bundle (blob: covers workers a library makes from a string).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "worker-src": ["'self'", "blob:"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Production hardening (checked by `manage.py check --deploy`) ----------
# HTTPS settings default to on unless DEBUG; a laptop run over plain HTTP sets
# LDCT_INSECURE_HTTP=1 (make run does) so cookies still work on 127.0.0.1.
_https = not DEBUG and not env.flag("LDCT_INSECURE_HTTP", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", default=_https)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
