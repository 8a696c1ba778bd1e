"""Text that comes from outside the app (run names and errors, upload names, a link's values) on a page: shown as
typed, never read as Markdown, links or Streamlit's directives.

    st.markdown(f"#### {plain(row.name)}")
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=^])")


def plain(text: object) -> str:
    """Text from a run, an upload or a link, made inert inside Markdown: every punctuation mark that Markdown (or
    Streamlit's :material/...: and :color[...]: directives) could read is escaped, so it shows as typed."""
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", " ")
