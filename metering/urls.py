from django.urls import include, path

from metering.board import views as board_views
from metering.monitoring import production_views as production
from metering.outbox import views as outbox_views
from metering.registry.views import devices, mappings, meters, quarantine, sites, tokens
from metering.reports import views as reports

app_name = "metering"

urlpatterns = [
    path("", meters.index, name="index"),
    path("meters/", meters.meter_list, name="meter_list"),
    path("meters/new/", meters.meter_create, name="meter_create"),
    path("meters/<int:pk>/", meters.meter_detail, name="meter_detail"),
    path("meters/<int:pk>/edit/", meters.meter_edit, name="meter_edit"),
    path("meters/<int:pk>/delete/", meters.meter_delete, name="meter_delete"),
    path("meters/import/", meters.meter_import, name="meter_import"),
    path("meters/import/template.xlsx", meters.meter_import_template_xlsx, name="meter_import_template_xlsx"),
    path("meters/import/template.csv", meters.meter_import_template_csv, name="meter_import_template_csv"),
    path("sites/", sites.site_list, name="site_list"),
    path("sites/<int:pk>/edit/", sites.site_edit, name="site_edit"),
    path("sites/<int:pk>/delete/", sites.site_delete, name="site_delete"),
    path("devices/", devices.device_list, name="device_list"),
    path("devices/new/", devices.device_create, name="device_create"),
    path("devices/<int:pk>/", devices.device_detail, name="device_detail"),
    path("devices/<int:pk>/edit/", devices.device_edit, name="device_edit"),
    path("devices/<int:pk>/delete/", devices.device_delete, name="device_delete"),
    path("mqtt/", mappings.mapping_list, name="mapping_list"),
    path("mqtt/new/", mappings.mapping_create, name="mapping_create"),
    path("mqtt/<int:pk>/edit/", mappings.mapping_edit, name="mapping_edit"),
    path("mqtt/<int:pk>/delete/", mappings.mapping_delete, name="mapping_delete"),
    path("tokens/", tokens.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("quarantine/", quarantine.quarantine_list, name="quarantine_list"),
    path("production/", production.production_list, name="production_list"),
    path("production/new/", production.production_create, name="production_create"),
    path("production/<int:pk>/edit/", production.production_edit, name="production_edit"),
    path("production/<int:pk>/delete/", production.production_delete, name="production_delete"),
    path("base-period/", production.base_period, name="base_period"),
    path("board/", board_views.board_page, name="board"),
    path("board/data/", board_views.board_json, name="board_data"),
    path("alarms/", include("metering.alarms.urls")),
    path("uploads/", outbox_views.upload_list, name="upload_list"),
    path("uploads/resend/", outbox_views.upload_resend, name="upload_resend"),
    path("reports/", reports.report_energy, name="report_energy"),
    path("reports/products/", reports.report_products, name="report_products"),
    path("reports/workshops/", reports.report_workshops, name="report_workshops"),
    path("reports/park/", reports.report_park, name="report_park"),
    path("reports/export/", reports.report_export, name="report_export"),
    path("reports/jobs/", reports.export_job_list, name="export_job_list"),
    path("reports/jobs/<int:pk>/", reports.export_job_detail, name="export_job_detail"),
    path("reports/jobs/<int:pk>/status/", reports.export_job_status, name="export_job_status"),
    path("reports/jobs/<int:pk>/download/", reports.export_job_download, name="export_job_download"),
]
