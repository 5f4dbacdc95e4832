"""HTML reports: Jinja2 templates and matplotlib plots, imported only when a report is written."""
