"""Anti-forgery tokens for the pages' forms (double submit), the one way every form that changes
something is protected.

A page showing a form puts a fresh random token both in a hidden ``csrf_token`` field and in a cookie
of its own (HttpOnly, SameSite=Strict, limited to the form's path); the form's POST is accepted only
when the two match. Another site can make a visitor's browser post a form, but can neither read the
cookie nor set it to the field's value, so it cannot act, sign in or send anything in the visitor's
name.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

FIELD = "csrf_token"
"""The hidden field carrying the token in every protected form."""


def new_token() -> str:
    """A fresh random token for one form."""
    return secrets.token_urlsafe(32)


def set_token_cookie(request: Request, response: Response, cookie: str, token: str, path: str) -> None:
    """Set the form's cookie to ``token`` (HttpOnly, SameSite=Strict, Secure over https, for ``path``)."""
    response.set_cookie(
        cookie,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


def token_matches(request: Request, cookie: str, submitted: str) -> bool:
    """Whether the submitted field matches the form's cookie (both present; compared in constant time)."""
    expected = request.cookies.get(cookie, "")
    return bool(expected and submitted) and hmac.compare_digest(expected.encode(), submitted.encode())
