"""Server-rendered web pages (Jinja2, NHS.UK design-system look); thin over `carelens.services`."""
