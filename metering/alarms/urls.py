"""Alarm pages, included under /metering/alarms/ in the `metering` namespace."""
from django.urls import path

from metering.alarms import views

urlpatterns = [
    path("", views.alarm_list, name="alarm_list"),
    path("<int:pk>/acknowledge/", views.alarm_acknowledge, name="alarm_acknowledge"),
    path("rules/", views.alarm_rule_list, name="alarm_rule_list"),
    path("rules/<int:pk>/", views.alarm_rule_edit, name="alarm_rule_edit"),
]
