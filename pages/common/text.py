"""Text that comes from outside the app (run names and errors, upload names, a link's values) on a page: shown as
typed, never read as Markdown, links or Streamlit's directives.

    st.markdown(f"#### {plain(row.name)}")
"""

from __future__ import annotations

import re

# What Markdown, GitHub's extensions and Streamlit read inside a line: emphasis, code, links and images (brackets),
# HTML, tables, strikethrough, math, and :material/...: or :red[...]: directives. Text is always placed mid-line (after
# a label, or as a heading's words), where list and heading markers at a line's start do not apply.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~:$])")


def plain(text: object) -> str:
    """Text from a run, an upload or a link, made inert inside Markdown: every mark that Markdown (or Streamlit's
    :material/...: and :color[...]: directives) could read is escaped, so it shows as typed."""
    # "www." starts a link on its own in GitHub's Markdown (a URL's scheme is already broken at its colon).
    return _MARKDOWN.sub(r"\\\1", str(text)).replace("\n", " ").replace("www.", "www\\.")
