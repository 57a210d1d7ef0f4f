from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "评审"

    def ready(self) -> None:
        import reviews.guards_programs  # noqa: F401  (registers the shipped programs' guards)
        from reviews import signals  # noqa: F401  (registers the audited models)
