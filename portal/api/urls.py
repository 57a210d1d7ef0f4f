from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from portal.api import auth, views

app_name = "api"

router = SimpleRouter()
router.register("enterprises", views.EnterpriseViewSet, basename="enterprise")

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="root"),
    path("auth/token/", auth.AuthTokenView.as_view(), name="auth-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
]
