"""`bertex serve`: an HTTP adapter over the library (FastAPI + uvicorn, the `server` extra).
The library never imports this package."""
