from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "评审"

    def ready(self) -> None:
        from reviews import (
            notifications,  # noqa: F401  (mails on transitions and assignments)
            signals,  # noqa: F401  (registers the audited models)
        )
