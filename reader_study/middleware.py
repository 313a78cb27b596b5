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
