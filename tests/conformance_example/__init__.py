"""The worked example of docs/conformance.md: a hand-written orchestrator, its adapter."""
