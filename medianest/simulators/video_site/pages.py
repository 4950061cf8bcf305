"""The video site's HTML: the index, playlist and video pages (one ``<video>`` per entry, which
yt-dlp's ``html5`` extractor reads), the page without video and the 404 page."""

from __future__ import annotations

from html import escape

from medianest.simulators.video_site.catalogue import PLAYLIST, Entry, Page

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top}"
          "figcaption{font-size:.9rem;color:#555}code{background:#eee;padding:0 .2rem}")


def _document(title: str, body: str, description: str | None = None) -> str:
    meta = f'<meta property="og:description" content="{escape(description)}">' if description else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{meta}'
            f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _video(entry: Entry) -> str:
    note = " (its video is missing: 404)" if entry.missing else ""
    return (f'<figure id="{escape(entry.id)}">'
            f'<video controls preload="none" width="320" height="180" poster="{entry.thumbnail_path}">'
            f'<source src="{entry.media_path}" type="video/mp4"></video>'
            f"<figcaption>{entry.index}. {escape(entry.title)}{note}</figcaption></figure>")


def page_html(page: Page) -> str:
    """A playlist or single-video page: ``<title>``, ``og:description`` and one ``<video>`` per entry."""
    videos = "\n".join(_video(e) for e in page.entries)
    return _document(page.title, f'<h1>{escape(page.title)}</h1>\n<p>{escape(page.description)}</p>\n'
                                 f'{videos}\n<p><a href="/">All playlists</a></p>', page.description)


def index_html(pages: list[Page], base_url: str) -> str:
    """The home page: links to every page (it holds no video itself)."""
    def item(page: Page) -> str:
        count = f"{len(page.entries)} video{'s' if len(page.entries) != 1 else ''}"
        return (f'<li><a href="{page.path}">{escape(page.title)}</a> ({count}) '
                f"<code>{escape(base_url)}{page.path}</code></li>")

    playlists = "".join(item(p) for p in pages if p.kind == PLAYLIST)
    videos = "".join(item(p) for p in pages if p.kind != PLAYLIST)
    body = (
        "<h1>MediaNest demo video site</h1>\n"
        "<p>A stand-in for a video site when YouTube cannot be reached: paste a playlist address "
        "into MediaNest's Downloads page.</p>\n"
        f"<h2>Playlists</h2><ul>{playlists}</ul>\n<h2>Single videos</h2><ul>{videos}</ul>\n"
        '<p>Also: <a href="/about">a page without video</a> (“Unsupported URL”), '
        '<a href="/missing">a missing page</a> (404).</p>'
    )
    return _document("MediaNest demo video site", body)


def about_html() -> str:
    """A page without any video: yt-dlp answers "Unsupported URL"."""
    return _document("About this site", "<h1>About this site</h1>\n<p>This page has no video on it.</p>\n"
                                        '<p><a href="/">All playlists</a></p>')


def not_found_html(path: str) -> str:
    """The 404 page."""
    return _document("Not found", f"<h1>Not found</h1>\n<p>Nothing at <code>{escape(path)}</code>.</p>\n"
                                  '<p><a href="/">All playlists</a></p>')
