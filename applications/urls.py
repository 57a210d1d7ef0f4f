"""The applications part's pages. Each area keeps its own URL module, all under one namespace."""

from applications import attachment_urls, form_urls
from applications.documents import urls as document_urls

app_name = "applications"

urlpatterns = [*form_urls.urlpatterns, *attachment_urls.urlpatterns, *document_urls.urlpatterns]
