"""HTML reports (jinja2 templates) and the figures they embed; pure functions returning strings."""
