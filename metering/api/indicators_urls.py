from django.urls import path

from metering.api.indicators_views import EnterpriseIndicatorsView

urlpatterns = [
    path("enterprises/<int:enterprise_id>/indicators/", EnterpriseIndicatorsView.as_view(),
         name="enterprise-indicators"),
]
