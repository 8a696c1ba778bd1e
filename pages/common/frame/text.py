"""Text that comes from outside the app (run names and errors, upload names, a link's values) on a page: shown as
typed, never read as Markdown, links or Streamlit's directives.

    st.markdown(f"#### {plain(row.name)}")
"""

from __future__ import annotations

import re

# What Markdown, GitHub's extensions and Streamlit read inside a line: emphasis (an underscore only at a word's
# edge: GitHub's Markdown leaves snake_case alone), code, links and images (brackets), tables, strikethrough, math,
# URLs that turn into links by themselves (their colon), and :material/...: or :red[...]: directives. HTML needs
# nothing: Streamlit shows tags as text. Text is placed mid-line (after a label, or as a heading's words), where list
# and heading markers at a line's start do not apply.
_MARKDOWN = re.compile(r"[\\`*\[\]#|~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=[A-Za-z/])")


def plain(text: object) -> str:
    """Text from a run, an upload or a link, made inert inside Markdown: every mark that Markdown (or Streamlit's
    :material/...: and :color[...]: directives) could read is escaped, so it shows as typed."""
    # "www." starts a link on its own in GitHub's Markdown; a backslash before its dot stops that.
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), str(text)).replace("\n", " ").replace("www.", "www\\.")
