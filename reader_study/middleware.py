from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired

# Machine endpoints authenticate themselves (session or `Authorization: Token`)
# and must answer 401/403, not redirect a script to an HTML login page.
MACHINE_PREFIXES = ("/api/", "/dicomweb/")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page requires a login, except the login page and machine endpoints."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(MACHINE_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class PrivateCacheMiddleware:
    """`Cache-Control: private, no-store` on every answer that does not set its own.

    Pages, JSON and DICOM here are for one logged-in user: no shared cache and no browser
    history may keep them. Static files never get here (whitenoise answers them earlier).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "private, no-store"
        return response
