from django.urls import URLPattern

# Programs and submissions endpoints under /api/v1/.
urlpatterns: list[URLPattern] = []
