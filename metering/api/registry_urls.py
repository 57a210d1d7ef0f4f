from rest_framework.routers import SimpleRouter

from metering.api.registry_views import MeterViewSet, ModbusDeviceViewSet

# URL names: meter-list, meter-detail, meter-import, modbus-device-list, modbus-device-detail.
router = SimpleRouter()
router.register("meters", MeterViewSet, basename="meter")
router.register("modbus/devices", ModbusDeviceViewSet, basename="modbus-device")

urlpatterns = router.urls
