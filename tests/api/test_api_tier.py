"""The API tier itself: a shipped workflow runs through POST /prompt, and a refused input comes back as text."""
from tests.api.conftest import edited


def test_shipped_workflow_runs_through_the_api(api):
    entry = api.run(api.prompt("svd_frameinit"))
    assert entry["status"]["status_str"] == "success" and entry["outputs"]


def test_validation_error_is_returned_as_text(api):
    msg = api.error_of(edited(api.prompt("svd_frameinit"), "ConsistI2VFrameInitNoise", spatial_cutoff=1.5))
    assert "spatial_cutoff" in msg
