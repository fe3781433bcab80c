"""Organising from the keyboard: the view (filter, sort, group) of the grid and
setting typed properties on the selection."""

from planche.tui.organise.view import View, ViewScreen

__all__ = ["View", "ViewScreen"]
