"""Export downloads (filled in below)."""

urlpatterns: list = []
