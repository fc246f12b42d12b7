"""Read-only HTTP API (FastAPI + uvicorn) over the lab's data: ``perocube-desktop serve`` or the
desktop app's ``api.enabled`` setting. See docs/api.md."""
