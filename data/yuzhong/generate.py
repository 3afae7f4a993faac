"""Generate the SYNTHETIC Yuzhong-like sample city (Chongqing, 15-minute life circles).

Everything written here is invented by this script: a peninsula modelled on Chongqing's
Yuzhong district (between the Jialing to the north and the Yangtze to the south, meeting at
Chaotianmen), its hills, walking network, residents, idle sites and existing facilities.
It is NOT real data; see README.md beside this file for every assumption and source.

Run from any directory (rewrites every output byte-identically)::

    python data/yuzhong/generate.py

Needs numpy, scipy, pandas, pyproj and networkx.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

OUT = Path(__file__).resolve().parent
SEED = 20240615
CRS = "EPSG:32648"

# ---------------------------------------------------------------------------------------
# Geography: a local frame (u west->east along the peninsula, v across it, north positive),
# rotated by THETA and placed so that the eastern tip sits at Chaotianmen.
# ---------------------------------------------------------------------------------------
TIP_LONLAT = (106.5870, 29.5655)  # approximate Chaotianmen tip (WGS84)
L = 8000.0  # peninsula length, m
W0 = 3100.0  # width at the western (land) end, m
THETA = math.radians(10.0)  # the axis runs west-south-west -> east-north-east
JIALING_W = 450.0  # river widths, m (order of magnitude of the real rivers here)
YANGTZE_W = 800.0
TRUNK_OFFSET = 30.0  # riverside expressway: this far inland from the shore
GRID_MARGIN = 70.0  # street grid nodes keep this far from the shore

TO_UTM = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
_tip = TO_UTM.transform(*TIP_LONLAT)
X0 = round(_tip[0] - L * math.cos(THETA))
Y0 = round(_tip[1] - L * math.sin(THETA))


def to_xy(u, v):
    """Local (u, v) -> UTM 48N (x, y)."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    c, s = math.cos(THETA), math.sin(THETA)
    return X0 + u * c - v * s, Y0 + u * s + v * c


def to_uv(x, y):
    """UTM 48N (x, y) -> local (u, v)."""
    dx, dy = np.asarray(x, float) - X0, np.asarray(y, float) - Y0
    c, s = math.cos(THETA), math.sin(THETA)
    return dx * c + dy * s, -dx * s + dy * c


def _waves(rng, n, base_period):
    """A smooth 1-D noise function of s in [0, 1], roughly in [-1, 1]."""
    periods = base_period / (1.0 + np.arange(n))
    phases = rng.uniform(0, 2 * np.pi, n)
    amps = 1.0 / (1.0 + np.arange(n))
    amps = amps / amps.sum()

    def f(s):
        s = np.asarray(s, float)[..., None]
        return (amps * np.sin(2 * np.pi * s / periods + phases)).sum(-1)

    return f


geo_rng = np.random.default_rng(SEED)
_north_noise = _waves(geo_rng, 4, 0.9)
_south_noise = _waves(geo_rng, 4, 0.8)
_centre_noise = _waves(geo_rng, 2, 1.6)


def half_widths(u):
    """(north, south) half widths of the peninsula at u (0 at and beyond the tip)."""
    s = np.clip(np.asarray(u, float) / L, 0.0, 1.0)
    w = W0 * np.sqrt(np.clip(1.0 - s**3, 0.0, None))
    return 0.5 * w * (1 + 0.07 * _north_noise(s)), 0.5 * w * (1 + 0.07 * _south_noise(s))


def centre(u):
    s = np.clip(np.asarray(u, float) / L, 0.0, 1.0)
    return 160.0 * _centre_noise(s) * (1.0 - s)


def shore_v(u):
    """(north shore v, south shore v) at u."""
    hn, hs = half_widths(u)
    c = centre(u)
    return c + hn, c - hs


def shore_distance(u, v):
    """Approximate distance to the nearest shore (negative = in the river or off land)."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    vn, vs = shore_v(u)
    d = np.minimum(vn - v, v - vs)
    d = np.minimum(d, L - u)  # the tip
    return np.where(u < 0, -1.0, d)


def on_land(u, v, margin=0.0):
    return shore_distance(u, v) > margin


# Elevation: a central ridge (about 175 m at the rivers' normal pool level, up to ~390 m at
# the Eling / Futuguan hills), lower towards the tip, with gullies and small bumps.
RIVER_LEVEL = 175.0
_ridge_noise = _waves(geo_rng, 3, 1.2)
_bump_k = geo_rng.normal(0, 1, (4, 2)) * 2 * np.pi / geo_rng.uniform(500, 1400, (4, 1))
_bump_phase = geo_rng.uniform(0, 2 * np.pi, 4)
GULLIES = [  # (s, side +1 north / -1 south, depth m, half width m)
    (0.46, 1, 45.0, 140.0), (0.62, 1, 55.0, 150.0), (0.74, 1, 35.0, 120.0),
    (0.40, -1, 40.0, 130.0), (0.66, -1, 35.0, 120.0),
]


def ridge_line(u):
    hn, hs = half_widths(u)
    return centre(u) + 0.12 * (hn + hs) * _ridge_noise(np.asarray(u, float) / L)


def ridge_height(u):
    s = np.clip(np.asarray(u, float) / L, 0, 1)
    h = (150 + 60 * np.exp(-(((s - 0.36) / 0.07) ** 2)) + 45 * np.exp(-(((s - 0.27) / 0.05) ** 2))
         + 35 * np.exp(-(((s - 0.57) / 0.05) ** 2)) - 40 * s**2)
    return h * (0.35 + 0.65 * (1 - s**4))


def elevation(u, v):
    u, v = np.asarray(u, float), np.asarray(v, float)
    hn, hs = half_widths(u)
    sigma = 0.22 * (hn + hs) + 120.0
    r = ridge_line(u)
    z = RIVER_LEVEL + 8.0 + ridge_height(u) * np.exp(-(((v - r) / sigma) ** 2))
    for s0, side, depth, half in GULLIES:
        across = np.clip(side * (v - r) / (0.5 * (hn + hs) + 1e-9), 0, 1)
        z = z - depth * np.exp(-(((u - s0 * L) / half) ** 2)) * np.sin(np.pi * across) ** 0.7
    bumps = np.zeros_like(z)
    for (ku, kv), ph in zip(_bump_k, _bump_phase, strict=True):
        bumps += np.sin(ku * u + kv * v + ph)
    z = z + 5.0 * bumps
    return np.maximum(z, RIVER_LEVEL + 3.0)


def slope(u, v, h=10.0):
    dzu = (elevation(u + h, v) - elevation(u - h, v)) / (2 * h)
    dzv = (elevation(u, v + h) - elevation(u, v - h)) / (2 * h)
    return np.hypot(dzu, dzv)


# ---------------------------------------------------------------------------------------
# Administrative units: 11 streets (街道, real names, approximate relative positions) and
# 40 communities (社区, names invented from local place names).
# ---------------------------------------------------------------------------------------
STREETS = [  # name_zh, name_en, seed (s along the peninsula, t across: -1 south .. +1 north)
    ("化龙桥街道", "Hualongqiao", (0.06, 0.50)),
    ("大坪街道", "Daping", (0.08, -0.45)),
    ("石油路街道", "Shiyoulu", (0.22, -0.05)),
    ("上清寺街道", "Shangqingsi", (0.42, 0.55)),
    ("两路口街道", "Lianglukou", (0.44, -0.10)),
    ("菜园坝街道", "Caiyuanba", (0.47, -0.70)),
    ("大溪沟街道", "Daxigou", (0.60, 0.60)),
    ("七星岗街道", "Qixinggang", (0.64, -0.05)),
    ("南纪门街道", "Nanjimen", (0.74, -0.60)),
    ("解放碑街道", "Jiefangbei", (0.83, 0.15)),
    ("朝天门街道", "Chaotianmen", (0.94, 0.00)),
]
COMMUNITIES = {  # street_en -> [(name_zh, name_en)]; invented (plausible local place names)
    "Hualongqiao": [("化龙桥社区", "Hualongqiao"), ("李子坝社区", "Liziba"),
                    ("红岩村社区", "Hongyancun"), ("嘉西村社区", "Jiaxicun")],
    "Daping": [("大坪正街社区", "Daping Zhengjie"), ("马家堡社区", "Majiabu"),
               ("虎头岩社区", "Hutouyan"), ("大黄路社区", "Dahuanglu")],
    "Shiyoulu": [("石油路社区", "Shiyoulu"), ("渝州路社区", "Yuzhoulu"),
                 ("佛图关社区", "Futuguan")],
    "Shangqingsi": [("人民路社区", "Renminlu"), ("学田湾社区", "Xuetianwan"),
                    ("美专校街社区", "Meizhuan Xiaojie"), ("牛角沱社区", "Niujiaotuo")],
    "Lianglukou": [("中山三路社区", "Zhongshan Sanlu"), ("桂花园社区", "Guihuayuan"),
                   ("鹅岭社区", "Eling"), ("枇杷山社区", "Pipashan")],
    "Caiyuanba": [("石板坡社区", "Shibanpo"), ("菜园坝社区", "Caiyuanba"),
                  ("燕子岩社区", "Yanziyan")],
    "Daxigou": [("双钢路社区", "Shuanggang Lu"), ("黄花园社区", "Huanghuayuan"),
                ("人和街社区", "Renhejie")],
    "Qixinggang": [("通远门社区", "Tongyuanmen"), ("金汤街社区", "Jintangjie"),
                   ("领事巷社区", "Lingshixiang"), ("中山一路社区", "Zhongshan Yilu")],
    "Nanjimen": [("储奇门社区", "Chuqimen"), ("十八梯社区", "Shibati"),
                 ("凤凰台社区", "Fenghuangtai")],
    "Jiefangbei": [("较场口社区", "Jiaochangkou"), ("民生路社区", "Minshenglu"),
                   ("八一路社区", "Bayilu"), ("临江门社区", "Linjiangmen"),
                   ("五一路社区", "Wuyilu")],
    "Chaotianmen": [("朝东路社区", "Chaodonglu"), ("小什字社区", "Xiaoshizi"),
                    ("白象街社区", "Baixiangjie")],
}

# Hilltop and riverside parks (real names, approximate synthetic positions): no residents
# inside, footways and steps only. (s, t, radius m, name_zh, name_en)
BIG_PARKS = [
    (0.085, 0.05, 160, "虎头岩公园", "Hutouyan Park"),
    (0.21, 0.62, 130, "李子坝公园", "Liziba Park"),
    (0.285, 0.05, 200, "佛图关公园", "Futuguan Park"),
    (0.365, 0.10, 220, "鹅岭公园", "Eling Park"),
    (0.555, -0.72, 140, "珊瑚公园", "Shanhu Park"),
    (0.575, -0.15, 170, "枇杷山公园", "Pipashan Park"),
    (0.865, -0.10, 110, "人民公园", "Renmin Park"),
]
JIEFANGBEI = (0.84, 0.0, 230.0)  # pedestrian core (s, t, radius m)

TARGET_POP = 590_000  # Yuzhong had about 0.59 million residents (7th census, 2020)
SHARE_60 = 0.230  # Chongqing 21.87 % (7th census); central old district assumed older
SHARE_0_14 = 0.120  # Chongqing 15.91 % (7th census); central district assumed lower
SHARE_0_3 = 0.023  # under-3s: three birth cohorts at ~6-10 births per 1,000 (see README)


def st_to_uv(s, t):
    u = s * L
    hn, hs = half_widths(u)
    return u, centre(u) + (t * hn if t >= 0 else t * hs)


# ---------------------------------------------------------------------------------------
# Street network
# ---------------------------------------------------------------------------------------
class Network:
    def __init__(self):
        self.u: list[float] = []
        self.v: list[float] = []
        self.kind: list[str] = []  # grid, spur, trunk, far_bank
        self.links: list[dict] = []
        self.pairs: set[tuple[int, int]] = set()

    def add_node(self, u, v, kind):
        self.u.append(float(u))
        self.v.append(float(v))
        self.kind.append(kind)
        return len(self.u) - 1

    def add_link(self, a, b, **attrs):
        key = (min(a, b), max(a, b))
        if a == b or key in self.pairs:
            return False
        self.pairs.add(key)
        self.links.append({"a": a, "b": b, **attrs})
        return True

    def uv(self):
        return np.array(self.u), np.array(self.v)


def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _segments_cross(p1, p2, q1, q2):
    """Proper intersection of segment p1-p2 with each segment q1[k]-q2[k]."""
    def orient(a, b, c):
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (
            b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    p1b, p2b = np.broadcast_to(p1, q1.shape), np.broadcast_to(p2, q1.shape)
    d1, d2 = orient(q1, q2, p1b), orient(q1, q2, p2b)
    d3, d4 = orient(p1b, p2b, q1), orient(p1b, p2b, q2)
    return (d1 * d2 < 0) & (d3 * d4 < 0)


def build_grid(rng, net):
    """Perturbed, contour-following grid; returns {(k, j): node}."""
    cols = []
    u = 35.0
    while u < L - GRID_MARGIN:
        cols.append(u)
        u += 95.0 - 35.0 * (u / L)
    warp_k = rng.normal(0, 1, (3, 2)) * 2 * np.pi / rng.uniform(500, 1100, (3, 1))
    warp_p = rng.uniform(0, 2 * np.pi, (3, 2))
    index = {}
    for k, uk in enumerate(cols):
        dv = 82.0 - 24.0 * (uk / L)
        c = float(centre(uk))
        for j in range(-40, 41):
            u0, v0 = uk, c + j * dv
            wu = sum(14 * math.sin(kk[0] * u0 + kk[1] * v0 + p[0])
                     for kk, p in zip(warp_k, warp_p, strict=True))
            wv = sum(12 * math.sin(kk[1] * u0 - kk[0] * v0 + p[1])
                     for kk, p in zip(warp_k, warp_p, strict=True))
            uu = u0 + wu + rng.normal(0, 6)
            vv = v0 + wv + rng.normal(0, 6)
            if on_land(uu, vv, GRID_MARGIN) and uu > 20:
                index[(k, j)] = net.add_node(uu, vv, "grid")
    return index, len(cols)


def grid_links(rng, index, n_cols):
    """Candidate links with class hints: list of (a, b, kind, forced_highway, name)."""
    tertiary_cols = set(range(6, n_cols, 12))
    cand = []
    for (k, j), a in index.items():
        if (k + 1, j) in index:
            forced, name = None, None
            if j == 0:
                forced = "primary"
            elif j in (9, -10):
                forced = "secondary"
            elif j in (5, -5):
                forced = "tertiary"
            cand.append((a, index[(k + 1, j)], "h", forced, name))
        if (k, j + 1) in index:
            forced = "tertiary" if k in tertiary_cols else None
            cand.append((a, index[(k, j + 1)], "v", forced, None))
        if (k + 1, j + 1) in index and (k + 1, j) in index and (k, j + 1) in index:
            r = rng.random()
            if r < 0.035:
                cand.append((a, index[(k + 1, j + 1)], "d", None, None))
            elif r < 0.07:
                cand.append((index[(k, j + 1)], index[(k + 1, j)], "d", None, None))
    return cand


PRIMARY_NAMES = [(0.20, "长江二路"), (0.35, "长江一路"), (0.50, "中山三路"), (0.60, "中山二路"),
                 (0.72, "中山一路"), (0.86, "民族路"), (1.01, "新华路")]
NORTH_NAMES = [(0.30, "化龙桥正街"), (0.52, "人民路"), (0.70, "北区路"), (1.01, "沧白路")]
SOUTH_NAMES = [(0.30, "石油路"), (0.60, "南区路"), (0.80, "解放西路"), (1.01, "解放东路")]


def _road_name(table, s):
    for upper, name in table:
        if s < upper:
            return name
    return table[-1][1]


def select_links(rng, net, cand):
    """Spanning tree (connectivity) + random extra links; forced major roads kept."""
    n = len(net.u)
    parent = list(range(n))
    weights = []
    for _a, _b, kind, forced, _ in cand:
        if forced:
            weights.append(-1.0)
        elif kind == "h":
            weights.append(rng.uniform(0, 1))
        elif kind == "v":
            weights.append(rng.uniform(0.3, 1.3))
        else:
            weights.append(rng.uniform(0.5, 1.5))
    keep_prob = {"h": 0.80, "v": 0.55, "d": 0.5}
    extra = rng.random(len(cand))
    chosen = []
    for i in np.argsort(np.array(weights), kind="stable"):
        a, b, kind, forced, _ = cand[i]
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[ra] = rb
            chosen.append(i)
        elif forced or extra[i] < keep_prob[kind]:
            chosen.append(i)
    chosen.sort()
    u, v = net.uv()
    for i in chosen:
        a, b, kind, forced, _ = cand[i]
        s = 0.5 * (u[a] + u[b]) / L
        name = None
        if forced == "primary":
            name = _road_name(PRIMARY_NAMES, s)
        elif forced == "secondary":
            name = _road_name(NORTH_NAMES if v[a] > centre(u[a]) else SOUTH_NAMES, s)
        net.add_link(a, b, source=kind, forced=forced, name=name)


def add_spurs(rng, net, count):
    """Cul-de-sacs: short dead-end lanes that cross no other street."""
    added, tries = 0, 0
    grid_nodes = [i for i, k in enumerate(net.kind) if k == "grid"]
    while added < count and tries < count * 20:
        tries += 1
        u, v = net.uv()
        a = grid_nodes[rng.integers(len(grid_nodes))]
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(35, 85)
        nu, nv = u[a] + length * math.cos(ang), v[a] + length * math.sin(ang)
        if not on_land(nu, nv, 50.0) or nu < 20:
            continue
        tree = cKDTree(np.column_stack([u, v]))
        if tree.query_ball_point([nu, nv], 28.0):
            continue
        ea = np.array([lk["a"] for lk in net.links])
        eb = np.array([lk["b"] for lk in net.links])
        mid_u, mid_v = 0.5 * (u[ea] + u[eb]), 0.5 * (v[ea] + v[eb])
        near = np.nonzero(np.hypot(mid_u - nu, mid_v - nv) < 180)[0]
        near = near[(ea[near] != a) & (eb[near] != a)]
        p1, p2 = np.array([u[a], v[a]]), np.array([nu, nv])
        q1 = np.column_stack([u[ea[near]], v[ea[near]]])
        q2 = np.column_stack([u[eb[near]], v[eb[near]]])
        if len(near) and _segments_cross(p1, p2, q1, q2).any():
            continue
        b = net.add_node(nu, nv, "spur")
        net.add_link(a, b, source="spur", forced=None, name=None)
        added += 1
    return added


def add_trunks(rng, net):
    """Riverside expressways (嘉滨路 north, 长滨路 south): trunk, foot=no, with ramps."""
    chains = {}
    for side, name in ((1, "嘉滨路"), (-1, "长滨路")):
        nodes = []
        u = 60.0
        while u < L - 260:
            vn, vs = shore_v(u)
            v = float(vn - TRUNK_OFFSET if side > 0 else vs + TRUNK_OFFSET)
            nodes.append(net.add_node(u, v, "trunk"))
            u += 160.0
        for a, b in itertools.pairwise(nodes):
            net.add_link(a, b, source="trunk", forced="trunk", name=name, foot="no")
        chains[side] = nodes
    # around the tip (Chaotianmen interchange)
    tip_nodes = [net.add_node(L - 150, float(centre(L - 150)) + 40, "trunk"),
                 net.add_node(L - 130, float(centre(L - 130)) - 40, "trunk")]
    net.add_link(chains[1][-1], tip_nodes[0], source="trunk", forced="trunk", name="嘉滨路",
                 foot="no")
    net.add_link(tip_nodes[0], tip_nodes[1], source="trunk", forced="trunk", name="朝天门立交",
                 foot="no")
    net.add_link(tip_nodes[1], chains[-1][-1], source="trunk", forced="trunk", name="长滨路",
                 foot="no")
    # ramps to the street grid
    u, v = net.uv()
    grid = np.array([i for i, k in enumerate(net.kind) if k == "grid"])
    tree = cKDTree(np.column_stack([u[grid], v[grid]]))
    ramps = []
    for side in (1, -1):
        chain = chains[side]
        for pos in np.linspace(3, len(chain) - 4, 5).round().astype(int):
            t = chain[int(pos)]
            _, gi = tree.query([u[t], v[t]])
            g = int(grid[gi])
            net.add_link(t, g, source="ramp", forced="trunk", name="匝道", foot="no")
            ramps.append(t)
    return chains, ramps


TUNNELS = [(0.31, "石黄隧道"), (0.50, "向阳隧道"), (0.68, "八一隧道")]
BRIDGES = [(0.89, 1, "千厮门嘉陵江大桥"), (0.92, -1, "东水门长江大桥"),
           (0.52, -1, "菜园坝长江大桥")]


def add_tunnels_and_bridges(net, index):
    u, _ = net.uv()
    col_u = {}
    for (k, _j), node in index.items():
        col_u.setdefault(k, []).append(u[node])
    col_mean = {k: float(np.mean(x)) for k, x in col_u.items()}

    def column_at(s):
        return min(col_mean, key=lambda k: abs(col_mean[k] - s * L))

    for s, name in TUNNELS:
        k = column_at(s)
        rows = sorted(j for (kk, j) in index if kk == k)
        north = index[(k, min(7, rows[-1]))]
        south = index[(k, max(-7, rows[0]))]
        net.add_link(north, south, source="tunnel", forced="secondary", name=name, foot="no",
                     tunnel="yes")
    bridge_heads = []
    for s, side, name in BRIDGES:
        k = column_at(s)
        rows = sorted(j for (kk, j) in index if kk == k)
        head = index[(k, rows[-1] if side > 0 else rows[0])]
        uh = u[head]
        vn, vs = shore_v(uh)
        width = JIALING_W if side > 0 else YANGTZE_W
        vfar = float(vn + width + 80 if side > 0 else vs - width - 80)
        far = net.add_node(uh, vfar, "far_bank")
        net.add_link(head, far, source="bridge", forced="primary", name=name, bridge="yes")
        bridge_heads.append(head)
    return bridge_heads


def _zigzag(pa, pb, factor):
    """Switchback polyline from pa to pb whose length is factor x the chord."""
    d = float(np.hypot(*(pb - pa)))
    if factor <= 1.001 or d < 1:
        return None
    k = int(np.clip(round(4 * (factor - 1)) + 1, 1, 9))
    h = d / (k + 1)
    target = factor * d

    def length(a):
        if k == 1:
            return 2 * math.hypot(h, a)
        return 2 * math.hypot(h, a) + (k - 1) * math.hypot(h, 2 * a)

    lo, hi = 0.0, d * 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if length(mid) < target else (lo, mid)
    a = 0.5 * (lo + hi)
    direction = (pb - pa) / d
    normal = np.array([-direction[1], direction[0]])
    pts = [pa]
    for i in range(1, k + 1):
        pts.append(pa + (pb - pa) * i / (k + 1) + normal * a * (1 if i % 2 else -1))
    pts.append(pb)
    return np.array(pts)


GRADE_MAX = {"primary": 0.08, "secondary": 0.08, "tertiary": 0.10, "residential": 0.12,
             "living_street": 0.12, "pedestrian": 0.12, "footway": 0.15}


def classify(rng, net):
    """highway class, steps and switchbacks for every link; returns the link table."""
    u, v = net.uv()
    z = elevation(u, v)
    parks = [(*st_to_uv(s, t), r) for s, t, r, _, _ in BIG_PARKS]
    jfb = (*st_to_uv(JIEFANGBEI[0], JIEFANGBEI[1]), JIEFANGBEI[2])

    def inside(zone, a, b):
        zu, zv, r = zone
        return (math.hypot(u[a] - zu, v[a] - zv) < r) and (math.hypot(u[b] - zu, v[b] - zv) < r)

    rows = []
    for lk in net.links:
        a, b = lk["a"], lk["b"]
        pa, pb = np.array([u[a], v[a]]), np.array([u[b], v[b]])
        chord = float(np.hypot(*(pb - pa)))
        grade = abs(z[b] - z[a]) / max(chord, 1.0)
        forced, src = lk["forced"], lk["source"]
        east = 0.5 * (u[a] + u[b]) / L
        r = rng.random()
        if forced:
            hw = forced
        elif any(inside(p, a, b) for p in parks):
            hw = "footway"
        elif inside(jfb, a, b):
            hw = "pedestrian"
        elif src == "spur":
            hw = "residential" if r < 0.5 else ("living_street" if r < 0.7 else "footway")
        else:
            p_foot = 0.08 + 0.17 * east
            hw = ("footway" if r < p_foot else
                  "living_street" if r < p_foot + 0.08 else "residential")
        steps = False
        if not forced and hw in ("residential", "living_street", "footway", "pedestrian"):
            r2 = rng.random()
            if grade > 0.15:
                steps = r2 < (0.6 if src == "spur" else 0.85)
            elif grade > 0.09:
                steps = r2 < 0.3
        geometry, length = None, chord
        if steps:
            hw = "steps"
        elif src not in ("tunnel", "bridge", "trunk", "ramp"):
            factor = min(grade / GRADE_MAX[hw], 3.0) if grade > GRADE_MAX[hw] else 1.0
            poly = _zigzag(pa, pb, factor)
            if poly is not None:
                pu, pv = poly[:, 0], poly[:, 1]
                if bool(on_land(pu, pv, 20.0).all()):
                    geometry = poly
                    length = float(np.hypot(np.diff(pu), np.diff(pv)).sum())
        rows.append({**lk, "highway": hw, "chord": chord, "length": length,
                     "geometry": geometry})
    return rows, z


def build_network(rng):
    net = Network()
    index, n_cols = build_grid(rng, net)
    select_links(rng, net, grid_links(rng, index, n_cols))
    n_spurs = add_spurs(rng, net, 380)
    chains, ramps = add_trunks(rng, net)
    bridge_heads = add_tunnels_and_bridges(net, index)
    links, z = classify(rng, net)
    return net, links, z, {"spurs": n_spurs, "bridge_heads": bridge_heads, "ramps": ramps,
                           "trunk_chains": chains}


def _wkt(poly_uv):
    x, y = to_xy(poly_uv[:, 0], poly_uv[:, 1])
    return "LINESTRING (" + ", ".join(f"{a:.1f} {b:.1f}" for a, b in zip(x, y, strict=True)) + ")"


def write_graphml(net, links, z, path):
    u, v = net.uv()
    x, y = to_xy(u, v)
    G = nx.MultiDiGraph()
    G.graph["crs"] = CRS
    G.graph["name"] = "Yuzhong-like peninsula, SYNTHETIC walking network"
    G.graph["description"] = (
        "SYNTHETIC street network generated by data/yuzhong/generate.py; not real data. "
        "Edges in both directions; length = polyline length in metres (EPSG:32648). "
        "Walkers must not use highway=trunk or foot=no edges.")
    for i in range(len(u)):
        G.add_node(i, x=round(float(x[i]), 1), y=round(float(y[i]), 1),
                   elevation=round(float(z[i]), 1))
    for lk in links:
        a, b = lk["a"], lk["b"]
        attrs = {"length": round(lk["length"], 1), "highway": lk["highway"]}
        for key in ("name", "foot", "tunnel", "bridge"):
            if lk.get(key):
                attrs[key] = lk[key]
        grade = (z[b] - z[a]) / max(lk["length"], 1.0)
        G.add_edge(a, b, **attrs, grade=round(float(grade), 3),
                   **({"geometry": _wkt(lk["geometry"])} if lk["geometry"] is not None else {}))
        G.add_edge(b, a, **attrs, grade=round(float(-grade), 3),
                   **({"geometry": _wkt(lk["geometry"][::-1])}
                      if lk["geometry"] is not None else {}))
    nx.write_graphml(G, path)
    return G


# ---------------------------------------------------------------------------------------
# Residents on a 100 m grid
# ---------------------------------------------------------------------------------------
def _largest_remainder(values, total):
    values = np.asarray(values, float)
    scaled = values / values.sum() * total
    out = np.floor(scaled).astype(np.int64)
    rest = int(total - out.sum())
    order = np.lexsort((np.arange(len(values)), -(scaled - out)))
    out[order[:rest]] += 1
    return out


def build_demand(rng):
    bx, by = to_xy(np.array([0, 0, L, L]), np.array([-2000, 2000, -2000, 2000]))
    xs = np.arange(math.floor(bx.min() / 100) * 100 + 50, bx.max(), 100.0)
    ys = np.arange(math.floor(by.min() / 100) * 100 + 50, by.max(), 100.0)
    X, Y = np.meshgrid(xs, ys)
    X, Y = X.ravel(), Y.ravel()
    U, V = to_uv(X, Y)
    keep = on_land(U, V, 35.0) & (U > 30)
    X, Y, U, V = X[keep], Y[keep], U[keep], V[keep]
    order = np.lexsort((X, -Y))  # north to south, west to east
    X, Y, U, V = X[order], Y[order], U[order], V[order]
    s = U / L
    dens = 18_000 + 30_000 * s**1.6
    w = dens / (1 + (slope(U, V) / 0.35) ** 2)
    w = w * np.where(shore_distance(U, V) < 120, 0.5, 1.0)
    ju, jv = st_to_uv(JIEFANGBEI[0], JIEFANGBEI[1])
    w = w * np.where(np.hypot(U - ju, V - jv) < 300, 0.6, 1.0)
    w = w * np.where(s > 0.97, 0.5, 1.0)
    for ps, pt, r, _, _ in BIG_PARKS:
        pu, pv = st_to_uv(ps, pt)
        w = w * (np.hypot(U - pu, V - pv) > r + 30)
    w = w * rng.lognormal(0, 0.45, len(w)) * (rng.random(len(w)) > 0.05)
    pop = _largest_remainder(w, TARGET_POP)
    keep = pop > 0
    frame = pd.DataFrame({"x": X[keep], "y": Y[keep], "u": U[keep], "v": V[keep],
                          "pop_total": pop[keep]})
    return frame


def assign_admin(rng, frame):
    seeds = np.array([st_to_uv(s, t) for _, _, (s, t) in STREETS])
    pts = frame[["u", "v"]].to_numpy()
    street = np.argmin(((pts[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    community = np.full(len(frame), -1)
    comm_rows = []
    for si, (_, en, _) in enumerate(STREETS):
        members = np.nonzero(street == si)[0]
        names = COMMUNITIES[en]
        k = len(names)
        p = pts[members]
        centres = p[np.sort(rng.choice(len(p), k, replace=False))]
        for _ in range(40):
            lab = np.argmin(((p[:, None] - centres[None]) ** 2).sum(-1), axis=1)
            centres = np.array([p[lab == c].mean(0) if (lab == c).any() else centres[c]
                                for c in range(k)])
        # number the communities west to east within the street
        rank = np.argsort(np.argsort(centres[:, 0], kind="stable"), kind="stable")
        for c in range(k):
            comm_rows.append((si, int(rank[c]), c, names[c]))
        community[members] = len(comm_rows) - k + lab
    # stable ids: street order, then west to east
    ordered = sorted(range(len(comm_rows)), key=lambda i: (comm_rows[i][0], comm_rows[i][1]))
    new_id = {old: new for new, old in enumerate(ordered)}
    frame["community"] = [new_id[c] for c in community]
    frame["street"] = street
    comms = []
    for old in ordered:
        si, _, _, (zh, en) = comm_rows[old]
        comms.append({"community_id": f"C{len(comms) + 1:02d}", "name_zh": zh,
                      "name_en": f"{en} Community", "street_zh": STREETS[si][0],
                      "street_en": STREETS[si][1] + " Subdistrict", "street_index": si})
    return frame, comms


def add_ages(rng, frame, comms):
    n_c = len(comms)
    comm_60 = rng.lognormal(0, 0.12, n_c)
    comm_kid = rng.lognormal(0, 0.12, n_c)
    s = frame["u"].to_numpy() / L
    c = frame["community"].to_numpy()
    pop = frame["pop_total"].to_numpy()
    older = comm_60[c] * (1 + 0.20 * (s - 0.5)) * rng.uniform(0.85, 1.15, len(s))
    kids = comm_kid[c] * (1 - 0.25 * (s - 0.5)) * rng.uniform(0.85, 1.15, len(s))
    young = kids * rng.uniform(0.85, 1.15, len(s))
    frame["pop_60plus"] = _largest_remainder(pop * older, round(SHARE_60 * TARGET_POP))
    frame["pop_0_14"] = _largest_remainder(pop * kids, round(SHARE_0_14 * TARGET_POP))
    frame["pop_0_3"] = _largest_remainder(pop * young, round(SHARE_0_3 * TARGET_POP))
    # keep groups consistent with the cell's total
    frame["pop_0_3"] = np.minimum(frame["pop_0_3"], frame["pop_0_14"])
    over = frame["pop_60plus"] + frame["pop_0_14"] - frame["pop_total"]
    assert (over <= 0).all(), "age groups exceed a cell's population"
    return frame


# ---------------------------------------------------------------------------------------
# Candidate sites and existing facilities
# ---------------------------------------------------------------------------------------
KIND_ZH = {"idle_room": "闲置用房", "vacant_shop": "闲置商铺", "corner_plot": "边角地",
           "under_bridge": "桥下空间"}
SITE_COUNTS = {"idle_room": 210, "vacant_shop": 170, "corner_plot": 140, "under_bridge": 45}
AREA_MODEL = {  # lognormal median m², sigma, clip range
    "idle_room": (110, 0.6, 25, 600), "vacant_shop": (70, 0.6, 15, 400),
    "corner_plot": (700, 0.8, 120, 6000), "under_bridge": (1300, 0.6, 300, 8000),
}


def _walkable_nodes(net, links):
    ok = np.zeros(len(net.u), bool)
    for lk in links:
        if lk["highway"] != "trunk" and lk.get("foot") != "no":
            ok[lk["a"]] = ok[lk["b"]] = True
    return np.nonzero(ok)[0]


def place_sites(rng, net, links, frame, extra):
    u, v = net.uv()
    walk = _walkable_nodes(net, links)
    walk = walk[np.array([net.kind[i] != "far_bank" for i in walk])]
    wtree = cKDTree(np.column_stack([u[walk], v[walk]]))
    pts, kinds = [], []

    def accept(pu, pv, kind, margin=40.0):
        if not on_land(pu, pv, margin) or pu < 20:
            return False
        if pts and np.min(np.hypot(np.array(pts)[:, 0] - pu, np.array(pts)[:, 1] - pv)) < 15:
            return False
        pts.append((float(pu), float(pv)))
        kinds.append(kind)
        return True

    def near_street(pu, pv, max_d=35.0):
        d, i = wtree.query([pu, pv])
        nu, nv = u[walk[i]], v[walk[i]]
        if d <= max_d:
            return pu, pv
        f = max_d / d
        return nu + (pu - nu) * f, nv + (pv - nv) * f

    cu, cv, cp = frame["u"].to_numpy(), frame["v"].to_numpy(), frame["pop_total"].to_numpy()
    prob = cp**0.8 / (cp**0.8).sum()
    n = 0
    while n < SITE_COUNTS["idle_room"]:
        i = rng.choice(len(cu), p=prob)
        pu, pv = near_street(cu[i] + rng.uniform(-50, 50), cv[i] + rng.uniform(-50, 50))
        n += accept(pu, pv, "idle_room")
    shop_w = {"primary": 4, "secondary": 3, "tertiary": 2, "pedestrian": 5, "residential": 1,
              "living_street": 1}
    cand = [lk for lk in links if lk["highway"] in shop_w and lk.get("foot") != "no"
            and lk["source"] not in ("bridge", "tunnel")]
    w = np.array([shop_w[lk["highway"]] * (0.4 + (u[lk["a"]] / L) ** 1.5) for lk in cand])
    w = w / w.sum()
    n = 0
    while n < SITE_COUNTS["vacant_shop"]:
        lk = cand[rng.choice(len(cand), p=w)]
        a, b = lk["a"], lk["b"]
        t = rng.uniform(0.15, 0.85)
        du, dv = u[b] - u[a], v[b] - v[a]
        d = math.hypot(du, dv)
        off = rng.uniform(8, 15) * (1 if rng.random() < 0.5 else -1)
        n += accept(u[a] + t * du - dv / d * off, v[a] + t * dv + du / d * off, "vacant_shop")
    deg = np.zeros(len(u))
    for lk in links:
        deg[lk["a"]] += 1
        deg[lk["b"]] += 1
    nodes = walk[deg[walk] >= 2]
    nw = 1 + 3 * slope(u[nodes], v[nodes])
    nw = nw / nw.sum()
    n = 0
    while n < SITE_COUNTS["corner_plot"]:
        i = nodes[rng.choice(len(nodes), p=nw)]
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(10, 35)
        n += accept(u[i] + dist * math.cos(ang), v[i] + dist * math.sin(ang), "corner_plot")
    # under bridges: bridge heads, along the riverside viaducts, at ramps
    anchors = []
    for h in extra["bridge_heads"]:
        anchors += [h] * 3
    anchors += list(extra["ramps"])
    chain_nodes = extra["trunk_chains"][1] + extra["trunk_chains"][-1]
    n = 0
    for h in anchors:
        for _ in range(20):
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(15, 60)
            if accept(u[h] + dist * math.cos(ang), v[h] + dist * math.sin(ang),
                      "under_bridge", 15.0):
                n += 1
                break
    while n < SITE_COUNTS["under_bridge"]:
        h = chain_nodes[rng.integers(len(chain_nodes))]
        inland = -1 if v[h] > centre(u[h]) else 1
        pu, pv = u[h] + rng.uniform(-60, 60), v[h] + inland * rng.uniform(5, 25)
        if wtree.query([pu, pv])[0] <= 150:
            n += accept(pu, pv, "under_bridge", 15.0)
    P = np.array(pts)
    order = np.lexsort((P[:, 0], -P[:, 1]))  # ids from north-west to south-east
    return P[order], [kinds[i] for i in order]


def site_table(rng, P, kinds, frame, comms):
    x, y = to_xy(P[:, 0], P[:, 1])
    ctree = cKDTree(frame[["u", "v"]].to_numpy())
    _, ci = ctree.query(P)
    rows = []
    for i, kind in enumerate(kinds):
        med, sig, lo, hi = AREA_MODEL[kind]
        area = float(np.clip(round(rng.lognormal(math.log(med), sig)), lo, hi))
        park = canteen = childcare = seats = places = kitchen = None
        if kind in ("corner_plot", "under_bridge") and area >= 400:
            park = round(area * rng.uniform(300, 570), -2)
        if kind in ("idle_room", "vacant_shop") and area >= 20:
            jitter = rng.uniform(0.9, 1.15)
            if area >= 60:
                kitchen = 1
                canteen = float(np.clip(round((60_000 + 250 * (area - 60)) * jitter, -2),
                                        60_000, 100_000))
            else:
                kitchen = 0
                canteen = float(np.clip(round((20_000 + 250 * (area - 20)) * jitter, -2),
                                        20_000, 40_000))
            seats = int(np.clip(round(area / 2.5), 10, 80))
        if kind in ("idle_room", "vacant_shop") and area >= 80:
            places = int(np.clip(area // 8, 10, 40))
            childcare = round(places * rng.uniform(12_000, 20_000), -3)
        rows.append({
            "id": f"S{i + 1:04d}", "x": round(float(x[i]), 1), "y": round(float(y[i]), 1),
            "kind": kind, "kind_zh": KIND_ZH[kind], "area_m2": int(area),
            "community_id": comms[int(frame["community"].iloc[ci[i]])]["community_id"],
            "cost_park": park, "cost_canteen": canteen, "cost_childcare": childcare,
            "seats_canteen": seats, "places_childcare": places, "kitchen": kitchen,
        })
    return pd.DataFrame(rows)


POCKET_PARKS = [  # invented names at invented places (s, t)
    (0.03, 0.30, "化龙桥口袋公园", "Hualongqiao Pocket Park"),
    (0.12, -0.70, "大坪口袋公园", "Daping Pocket Park"),
    (0.17, 0.20, "红岩村口袋公园", "Hongyancun Pocket Park"),
    (0.25, -0.50, "渝州路口袋公园", "Yuzhoulu Pocket Park"),
    (0.33, 0.70, "牛角沱口袋公园", "Niujiaotuo Pocket Park"),
    (0.40, -0.45, "桂花园口袋公园", "Guihuayuan Pocket Park"),
    (0.46, 0.35, "学田湾口袋公园", "Xuetianwan Pocket Park"),
    (0.51, -0.35, "燕子岩口袋公园", "Yanziyan Pocket Park"),
    (0.61, 0.40, "双钢路口袋公园", "Shuanggang Lu Pocket Park"),
    (0.66, 0.80, "黄花园口袋公园", "Huanghuayuan Pocket Park"),
    (0.69, -0.35, "金汤街口袋公园", "Jintangjie Pocket Park"),
    (0.76, -0.80, "十八梯口袋公园", "Shibati Pocket Park"),
    (0.80, 0.55, "临江门口袋公园", "Linjiangmen Pocket Park"),
    (0.90, -0.55, "白象街口袋公园", "Baixiangjie Pocket Park"),
    (0.955, 0.30, "朝东路口袋公园", "Chaodonglu Pocket Park"),
]


def existing_table(rng, net, links, frame, comms):
    u, v = net.uv()
    walk = _walkable_nodes(net, links)
    walk = walk[np.array([net.kind[i] != "far_bank" for i in walk])]
    wtree = cKDTree(np.column_stack([u[walk], v[walk]]))
    ctree = cKDTree(frame[["u", "v"]].to_numpy())
    rows = []

    def add(kind, prefix, n, pu, pv, zh, en, capacity=None):
        """zh/en starting with '+' are suffixes to the name of the community it lies in."""
        _, ci = ctree.query([pu, pv])
        comm = comms[int(frame["community"].iloc[ci])]
        if zh.startswith("+"):
            zh = comm["name_zh"] + zh[1:]
            en = comm["name_en"].replace(" Community", "") + en[1:]
        x, y = to_xy(pu, pv)
        rows.append({"id": f"{prefix}{n:02d}", "x": round(float(x), 1),
                     "y": round(float(y), 1), "type": kind, "name": zh, "name_en": en,
                     "community_id": comm["community_id"], "capacity": capacity})

    parks = [(s, t, zh, en) for s, t, _, zh, en in BIG_PARKS] + POCKET_PARKS
    for n, (s, t, zh, en) in enumerate(parks, 1):
        add("park", "EP", n, *st_to_uv(s, t), zh, en)
    # canteens and childcare rooms at populous cells of distinct communities
    pop_by_comm = frame.groupby("community")["pop_60plus"].sum()
    picks = pop_by_comm.sort_values(ascending=False, kind="stable").index.to_numpy()
    chosen = np.sort(rng.choice(picks[:30], 15, replace=False))
    for n, c in enumerate(chosen, 1):
        cells = frame[frame["community"] == c]
        cell = cells.iloc[int(np.argmax(cells["pop_60plus"].to_numpy()))]
        _, i = wtree.query([cell["u"], cell["v"]])
        node = walk[i]
        add("canteen", "EC", n, u[node] + rng.uniform(-15, 15), v[node] + rng.uniform(-15, 15),
            "+老年食堂", "+ Elderly Canteen",
            int(rng.integers(3, 9) * 10))
    kid_by_comm = frame.groupby("community")["pop_0_3"].sum()
    picks = kid_by_comm.sort_values(ascending=False, kind="stable").index.to_numpy()
    chosen = np.sort(rng.choice(picks[:20], 7, replace=False))
    for n, c in enumerate(chosen, 1):
        cells = frame[frame["community"] == c]
        cell = cells.iloc[int(np.argmax(cells["pop_0_3"].to_numpy()))]
        _, i = wtree.query([cell["u"] + 40, cell["v"]])
        node = walk[i]
        add("childcare", "EN", n, u[node] + rng.uniform(-15, 15),
            v[node] + rng.uniform(-15, 15), "+托育点", "+ Childcare Room",
            int(rng.integers(2, 5) * 10))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Map layers and scenarios
# ---------------------------------------------------------------------------------------
def _ring(us, vs):
    lon, lat = TO_LONLAT.transform(*to_xy(us, vs))
    ring = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    area = sum(p[0] * q[1] - q[0] * p[1] for p, q in itertools.pairwise(ring))
    return ring if area > 0 else ring[::-1]  # counter-clockwise exterior (RFC 7946)


def write_boundary(path):
    us = np.concatenate([np.linspace(0, L * 0.9, 90), L - (L * 0.1) * np.linspace(1, 0, 40)[1:]])
    vn, vs = shore_v(us)
    land = _ring(np.concatenate([us, us[::-1]]), np.concatenate([vn, vs[::-1]]))
    ju = np.linspace(-400, L, 100)
    jn, _ = shore_v(np.clip(ju, 0, L))
    jialing = _ring(np.concatenate([ju, ju[::-1]]), np.concatenate([jn + JIALING_W, jn[::-1]]))
    yu = np.linspace(-400, L, 100)
    _, ys_ = shore_v(np.clip(yu, 0, L))
    tip_v = float(centre(L))
    # below the confluence the Yangtze carries both rivers' width and turns slightly north
    east_u = np.array([L, L + 700, L + 1500, L + 1500, L + 700])
    east_v = np.array([tip_v + JIALING_W, tip_v + JIALING_W + 120, tip_v + JIALING_W + 300,
                       tip_v - YANGTZE_W + 150, tip_v - YANGTZE_W - 40])
    yangtze = _ring(np.concatenate([yu, east_u, yu[::-1]]),
                    np.concatenate([ys_, east_v, ys_[::-1] - YANGTZE_W]))
    props = [
        ("Yuzhong peninsula (SYNTHETIC)", "渝中半岛（合成）", "land", land),
        ("Jialing River (SYNTHETIC)", "嘉陵江（合成）", "river", jialing),
        ("Yangtze River (SYNTHETIC)", "长江（合成）", "river", yangtze),
    ]
    features = [{"type": "Feature",
                 "properties": {"name": en, "name_zh": zh, "kind": kind, "synthetic": True},
                 "geometry": {"type": "Polygon", "coordinates": [ring]}}
                for en, zh, kind, ring in props]
    text = json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")


SCENARIO_HEAD = '''# SYNTHETIC data: a Yuzhong-like sample city, not real data.
# Written by data/yuzhong/generate.py; edit the generator, not this file.
name = "{name}"
description = "{description}"
budget = {budget}
demand = "demand.csv"
sites = "sites.csv"
existing = "existing.csv"
crs = "EPSG:32648"
'''
NETWORK_LINE = 'network = { path = "streets.graphml", max_snap_m = 300 }\n'
TYPES = '''
[types.park]
label = "口袋公园 pocket park"
population = "pop_total"
radius_m = {r_park}
cost = "cost_park"
weight = 1.0{park_share}

[types.canteen]
label = "老年食堂 elderly canteen / meal point"
population = "pop_60plus"
radius_m = {r_canteen}
cost = "cost_canteen"
weight = {w_canteen}

[types.childcare]
label = "托育点 childcare room (ages 0-3)"
population = "pop_0_3"
radius_m = {r_childcare}
cost = "cost_childcare"
weight = 2.0

[solver]
time_limit_s = 60
'''
SCENARIOS = [  # stem, description, budget, network, radii (park, canteen, childcare), w_canteen,
    # optional cap on the parks' budget share
    ("yuzhong-baseline", "Baseline: 30 M CNY, walking distances on the street network; parks "
     "300 m, canteens 500 m, childcare 300 m", 30_000_000, True, (300, 500, 300), 1.5),
    ("yuzhong-budget-15m", "Baseline with half the budget (15 M CNY)", 15_000_000, True,
     (300, 500, 300), 1.5),
    ("yuzhong-budget-60m", "Baseline with twice the budget (60 M CNY)", 60_000_000, True,
     (300, 500, 300), 1.5),
    ("yuzhong-circles-5-10-15", "Each type at its widest documented life circle (GB 50180-2018 "
     "5/10/15-minute walks of 300/500/1000 m): childcare 300 m, parks 500 m, canteens 1000 m",
     30_000_000, True, (500, 1000, 300), 1.5),
    ("yuzhong-elderly-first", "Baseline with canteen weight 3 (elderly first)", 30_000_000,
     True, (300, 500, 300), 3.0),
    ("yuzhong-euclidean", "Baseline without the street network: straight-line distances "
     "(runs with the current engine)", 30_000_000, False, (300, 500, 300), 1.5),
    ("yuzhong-balanced", "Baseline with parks capped at 60 % of the budget, so that money "
     "is left for childcare rooms", 30_000_000, True, (300, 500, 300), 1.5, 0.6),
]


def write_scenarios():
    for stem, description, budget, network, (rp, rc, rk), wc, *cap in SCENARIOS:
        text = SCENARIO_HEAD.format(name=stem, description="SYNTHETIC Yuzhong-like city. "
                                    + description, budget=budget)
        if network:
            text += NETWORK_LINE
        share = f"\nmax_budget_share = {cap[0]}" if cap else ""
        text += TYPES.format(
            r_park=rp, r_canteen=rc, r_childcare=rk, w_canteen=wc, park_share=share
        )
        (OUT / f"{stem}.toml").write_text(text, encoding="utf-8")



POLICY_SCENARIOS = {
    "yuzhong-capacity": (
        "Capacity-aware: a canteen serves its seats x 2 sittings, a childcare room its "
        "places; the objective counts people actually served",
        30_000_000, 'capacity = "seats_canteen"\ncapacity_factor = 2',
        'capacity = "places_childcare"', "", ""),
    "yuzhong-equity-floors": (
        "Equity floors: every community gets at least 40 % park coverage and 80 % canteen "
        "coverage of its residents aged 60+ (soft: 5 per person short)",
        30_000_000, "", "", "",
        '[policy]\ngroup_by = "community_id"\nfloor_mode = "soft"\nfloor_penalty = 5\n'
        "floors = { park = 0.4, canteen = 0.8 }\n"),
    "yuzhong-maxmin": (
        "Max-min: first raise the worst-covered community's park and canteen coverage as "
        "far as the budget allows, then maximise coverage keeping that floor",
        30_000_000, "", "", "",
        '[policy]\ngroup_by = "community_id"\nmaxmin = ["park", "canteen"]\n'),
    "yuzhong-phasing": (
        "Multi-year phasing: 15 M CNY released in 2026 and 15 M in 2027; conversions "
        "persist and coverage counts in both years, so the best sites go first",
        None, "", "", "",
        '[policy]\nphasing = { years = ["2026", "2027"], budgets = [15000000, 15000000], '
        'objective = "accumulated" }\n'),
    "yuzhong-complete-circle": (
        "Complete life circle: a bonus of 1 per resident with a park, a canteen and a "
        "childcare room all within reach",
        30_000_000, "", "", "",
        '[policy]\ncomplete_circle = { types = ["park", "canteen", "childcare"], weight = 1.0, '
        'population = "pop_total" }\n'),
    "yuzhong-distance-decay": (
        "Distance decay: full credit within the radius, half credit for parks up to 500 m "
        "and canteens up to 800 m",
        30_000_000, "", "", "bands = [[500, 0.5]]", ""),
    "yuzhong-least-cost": (
        "Least cost: the cheapest plan covering 40 % of residents with a park, 95 % of "
        "residents aged 60+ with a canteen and 30 % of children under 3 with childcare",
        None, "", "", "",
        '[policy]\nobjective = "min_cost"\ntargets = { park = 0.4, canteen = 0.95, '
        "childcare = 0.3 }\n"),
    "yuzhong-street-budgets": (
        "Budgets by subdistrict: 2.5 M CNY for each of the 11 subdistricts (27.5 M in all)",
        30_000_000, "", "", "",
        '[policy]\narea_budgets = { column = "street_en", budgets = { ' + ", ".join(
            f'"{name[1]} Subdistrict" = 2500000' for name in STREETS) + " } }\n"),
}


def write_policy_scenarios():
    for stem, (description, budget, canteen, childcare, park, policy) in (
            POLICY_SCENARIOS.items()):
        head = SCENARIO_HEAD.format(name=stem, description="SYNTHETIC Yuzhong-like city. "
                                    + description, budget=budget or 0) + NETWORK_LINE
        if budget is None:
            head = "\n".join(line for line in head.splitlines() if not line.startswith(
                "budget")) + "\n"
        types = TYPES.format(r_park=300, r_canteen=500, r_childcare=300, w_canteen=1.5,
                             park_share="")
        types = types.replace('cost = "cost_canteen"', 'cost = "cost_canteen"\n' + canteen
                              if canteen else 'cost = "cost_canteen"')
        types = types.replace('cost = "cost_childcare"', 'cost = "cost_childcare"\n'
                              + childcare if childcare else 'cost = "cost_childcare"')
        if park:
            types = types.replace('cost = "cost_park"', 'cost = "cost_park"\n' + park)
            types = types.replace('cost = "cost_canteen"', 'cost = "cost_canteen"\n'
                                  "bands = [[800, 0.5]]")
        text = head + types + ("\n" + policy if policy else "")
        (OUT / f"{stem}.toml").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Checks and the main entry point
# ---------------------------------------------------------------------------------------
def check_network(net, links, frame, sites, existing):
    u, v = net.uv()
    x, y = to_xy(u, v)
    n = len(u)
    assert all(on_land(u[i], v[i], 10.0) for i in range(n) if net.kind[i] != "far_bank")
    for lk in links:
        if lk["source"] == "bridge":
            continue
        if lk["geometry"] is not None:
            pu, pv = lk["geometry"][:, 0], lk["geometry"][:, 1]
        else:
            t = np.linspace(0, 1, 12)
            pu = u[lk["a"]] + t * (u[lk["b"]] - u[lk["a"]])
            pv = v[lk["a"]] + t * (v[lk["b"]] - v[lk["a"]])
        assert on_land(pu, pv, 5.0).all(), f"edge {lk['a']}-{lk['b']} leaves the land"
    walk = [lk for lk in links if lk["highway"] != "trunk" and lk.get("foot") != "no"]
    a = np.array([lk["a"] for lk in walk])
    b = np.array([lk["b"] for lk in walk])
    w = np.array([lk["length"] for lk in walk])
    M = coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    nodes = np.unique(np.r_[a, b])
    _, labels = connected_components(M, directed=False)
    comps = np.unique(labels[nodes])
    assert len(comps) == 1, f"walking network has {len(comps)} components"
    tree = cKDTree(np.column_stack([x[nodes], y[nodes]]))
    snap = {
        "demand": tree.query(frame[["x", "y"]].to_numpy())[0],
        "sites": tree.query(sites[["x", "y"]].to_numpy())[0],
        "existing": tree.query(existing[["x", "y"]].to_numpy())[0],
    }
    for what, d in snap.items():
        assert d.max() <= 300, f"{what} further than 300 m from the walking network"
    # detour index (network / straight line) on a sample of node pairs
    rng = np.random.default_rng(1)
    src = rng.choice(nodes, 40, replace=False)
    dist = dijkstra(M, indices=src)
    ratios = []
    for r, s in enumerate(src):
        d = np.hypot(x[nodes] - x[s], y[nodes] - y[s])
        ok = (d > 250) & (d < 1000) & np.isfinite(dist[r, nodes])
        ratios.append(dist[r, nodes][ok] / d[ok])
    ratios = np.concatenate(ratios)
    return {k: float(np.max(d)) for k, d in snap.items()}, float(np.median(ratios)), len(nodes)


def main():
    rng = np.random.default_rng(SEED)
    net, links, z, extra = build_network(rng)
    frame = build_demand(rng)
    frame, comms = assign_admin(rng, frame)
    frame = add_ages(rng, frame, comms)
    P, kinds = place_sites(rng, net, links, frame, extra)
    sites = site_table(rng, P, kinds, frame, comms)
    existing = existing_table(rng, net, links, frame, comms)

    frame["id"] = [f"D{i + 1:04d}" for i in range(len(frame))]
    frame["community_id"] = [comms[c]["community_id"] for c in frame["community"]]
    frame["street_en"] = [comms[c]["street_en"] for c in frame["community"]]
    demand = frame[["id", "x", "y", "community_id", "street_en", "pop_total", "pop_60plus",
                    "pop_0_14", "pop_0_3"]]
    snap, detour, n_walk = check_network(net, links, demand, sites, existing)

    ctab = pd.DataFrame(comms)
    grouped = frame.groupby("community")
    for col in ("pop_total", "pop_60plus", "pop_0_14", "pop_0_3"):
        ctab[col] = grouped[col].sum().reindex(range(len(comms))).to_numpy()
    ctab["units"] = grouped.size().reindex(range(len(comms))).to_numpy()
    ctab = ctab.rename(columns={"pop_total": "population"})
    ctab = ctab[["community_id", "name_zh", "name_en", "street_zh", "street_en", "population",
                 "pop_60plus", "pop_0_14", "pop_0_3", "units"]]

    street_of = {c["community_id"]: c["street_en"] for c in comms}
    sites.insert(int(sites.columns.get_loc("community_id")) + 1, "street_en",
                 sites["community_id"].map(street_of))
    csv = {"index": False, "lineterminator": "\n", "encoding": "utf-8"}
    ctab.to_csv(OUT / "communities.csv", **csv)
    demand.to_csv(OUT / "demand.csv", float_format="%.1f", **csv)
    sites = sites.astype({c: "Int64" for c in ("cost_park", "cost_canteen", "cost_childcare",
                                                  "seats_canteen", "places_childcare",
                                                  "kitchen")})
    sites.to_csv(OUT / "sites.csv", float_format="%.1f", **csv)
    existing = existing.astype({"capacity": "Int64"})
    existing.to_csv(OUT / "existing.csv", float_format="%.1f", **csv)
    G = write_graphml(net, links, z, OUT / "streets.graphml")
    write_boundary(OUT / "boundary.geojson")
    write_scenarios()
    write_policy_scenarios()

    hw = pd.Series([lk["highway"] for lk in links]).value_counts()
    deg = pd.Series([lk["a"] for lk in links] + [lk["b"] for lk in links]).value_counts()
    print(f"nodes {G.number_of_nodes()} (walkable {n_walk}), directed edges "
          f"{G.number_of_edges()}, links {len(links)}, dead ends {(deg == 1).sum()}, "
          f"spurs {extra['spurs']}, switchback links "
          f"{sum(lk['geometry'] is not None for lk in links)}")
    print("links by highway:", hw.to_dict())
    print(f"walking km {sum(lk['length'] for lk in links if lk['highway'] != 'trunk') / 1000:.1f}"
          f", median detour index {detour:.2f}, max snap m {snap}")
    print(f"units {len(demand)}, population {demand['pop_total'].sum()}, 60+ "
          f"{demand['pop_60plus'].sum()}, 0-14 {demand['pop_0_14'].sum()}, 0-3 "
          f"{demand['pop_0_3'].sum()}")
    print(f"communities {len(ctab)} (population {ctab['population'].min()}-"
          f"{ctab['population'].max()}), streets {ctab['street_en'].nunique()}")
    print("sites by kind:", sites["kind"].value_counts().to_dict(),
          "usable park/canteen/childcare:",
          [int(sites[c].notna().sum()) for c in ("cost_park", "cost_canteen", "cost_childcare")])
    print("existing by type:", existing["type"].value_counts().to_dict())


if __name__ == "__main__":
    main()
