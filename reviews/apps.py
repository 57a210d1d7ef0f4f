from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "评审"

    def ready(self) -> None:
        # Imported for what they register: the shipped programs' guards, the audited models, and
        # the mails sent on transitions and assignments.
        from reviews import guards_programs, notifications, signals  # noqa: F401
