"""/dicomweb/: QIDO-RS, WADO-RS, STOW-RS and WADO-URI (PS3.18)."""

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from reader_study.dicomweb import qido, stow, wado, wado_uri

app_name = "dicomweb"

UID = r"(?P<{}>[0-9.]{{1,64}})"
STUDY = "studies/" + UID.format("study_uid")
SERIES = STUDY + "/series/" + UID.format("series_uid")
INSTANCE = SERIES + "/instances/" + UID.format("sop_uid")


# DRF views are CSRF-exempt and enforce CSRF themselves for session logins; these
# dispatchers must be too, or Django would refuse token-authenticated STOW posts.
@csrf_exempt
def studies_view(request, *args, **kwargs):
    """GET searches (QIDO), POST stores (STOW) on the same URL, as PS3.18 defines."""
    view = stow.Store.as_view() if request.method == "POST" else qido.SearchStudies.as_view()
    return view(request, *args, **kwargs)


@csrf_exempt
def study_view(request, *args, **kwargs):
    view = stow.Store.as_view() if request.method == "POST" else wado.RetrieveStudy.as_view()
    return view(request, *args, **kwargs)


urlpatterns = [
    path("studies", studies_view, name="studies"),
    path("series", qido.SearchSeries.as_view(), name="all-series"),
    path("instances", qido.SearchInstances.as_view(), name="all-instances"),
    path("wado", wado_uri.WadoUri.as_view(), name="wado-uri"),
    re_path(rf"^{STUDY}$", study_view, name="study"),
    re_path(rf"^{STUDY}/metadata$", wado.StudyMetadata.as_view(), name="study-metadata"),
    re_path(rf"^{STUDY}/series$", qido.SearchSeries.as_view(), name="study-series"),
    re_path(rf"^{STUDY}/instances$", qido.SearchInstances.as_view(), name="study-instances"),
    re_path(rf"^{SERIES}$", wado.RetrieveSeries.as_view(), name="series"),
    re_path(rf"^{SERIES}/metadata$", wado.SeriesMetadata.as_view(), name="series-metadata"),
    re_path(rf"^{SERIES}/instances$", qido.SearchInstances.as_view(), name="series-instances"),
    re_path(rf"^{INSTANCE}$", wado.RetrieveInstance.as_view(), name="instance"),
    re_path(rf"^{INSTANCE}/metadata$", wado.InstanceMetadata.as_view(), name="instance-metadata"),
    re_path(
        rf"^{INSTANCE}/frames/(?P<frames>[0-9,]+)$", wado.RetrieveFrames.as_view(), name="frames"
    ),
    re_path(rf"^{INSTANCE}/rendered$", wado.RetrieveRendered.as_view(), name="rendered"),
    re_path(
        rf"^{INSTANCE}/frames/(?P<frame>[0-9]+)/rendered$",
        wado.RetrieveRendered.as_view(),
        name="frame-rendered",
    ),
    re_path(r"^.*$", wado.NoSuchResource.as_view(), name="no-such-resource"),
]
