"""The review-mail preference page, under the reviews namespace (reviews/urls.py)."""

from django.urls import path

from reviews import views_preferences

urlpatterns = [
    path("notifications/", views_preferences.notification_preferences, name="notification_preferences"),
]
