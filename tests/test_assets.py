"""The app's own images are served as they are: Streamlit re-encodes any image wider than its widest column
(streamlit.elements.lib.image_utils.MAXIMUM_CONTENT_WIDTH) on every draw, which cost Home ~40 ms of server CPU per
visit for two diagrams."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from streamlit.elements.lib.image_utils import MAXIMUM_CONTENT_WIDTH

DIAGRAMS = sorted((Path(__file__).resolve().parents[1] / "assets" / "diagrams").glob("*.png"))


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagrams_need_no_resizing_by_streamlit(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] <= MAXIMUM_CONTENT_WIDTH
