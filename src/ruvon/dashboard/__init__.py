"""``ruvon serve``: a web dashboard and JSON API over one store (needs the ``dashboard`` extra:
``pip install 'ruvon[dashboard]'``). See docs/dashboard.md."""

from ruvon.dashboard.app import DashboardSettings, create_app

__all__ = ["DashboardSettings", "create_app"]
