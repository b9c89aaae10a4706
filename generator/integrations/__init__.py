"""Integrations with other frameworks, each behind an optional extra; nothing here is part
of the stdlib-only runtime."""
