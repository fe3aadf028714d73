"""A scrollable view of one Rich renderable whose updates never lay out the whole screen.

A `Static` asks for a layout of the screen whenever its content changes (its height may have
changed), and measuring a Rich table for that layout renders it once more. For a view that
changes with every batch of step events (the selected order's Detail) that was most of what a
batch cost the dashboard. This view renders its content once per change (or width), keeps the
lines, and tells only its scrollbar how many there are.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Set a Line API view's scrollable size without a layout of the screen, as Textual does itself
    when only the content changed: the scrollbar follows, nothing else moves. (A scrollbar that
    appears or goes still lays out, through its own reactive.)"""
    if view.virtual_size != size:
        view.set_reactive(ScrollView.virtual_size, size)
        view._scroll_update(size)
        view.refresh()


class RichView(ScrollView):
    DEFAULT_CSS = """
    RichView { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, renderable: RenderableType = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._renderable = renderable
        self._lines: list[Strip] = []
        self._rendered_for: tuple[int, Style] | None = None  # (width, base style) of `_lines`

    @property
    def renderable(self) -> RenderableType:
        return self._renderable

    def update(self, renderable: RenderableType) -> None:
        self._renderable = renderable
        self._rendered_for = None
        self._render_content()
        self.refresh()

    def on_resize(self, _: events.Resize) -> None:
        self._render_content()

    def on_show(self, _: events.Show) -> None:
        self._render_content()

    def _render_content(self) -> None:
        """Render the lines for the current width, unless they are rendered already (or hidden)."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        if width <= 0 or not self.is_mounted or self._rendered_for == (width, base):
            return
        console = self.app.console
        options = self.app.console_options.update(highlight=False, width=width, height=None)
        renderable = Text(self._renderable) if isinstance(self._renderable, str) else self._renderable
        lines = console.render_lines(renderable, options, style=base, pad=True)
        self._lines = [Strip(line, width) for line in lines]
        self._rendered_for = (width, base)
        set_virtual_size(self, Size(width, len(self._lines)))

    def render_line(self, y: int) -> Strip:
        self._render_content()  # the base style changed (focus, theme) since the lines were rendered
        index = self.scroll_offset.y + y
        if index < len(self._lines):
            return self._lines[index]
        return Strip([Segment(" " * self.size.width, self.rich_style)], self.size.width)
