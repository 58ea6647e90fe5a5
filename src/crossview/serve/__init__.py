"""``crossview serve``: a locate service (ASGI) with a single-page UI; model and index load once.

``create_app(localizer, ServeConfig())`` gives the Starlette application; ``crossview serve
--index INDEX`` runs it under uvicorn (docs/serve.md).
"""

from crossview.serve.app import create_app
from crossview.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
