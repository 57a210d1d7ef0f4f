"""The 看板 (live board) and the home pages' live figures: a reading part above monitoring and
alarms. It reads figures only through their selectors (and the indicators service), and nothing
below it imports it (pyproject.toml, import-linter), so monitoring and alarms stay free of pages."""
