"""Perocube Desktop: operator application for the PeroCube perovskite ageing lab.

Only ``perocube_desktop.ui`` and ``perocube_desktop.app`` import Qt; everything else
is plain Python and is tested without a GUI.
"""

__version__ = "0.1.0"
