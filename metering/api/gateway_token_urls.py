from rest_framework.routers import SimpleRouter

from metering.api.gateway_token_views import GatewayTokenViewSet

# URL names: gateway-token-list, gateway-token-detail.
router = SimpleRouter()
router.register("gateway-tokens", GatewayTokenViewSet, basename="gateway-token")

urlpatterns = router.urls
