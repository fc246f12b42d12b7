"""The Qt layer: thin widgets over the Qt-free core. Only this package (and app.py) imports Qt."""
