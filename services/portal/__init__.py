"""The portal: server-rendered pages (FastAPI + Jinja2 + htmx, DSFR) over the four services' HTTP APIs.

It owns no business data and no database; every call carries the signed-in user's bearer token."""
