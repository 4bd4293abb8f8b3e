"""Report templates (package data), rendered by verify.services.report_render."""
