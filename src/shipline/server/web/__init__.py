"""web: the server-rendered UI (Jinja2 + htmx, live updates over SSE, no build step)."""
