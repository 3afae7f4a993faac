"""The siting instance: validated numpy arrays, no file or CRS concerns.

A :class:`SitingInstance` is what every model, heuristic and solver consumes. Coordinates
are already in a metric CRS (metres); blank costs are ``NaN`` and mean "this site cannot
take this type".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer.model.policy import Policy

ANY_TYPE = -1
"""Marker in :attr:`SitingInstance.forced_type`: the site must open, as any type."""


@dataclass(frozen=True)
class FacilityType:
    """A facility type (pocket park, canteen, childcare room, ...).

    Parameters
    ----------
    name
        Identifier used in scenario files and results.
    radius_m
        Walking service radius in metres; coverage is inclusive (``d <= radius_m``).
    weight
        Policy weight of one covered person of the target group.
    population
        Name of the target-group population column (for reports).
    max_sites
        Optional cap on the number of new sites of this type.
    max_budget_share
        Optional cap on this type's share of the budget (0..1).
    bands
        Distance decay: extra ``(radius_m, credit)`` bands beyond ``radius_m`` (credit 1),
        with radii increasing and credits decreasing in (0, 1). A unit whose nearest
        facility of this type lies in a band earns that band's share of its weight, as in
        graded coverage: full credit within 300 m, half within 500 m.
    """

    def band_radii(self) -> np.ndarray:
        return np.array([self.radius_m] + [r for r, _ in self.bands], dtype=float)

    def band_credits(self) -> np.ndarray:
        return np.array([1.0] + [c for _, c in self.bands], dtype=float)

    name: str
    radius_m: float
    weight: float = 1.0
    population: str = "population"
    max_sites: int | None = None
    max_budget_share: float | None = None
    bands: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, eq=False)
class DistancePairs:
    """Supplied distances (for example walking distances): pairs not listed are out of reach.

    ``target_index`` numbers candidate sites ``0..n_sites-1`` and existing facilities
    ``n_sites..n_sites+n_existing-1``.
    """

    demand_index: np.ndarray
    target_index: np.ndarray
    distance_m: np.ndarray


@dataclass(frozen=True, eq=False)
class SitingInstance:
    """All inputs of the budgeted multi-type maximal covering model.

    Parameters
    ----------
    types
        The facility types, in column order of ``population`` and ``site_cost``.
    demand_ids, demand_xy, population
        Demand units: ids ``(n,)``, metric coordinates ``(n, 2)``, and the population of
        each type's target group ``(n, T)``.
    site_ids, site_xy, site_cost
        Candidate sites: ids ``(m,)``, coordinates ``(m, 2)``, conversion cost per type
        ``(m, T)`` with ``NaN`` where the site cannot take the type.
    budget
        Total budget for conversions.
    existing_ids, existing_xy, existing_type
        Existing facilities: ids, coordinates and type index.
    forced_sites, forced_type
        Site indices that must open, and the type index each must take (``ANY_TYPE``: any).
    excluded
        Boolean mask ``(m,)`` of sites that must stay closed.
    distances
        Optional supplied distance pairs replacing Euclidean distance.
    crs
        The metric CRS the coordinates are in (for maps and reports).
    demand_attributes, site_attributes
        Other columns of the input tables (community, kind, area...), one row per unit or
        site, carried through to the results.
    policy
        Optional policy switches (:class:`~optimizer.policy.Policy`); plain model if off.
    notes
        What the loader did that a reader of the results should know (CRS chosen,
        conversions, sites made ineligible by rules).
    """

    types: tuple[FacilityType, ...]
    demand_ids: np.ndarray
    demand_xy: np.ndarray
    population: np.ndarray
    site_ids: np.ndarray
    site_xy: np.ndarray
    site_cost: np.ndarray
    budget: float
    existing_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    existing_xy: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    existing_type: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    forced_sites: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    forced_type: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    excluded: np.ndarray | None = None
    distances: DistancePairs | None = None
    crs: str | None = None
    demand_attributes: pd.DataFrame | None = None
    site_attributes: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)

    def __post_init__(self) -> None:
        n, m, t = len(self.demand_ids), len(self.site_ids), len(self.types)
        if self.population.shape != (n, t):
            raise ValueError(f"population must have shape {(n, t)}, got {self.population.shape}")
        if self.site_cost.shape != (m, t):
            raise ValueError(f"site_cost must have shape {(m, t)}, got {self.site_cost.shape}")
        if self.demand_xy.shape != (n, 2) or self.site_xy.shape != (m, 2):
            raise ValueError("demand_xy and site_xy must have shape (n, 2)")
        if len(self.existing_xy) != len(self.existing_type):
            raise ValueError("existing_xy and existing_type differ in length")
        if len(self.forced_sites) != len(self.forced_type):
            raise ValueError("forced_sites and forced_type differ in length")
        if self.excluded is None:
            object.__setattr__(self, "excluded", np.zeros(m, dtype=bool))

    @property
    def n_demand(self) -> int:
        return len(self.demand_ids)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @property
    def n_types(self) -> int:
        return len(self.types)

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def radii(self) -> np.ndarray:
        """Core service radius per type (full credit)."""
        return np.array([t.radius_m for t in self.types], dtype=float)

    @property
    def reach_radii(self) -> np.ndarray:
        """Outermost radius per type (the last decay band, or the radius)."""
        return np.array([t.band_radii().max() for t in self.types], dtype=float)

    @property
    def weights(self) -> np.ndarray:
        return np.array([t.weight for t in self.types], dtype=float)
