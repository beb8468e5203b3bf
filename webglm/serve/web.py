"""The web page at ``/``: static files shipped in the package, no build step, no CDN."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; the policy makes that a rule for the browser too.
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                      "form-action 'self'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def routes() -> list:
    """``/`` (the page) and ``/static/*`` (its script and style sheet)."""
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def index(request):
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    return [Route("/", index), Mount("/static", app=StaticFiles(directory=STATIC), name="static")]
