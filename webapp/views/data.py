"""The Data tab: what was loaded (numbers, map, communities) and uploads of own data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from optimizer.errors import InputError
from scenarios.mapdata import community_names, data_layers, street_segments
from scenarios.uploads import NETWORK_SUFFIXES, TABLE_SUFFIXES, save_upload
from webapp import session
from webapp.i18n import group_name, number, people, tr
from webapp.maps import data_map, type_labels
from webapp.upload_folders import SessionFolder


@st.cache_data(max_entries=8, show_spinner=False)
def _streets(key: str, _spec, crs: str) -> pd.DataFrame:
    return street_segments(_spec, crs)


def show_problems(problems: list[str], lang: str) -> None:
    """Every input problem, one per line, as the CLI prints them."""
    st.error(tr("problems", lang, n=len(problems)) + "\n\n" + "\n".join(
        f"- error: {p}" for p in problems))


def render(lang: str) -> None:
    _uploads(lang)
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        show_problems(spec, lang)
        return
    instance = session.instance_or_problems(spec)
    if isinstance(instance, list):
        show_problems(instance, lang)
        return
    cols = st.columns(4)
    cols[0].metric(tr("demand_units", lang), number(instance.n_demand, lang))
    cols[1].metric(tr("residents", lang), people(float(instance.population[:, 0].sum()), lang)
                   if lang == "zh" else number(float(instance.population[:, 0].sum()), lang))
    cols[2].metric(tr("candidate_sites", lang), number(instance.n_sites, lang))
    cols[3].metric(tr("existing_facilities", lang), number(len(instance.existing_ids), lang))
    kind = ("walking" if spec.network is not None else "table_pairs"
            if spec.distances is not None else "euclidean")
    st.caption(f"{tr('distances', lang)}: {tr(kind, lang)} · CRS {instance.crs}")
    names = list(instance.type_names)
    labels = type_labels(names, lang, {t.name: t.label for t in spec.types})
    shown = st.segmented_control(tr("map_type", lang), names, default=names[0],
                                 format_func=labels.get, key="data_map_type") or names[0]
    from scenarios.store import content_key

    streets = _streets(content_key(spec), spec, instance.crs) if spec.network else None
    layers = data_layers(instance, type_index=names.index(shown),
                         labels=community_names(spec, lang=lang), streets=streets)
    if layers.aggregated:
        st.caption(tr("aggregated_note", lang, cell=f"{layers.cells['cell_m'].iloc[0]:.0f}"))
    event = st.plotly_chart(data_map(layers, type_names=names, labels=labels, lang=lang),
                            width="stretch", key="data_map", on_select="rerun",
                            selection_mode=("box", "lasso", "points"),
                            config={"displaylogo": False, "scrollZoom": True})
    picked = [p.get("customdata") for p in (event.selection.points if event else [])
              if isinstance(p.get("customdata"), str)]
    st.session_state.map_picked = picked
    if picked:
        st.info(f"{len(picked)} · " + ", ".join(picked[:20]) + (" …" if len(picked) > 20
                                                               else "") + " — "
                + tr("pick_hint", lang))
    _communities(instance, spec, lang)


def _communities(instance, spec, lang: str) -> None:
    attributes = instance.demand_attributes
    group = spec.policy.group_by or "community_id"
    if attributes is None or group not in attributes.columns:
        return
    st.subheader(tr("per_community", lang))
    frame = pd.DataFrame({group: attributes[group].astype(str).to_numpy()})
    for t, kind in enumerate(spec.types):
        column = group_name(kind.population, lang)
        if column not in frame.columns:
            frame[column] = instance.population[:, t]
    frame[tr("demand_units", lang)] = 1
    table = frame.groupby(group, sort=True).sum()
    names = community_names(spec, lang=lang)
    if names is not None:
        table.insert(0, tr("community", lang), table.index.map(names))
    st.dataframe(table, width="stretch", height=320,
                 column_config={c: st.column_config.NumberColumn(format="localized")
                                for c in table.columns
                                if pd.api.types.is_numeric_dtype(table[c])})


def _session_folder() -> Path:
    """This session's upload folder, removed when the session ends or the server exits
    (:mod:`webapp.upload_folders`)."""
    holder = st.session_state.get("upload_folder")
    if holder is None or not holder.path.exists():
        holder = SessionFolder()
        st.session_state.upload_folder = holder
        st.session_state.upload_dir = str(holder.path)
    return holder.path


def _uploads(lang: str) -> None:
    with st.expander(tr("upload", lang), expanded=False):
        st.caption(tr("upload_help", lang, mb=50))
        files = {
            "demand": st.file_uploader(tr("up_demand", lang), key="up_demand"),
            "sites": st.file_uploader(tr("up_sites", lang), key="up_sites"),
            "existing": st.file_uploader(tr("up_existing", lang), key="up_existing"),
            "network": st.file_uploader(tr("up_network", lang), key="up_network"),
        }
        crs = st.text_input(tr("up_crs", lang), value="EPSG:4326", key="up_crs")
        if not st.button(tr("up_use", lang), key="up_use",
                         disabled=files["demand"] is None or files["sites"] is None):
            return
        folder = _session_folder()
        problems: list[str] = []
        data = {k: v for k, v in session.draft().items()
                if k not in ("demand", "sites", "existing", "network", "distances",
                             "force_open", "exclude", "crs", "policy")}
        data["name"] = "uploaded"
        data.pop("description", None)
        for role, upload in files.items():
            if upload is None:
                continue
            allowed = NETWORK_SUFFIXES if role == "network" else TABLE_SUFFIXES
            try:
                path = save_upload(upload.name, upload.getvalue(), folder, role=role,
                                   allowed=allowed)
            except InputError as error:
                problems += [str(p) for p in error.problems]
                continue
            relative = path.relative_to(folder).as_posix()
            data[role] = {"path": relative} if role == "network" else relative
        if crs.strip():
            data["crs"] = crs.strip()
        if problems:
            show_problems(problems, lang)
            return
        import tomli_w

        (folder / "scenario.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
        st.session_state.upload_base = str(folder)
        session.set_draft(data, folder, source="__upload__")
        st.session_state.pending_choice = "__upload__"
        st.session_state.current_key = None
        st.rerun()
