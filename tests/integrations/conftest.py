"""The demo video site for the yt-dlp seam's tests: one per test module, reset around each test
of the modules that ask for it (``pytestmark = pytest.mark.usefixtures("fresh_site")``)."""

from __future__ import annotations

import pytest

from medianest.simulators.video_site import serve_in_thread


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    handle = serve_in_thread("127.0.0.1", 0, data_dir=tmp_path_factory.mktemp("video-site"))
    yield handle
    handle.stop()


@pytest.fixture
def fresh_site(site):
    site.site.reset()
    yield
    site.site.reset()
