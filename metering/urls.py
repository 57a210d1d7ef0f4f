from django.urls import path

from metering import views

app_name = "metering"

urlpatterns = [
    path("", views.index, name="index"),
    path("meters/", views.meter_list, name="meter_list"),
    path("meters/new/", views.meter_create, name="meter_create"),
    path("meters/<int:pk>/", views.meter_detail, name="meter_detail"),
    path("meters/<int:pk>/edit/", views.meter_edit, name="meter_edit"),
    path("meters/<int:pk>/delete/", views.meter_delete, name="meter_delete"),
    path("meters/import/", views.meter_import, name="meter_import"),
    path("meters/import/template.xlsx", views.meter_import_template_xlsx, name="meter_import_template_xlsx"),
    path("meters/import/template.csv", views.meter_import_template_csv, name="meter_import_template_csv"),
    path("sites/", views.site_list, name="site_list"),
    path("sites/<int:pk>/edit/", views.site_edit, name="site_edit"),
    path("sites/<int:pk>/delete/", views.site_delete, name="site_delete"),
    path("devices/", views.device_list, name="device_list"),
    path("devices/new/", views.device_create, name="device_create"),
    path("devices/<int:pk>/", views.device_detail, name="device_detail"),
    path("devices/<int:pk>/edit/", views.device_edit, name="device_edit"),
    path("devices/<int:pk>/delete/", views.device_delete, name="device_delete"),
    path("mqtt/", views.mapping_list, name="mapping_list"),
    path("mqtt/new/", views.mapping_create, name="mapping_create"),
    path("mqtt/<int:pk>/edit/", views.mapping_edit, name="mapping_edit"),
    path("mqtt/<int:pk>/delete/", views.mapping_delete, name="mapping_delete"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("quarantine/", views.quarantine_list, name="quarantine_list"),
]
