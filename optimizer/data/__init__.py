"""Data layer: the instance, its readers, coordinate systems, walking networks, coverage pairs.

Nothing here knows about models or search. Modules: :mod:`~optimizer.data.instance`
(validated arrays), :mod:`~optimizer.data.io` (tables with collected errors),
:mod:`~optimizer.data.mclp_formats` (published benchmark formats),
:mod:`~optimizer.data.projection` (CRS), :mod:`~optimizer.data.network` (walking
distances), :mod:`~optimizer.data.coverage` (who can reach what).
"""
