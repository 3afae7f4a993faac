"""The planners' web app: pages and widgets over the :mod:`scenarios` library."""
