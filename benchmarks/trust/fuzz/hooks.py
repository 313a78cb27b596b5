"""schemathesis hooks of the fuzz run (run_fuzz.py passes them as SCHEMATHESIS_HOOKS).

The session is the schema's own `cookieAuth` (the `sessionid` cookie), so schemathesis
knows it for what it is and its authentication checks can leave it out; Django's CSRF check
also wants its `csrftoken` cookie, which no operation declares: it goes on every request
here, beside the `X-CSRFToken` header the run sends.
"""

from __future__ import annotations

import os

import schemathesis

CSRF = os.environ["LDCT_FUZZ_CSRF"]


@schemathesis.hook
def before_call(context, case, kwargs):
    case.cookies = {**(case.cookies or {}), "csrftoken": CSRF}
