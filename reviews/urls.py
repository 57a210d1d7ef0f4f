"""The reviews part's pages, under /reviews/ in the "reviews" namespace."""

from django.urls import URLPattern, path

from reviews import views_conflicts

app_name = "reviews"

urlpatterns: list[URLPattern] = [
    path("conflicts/", views_conflicts.conflict_list, name="conflicts"),
    path("conflicts/<int:declaration_id>/delete/", views_conflicts.conflict_delete, name="conflict_delete"),
]
