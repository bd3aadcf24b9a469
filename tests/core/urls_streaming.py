"""The project's URLs plus a plain Django view under /api/ that answers a POST with a streamed body."""

from django.http import StreamingHttpResponse
from django.urls import path

from govtrack.urls import urlpatterns as project_urlpatterns

streamed = []


def streaming_view(request):
    streamed.append(request.method)
    return StreamingHttpResponse(iter([b"part one, ", b"part two"]), content_type="text/plain")


urlpatterns = [path("api/test-stream/", streaming_view), *project_urlpatterns]
