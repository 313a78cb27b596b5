"""Accounts: logging in, each role's landing page, API tokens and who-am-I."""
